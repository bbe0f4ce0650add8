import { execFile } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { detectCgroupVersion } from '@strata/cgroups';
import { createBridgeNetwork } from '@strata/container-network';
import { createRuntime } from '@strata/container-runtime';
import {
  createContainerManager,
  createContainersService,
  createVolumesService,
  createCachedImageSource,
  createGrpcImageSource,
  createGrpcImageTagger,
  monitorPlacer,
  nodeStatusJson,
  type ContainerManager,
} from '@strata/containers-service';
import { createGrpcStore } from '@strata/content-grpc';
import { createGrpcDiffer } from '@strata/diff-service';
import { createImageIndexRevision } from '@strata/images-nats';
import type { DockerApiServer } from '@strata/docker-api';
import { createClient, createServer, type RpcClient } from '@strata/grpc-kit';
import { discardEvents, failedPrecondition, type EventSink, type Logger } from '@strata/kit';
import { grantableNofileLimit } from '@strata/runtime-spec';
import { createGrpcSnapshotter } from '@strata/snapshots-grpc';
import type { NodeAgentConfig } from './config.js';
import { startHeartbeat, type Heartbeat } from './heartbeat.js';
import { startNodeLiveness, type NodeLiveness } from './node-liveness.js';
import { createPlacementService } from '@strata/placement-service';

/** Why Placement fails on an agent without NATS. */
const NO_FLEET = 'placement needs the nodes\' heartbeats in NATS, and this node-agent runs without --nats-url';

/** Version of the node-agent reported in heartbeats. */
export const NODE_AGENT_VERSION = '0.1.0';

/** A running node-agent. */
export interface RunningNodeAgent {
  /** The unix socket it serves gRPC Containers (and health) on. */
  socket: string;
  /** The TCP port it serves on with mutual TLS, when config.tcp is set (the chosen one for port 0). */
  tcpPort?: number;
  /** The unix socket of its Docker Engine API endpoint; undefined when config.dockerSocket is empty. */
  dockerSocket?: string;
  /** The containers it manages (for in-process tests and tools). */
  manager: ContainerManager;
  /** Writes a heartbeat now; resolves at once without NATS. */
  heartbeat(): Promise<void>;
  /**
   * Stops serving (calls in flight get up to graceMs), stops heartbeats and
   * watching, closes clients and the event sink. Containers keep running;
   * a new agent on the same state finds them. Idempotent.
   */
  stop(graceMs?: number): Promise<void>;
}

type ClosableSink = EventSink & { close(): Promise<void> };

async function openEvents(config: NodeAgentConfig, logger: Logger): Promise<ClosableSink> {
  if (config.natsUrl === '') return { ...discardEvents, close: async () => undefined };
  const { createNatsEventSink } = await import('@strata/events-nats');
  return createNatsEventSink({ servers: config.natsUrl, source: `strata/node-agent/${config.node}`, logger: logger.child({ component: 'events' }) });
}

async function runtimeVersion(): Promise<string> {
  try {
    const { stdout } = await promisify(execFile)('runc', ['--version']);
    const version = /runc version (\S+)/.exec(stdout)?.[1];
    return version === undefined ? 'runc' : `runc ${version}`;
  } catch {
    return 'runc';
  }
}

/**
 * Starts the node-agent: opens its state under config.root (0700), the
 * clients of the snapshotter (Snapshots, Diff), the registry-mirror
 * (Images) and the layer-store (Content, Leases: for commits), the runtime (runc under strata-monitor), the bridge network and
 * the event sink (source `strata/node-agent/<node>`); recovers the
 * containers a previous agent left (running ones watched again, exits that
 * happened meanwhile published once); serves gRPC Containers, Placement
 * (over the fleet's heartbeats; FailedPrecondition without NATS) and health on
 * config.socket (0600) and, with config.tcp, on TCP with mutual TLS only;
 * unless config.dockerSocket is empty, serves the Docker Engine API on it
 * (0660), translated onto its own Containers service and the mirror's Images;
 * writes heartbeats (with the advertised address and labels) to the
 * `strata_nodes` KV bucket and watches every node's, publishing `node.down`
 * and `node.up` (see startNodeLiveness).
 * The snapshotter and the mirror are reached on first use. Raises
 * FailedPrecondition when the socket is served by another process;
 * whatever was opened is closed again then.
 */
