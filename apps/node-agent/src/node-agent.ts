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
  createGrpcImageSource,
  createGrpcImageTagger,
  monitorPlacer,
  nodeStatusJson,
  type ContainerManager,
} from '@strata/containers-service';
import { createGrpcStore } from '@strata/content-grpc';
import { createGrpcDiffer } from '@strata/diff-service';
import { createClient, createServer } from '@strata/grpc-kit';
import { discardEvents, type EventSink, type Logger } from '@strata/kit';
import { grantableNofileLimit } from '@strata/runtime-spec';
import { createGrpcSnapshotter } from '@strata/snapshots-grpc';
import type { NodeAgentConfig } from './config.js';
import { startHeartbeat, type Heartbeat } from './heartbeat.js';

/** Version of the node-agent reported in heartbeats. */
export const NODE_AGENT_VERSION = '0.1.0';

/** A running node-agent. */
export interface RunningNodeAgent {
  /** The unix socket it serves gRPC Containers (and health) on. */
  socket: string;
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
 * happened meanwhile published once); serves gRPC Containers and health on
 * config.socket (0600); writes heartbeats to the `strata_nodes` KV bucket.
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
  const closeClients = async () => {
    differ.close();
    mirror.close();
    await layerStore.close();
    await snapshotter.close();
    await events.close();
  };
  let manager: ContainerManager;
  let heartbeat: Heartbeat | undefined;
  const server = { current: undefined as ReturnType<typeof createServer> | undefined };
  try {
    const [nofileLimit, cgroupVersion, runtimeName] = await Promise.all([grantableNofileLimit(), detectCgroupVersion(), runtimeVersion()]);
    manager = createContainerManager({
      dir: config.root,
      node: config.node,
      images: createGrpcImageSource(mirror),
      unpacker: differ,
      snapshotter,
      runtime: createRuntime({
        stateRoot: join(config.root, 'runtime'),
        ...(config.runcRoot === undefined ? {} : { runcRoot: config.runcRoot }),
        placeMonitor: monitorPlacer(config.cgroupParent, logger),
        logger,
      }),
      network: createBridgeNetwork({
        stateDir: join(config.root, 'network'),
        logger,
        bridge: config.bridge,
        subnet: config.subnet,
        chainPrefix: config.chainPrefix,
        netnsPrefix: config.netnsPrefix,
      }),
      events,
      logger,
      cgroupParent: config.cgroupParent,
      defaultPidsLimit: config.defaultPidsLimit,
      logMaxBytes: config.logMaxBytes,
      logMaxFiles: config.logMaxFiles,
      nofileLimit,
      userNamespaceRange: config.userNamespaceRange,
      commit: { content: layerStore, leases: layerStore.leases, differ, tagger: createGrpcImageTagger(mirror) },
    });
    await manager.recover();
    server.current = createServer({ logger, services: [createContainersService(manager, { logger: logger.child({ service: 'containers' }) })], unixSocket: config.socket });
    await server.current.start();
    if (config.natsUrl !== '') {
      const m = manager;
      heartbeat = startHeartbeat({
        natsUrl: config.natsUrl,
        node: config.node,
        intervalSeconds: config.heartbeatSeconds,
        logger,
        status: () =>
          nodeStatusJson(
            { name: config.node, cgroupVersion, runtime: runtimeName, version: NODE_AGENT_VERSION, heartbeatIntervalSeconds: config.heartbeatSeconds },
            m.summary(),
          ),
      });
    }
  } catch (err) {
    await server.current?.shutdown(0);
    await closeClients();
    throw err;
  }
  logger.info({ socket: config.socket, node: config.node }, 'node-agent started');
  let stopped: Promise<void> | undefined;
  const m = manager;
  return {
    socket: config.socket,
    manager: m,
    heartbeat: () => heartbeat?.beat() ?? Promise.resolve(),
    stop(graceMs = 10_000) {
      stopped ??= (async () => {
        await heartbeat?.stop();
        await server.current?.shutdown(graceMs);
        await m.close();
        await closeClients();
      })();
      return stopped;
    },
  };
}