export async function startNodeAgent(config: NodeAgentConfig, logger: Logger): Promise<RunningNodeAgent> {
  await mkdir(config.root, { recursive: true, mode: 0o700 });
  const events = await openEvents(config, logger);
  const snapshotter = createGrpcSnapshotter({ unixSocket: config.snapshotterSocket }, { logger });
  const differ = createGrpcDiffer({ unixSocket: config.snapshotterSocket }, { logger });
  const mirror = createClient({ unixSocket: config.mirrorSocket });
  const layerStore = createGrpcStore({ unixSocket: config.layerStoreSocket }, { logger });
  // Images resolved through the mirror are kept while the image index does not change (see createCachedImageSource).
  const indexRevision = config.natsUrl === '' ? undefined : createImageIndexRevision({ servers: config.natsUrl, logger });
  const imageSource =
    indexRevision === undefined ? createGrpcImageSource(mirror) : createCachedImageSource(createGrpcImageSource(mirror), { revision: () => indexRevision.current() });
  const closeClients = async () => {
    await indexRevision?.close();
    differ.close();
    mirror.close();
    await layerStore.close();
    await snapshotter.close();
    await events.close();
  };
  let manager: ContainerManager;
  let heartbeat: Heartbeat | undefined;
  let liveness: NodeLiveness | undefined;
  let tcpPort: number | undefined;
  let docker: DockerApiServer | undefined;
  let selfClient: RpcClient | undefined;
  const server = { current: undefined as ReturnType<typeof createServer> | undefined };
  try {
    const [nofileLimit, cgroupVersion, runtimeName] = await Promise.all([grantableNofileLimit(), detectCgroupVersion(), runtimeVersion()]);
    const network = createBridgeNetwork({
      stateDir: join(config.root, 'network'),
      logger,
      bridge: config.bridge,
      subnet: config.subnet,
      chainPrefix: config.chainPrefix,
      netnsPrefix: config.netnsPrefix,
    });
    manager = createContainerManager({
      dir: config.root,
      node: config.node,
      images: imageSource,
      unpacker: differ,
      snapshotter,
      runtime: createRuntime({
        stateRoot: join(config.root, 'runtime'),
        ...(config.runcRoot === undefined ? {} : { runcRoot: config.runcRoot }),
        placeMonitor: monitorPlacer(config.cgroupParent, logger),
        logger,
      }),
      network,
      events,
      logger,
      cgroupParent: config.cgroupParent,
      defaultPidsLimit: config.defaultPidsLimit,
      logMaxBytes: config.logMaxBytes,
      logMaxFiles: config.logMaxFiles,
      networkSpares: config.networkSpares,
      nofileLimit,
      userNamespaceRange: config.userNamespaceRange,
      commit: { content: layerStore, leases: layerStore.leases, differ, tagger: createGrpcImageTagger(mirror) },
    });
    await manager.recover();
    server.current = createServer({
      logger,
      services: [
        createContainersService(manager, { logger: logger.child({ service: 'containers' }) }),
        createVolumesService(manager.volumes, { logger: logger.child({ service: 'volumes' }) }),
        ...createPlacementService({
          // The fleet's heartbeats as the liveness watch reads them (started below, with NATS).
          directory: {
            list: () => liveness?.directory.list() ?? Promise.reject(failedPrecondition(NO_FLEET)),
            get: (name) => liveness?.directory.get(name) ?? Promise.reject(failedPrecondition(NO_FLEET)),
          },
          events,
          logger: logger.child({ service: 'placement' }),
        }).registrations,
      ],
      unixSocket: config.socket,
      ...(config.tcp === undefined ? {} : { tcp: config.tcp }),
    });
    tcpPort = (await server.current.start()).tcpPort;
    if (config.dockerSocket !== '') {
      const { dockerRoutes, startDockerApiServer } = await import('@strata/docker-api');
      const dockerLogger = logger.child({ component: 'docker-api' });
      selfClient = createClient({ unixSocket: config.socket });
      const routes = dockerRoutes({
        containers: selfClient,
        images: mirror,
        natsUrl: config.natsUrl,
        node: config.node,
        logger: dockerLogger,
        version: NODE_AGENT_VERSION,
        cgroupVersion,
        rootDir: config.root,
        bridge: { device: network.config.bridge, subnet: network.config.subnet, gateway: network.config.gateway },
      });
      docker = await startDockerApiServer({ socketPath: config.dockerSocket, routes, logger: dockerLogger, serverName: `Strata/${NODE_AGENT_VERSION}` });
    }
    if (config.natsUrl !== '') {
      const m = manager;
      heartbeat = startHeartbeat({
        natsUrl: config.natsUrl,
        node: config.node,
        intervalSeconds: config.heartbeatSeconds,
        logger,
        status: () =>
          nodeStatusJson(
            {
              name: config.node,
              address: config.advertiseAddress,
              labels: config.labels,
              cgroupVersion,
              runtime: runtimeName,
              version: NODE_AGENT_VERSION,
              heartbeatIntervalSeconds: config.heartbeatSeconds,
            },
            m.summary(),
          ),
      });
      liveness = startNodeLiveness({ natsUrl: config.natsUrl, events, logger });
    }
  } catch (err) {
    await liveness?.stop();
    await heartbeat?.stop();
    await docker?.close();
    selfClient?.close();
    await server.current?.shutdown(0);
    await closeClients();
    throw err;
  }
  logger.info({ socket: config.socket, node: config.node }, 'node-agent started');
  let stopped: Promise<void> | undefined;
  const m = manager;
  return {
    socket: config.socket,
    ...(tcpPort === undefined ? {} : { tcpPort }),
    ...(docker === undefined ? {} : { dockerSocket: docker.socketPath }),
    manager: m,
    heartbeat: () => heartbeat?.beat() ?? Promise.resolve(),
    stop(graceMs = 10_000) {
      stopped ??= (async () => {
        await liveness?.stop();
        await heartbeat?.stop();
        await docker?.close();
        selfClient?.close();
        await server.current?.shutdown(graceMs);
        await m.close();
        await closeClients();
      })();
      return stopped;
    },
  };
}
