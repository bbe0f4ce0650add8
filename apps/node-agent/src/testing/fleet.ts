import { execFile } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { mkdir, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { testCgroupParent, type TestCgroupParent } from '@strata/cgroups/testing';
import { uniqueNetworkNames, type UniqueNetworkNames } from '@strata/container-network/testing';
import { deleteRuncContainers, ensureMonitorBuilt } from '@strata/container-runtime/testing';
import { startNatsServer, type TestNatsServer } from '@strata/events-nats/testing';
import { createFleetCa } from '@strata/fleet-ca';
import { processHealthy } from '@strata/grpc-kit/testing';
import { busyboxImage, pushImage, startDistributionRegistry, type BuiltImage, type TestDistributionRegistry } from '@strata/image-fixtures';
import { createCleanup, freePort, startProcess, tempDir, type TestProcess } from '@strata/kit/testing';
import { unmountBelow } from '@strata/snapshots-local/testing';

const run = promisify(execFile);
const bin = (app: string) => fileURLToPath(new URL(`../../../${app}/bin/${app}.mjs`, import.meta.url));

/** The port every host's node-agent serves mutual TLS on, at the host's address. */
export const FLEET_AGENT_PORT = 7443;

/** Settings of {@link startFleet}. */
export interface FleetOptions {
  /** Number of hosts, 1 to 20. */
  hosts: number;
  /** Seconds between heartbeats of every agent; 5 (the default of the node-agent) by default. */
  heartbeatSeconds?: number;
  /** Extra node-agent flags of every host. */
  agentFlags?: string[];
  /** Extra node-agent flags of host i (after agentFlags), e.g. `['--label', 'zone=b']`. Every host has the label `host=<i>`. */
  hostAgentFlags?: (i: number) => string[];
}

/** The client TLS files `strata ca issue client` wrote for the fleet's CA. */
export interface FleetClientTls {
  cert: string;
  key: string;
  ca: string;
}

/** One host of a {@link Fleet}: a network namespace with its own snapshotter and node-agent. */
export interface FleetHost {
  /** Node name, `host-<i>`. */
  readonly name: string;
  /** Its IPv4 address on the fleet bridge. */
  readonly ip: string;
  /** `<ip>:7443`, where its agent serves mutual TLS and what it heartbeats. */
  readonly address: string;
  /** Its node-agent's unix socket (reachable from every network namespace). */
  readonly socket: string;
  /** Its run dir (node-agent.sock, snapshotter.sock, and links to the shared registry-mirror.sock and layer-store.sock). */
  readonly runDir: string;
  readonly stateDir: string;
  readonly network: UniqueNetworkNames;
  readonly cgroupParent: string;
  /** The node-agent's current pid. */
  agentPid(): number;
  /** Stops the node-agent with SIGTERM (containers keep running). */
  stop(): Promise<void>;
  /** Kills the node-agent with SIGKILL (containers keep running). */
  kill(): Promise<void>;
  /** Starts the node-agent again (after stop or kill) and waits until it is healthy. */
  restart(): Promise<void>;
}

/**
 * Several hosts on this machine: NATS (on the fleet bridge's gateway
 * address), a layer-store and a registry-mirror shared by all (in the root
 * network namespace; their unix sockets are reachable from every
 * namespace), an upstream distribution registry behind the mirror, and per
 * host a network namespace with a veth on the fleet bridge, its own
 * snapshotter and node-agent (TCP with mutual TLS at its address, with a
 * node certificate of a CA made for the fleet), state, cgroup parent,
 * container bridge, subnet, iptables chains and netns prefix.
 */
export interface Fleet {
  readonly dir: string;
  readonly nats: TestNatsServer;
  /** The shared run dir: layer-store.sock, registry-mirror.sock. */
  readonly sharedRunDir: string;
  /** The registry-mirror's HTTP base. */
  readonly mirrorUrl: string;
  /** The upstream registry behind the mirror (host `upstream.test`); count its requests with requestLog(). */
  readonly upstream: TestDistributionRegistry;
  /** The upstream's domain as the mirror knows it: `upstream.test`. */
  readonly upstreamDomain: string;
  /** busybox pushed to the mirror as `<mirror host>/local/busybox:test`. */
  readonly image: string;
  readonly busybox: BuiltImage;
  /** Client certificate, key and CA for the CLI (STRATA_TLS_CERT/KEY/CA). */
  readonly clientTls: FleetClientTls;
  /** The fleet CA's directory (STRATA_CA_DIR). */
  readonly caDir: string;
  readonly hosts: readonly FleetHost[];
  host(i: number): FleetHost;
  /**
   * Removes everything: every process (agents, snapshotters, services,
   * NATS, registry), the containers' processes and cgroups, runc state,
   * mounts under the fleet dir, every container and host network namespace
   * (their veths, bridges and iptables rules go with them), the fleet
   * bridge, and the directory. Keeps going when a step fails and reports
   * all failures at the end. Idempotent.
   */
  stop(): Promise<void>;
}

interface HostState {
  host: FleetHost;
  netns: string;
  veth: string;
  cgroup: TestCgroupParent;
  runcRoot: string;
  snapshotter?: TestProcess;
  agent?: TestProcess;
}

async function sh(command: string, args: readonly string[]): Promise<string> {
  try {
    return (await run(command, args)).stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${command} ${args.join(' ')} failed: ${e.stderr?.trim() || e.message}`, { cause: err });
  }
}

/**
 * Starts a {@link Fleet} of options.hosts hosts. Needs root, runc, ip,
 * nsenter, openssl, nats-server and docker-registry. Processes inside a
 * host run under `nsenter --net` (only the network namespace: mounts and
 * cgroups stay the host's, as on a real machine whose network is its own).
 * Call stop() in afterAll, also when a test failed; a failed start cleans
 * up before it raises.
 */
export async function startFleet(options: FleetOptions): Promise<Fleet> {
  if (!Number.isSafeInteger(options.hosts) || options.hosts < 1 || options.hosts > 20) throw new Error('startFleet: hosts must be 1 to 20');
  const scratch = tempDir('strata-fleet-');
  const dir = scratch.path;
  const tag = randomBytes(3).toString('hex');
  const bridge = `sfb${tag}`;
  const prefix = `10.${randomInt(250, 255)}.${randomInt(0, 256)}`;
  const gateway = `${prefix}.1`;
  const sharedRunDir = join(dir, 'shared', 'run');
  const sharedStateDir = join(dir, 'shared', 'state');
  const heartbeatSeconds = options.heartbeatSeconds ?? 5;
  const processes: TestProcess[] = [];
  const states: HostState[] = [];
  let nats: TestNatsServer | undefined;
  let upstream: TestDistributionRegistry | undefined;
  let bridgeMade = false;
  let stopped: Promise<void> | undefined;

  async function cleanUp(): Promise<void> {
    const { attempt, done } = createCleanup('fleet');
    for (const s of states) {
      if (s.agent) await attempt(() => s.agent!.stop('SIGKILL'));
      if (s.snapshotter) await attempt(() => s.snapshotter!.stop('SIGTERM', 5000));
    }
    for (const s of states) {
      // Kills every container and monitor (they live in the host's cgroup parent) and removes the cgroups.
      await attempt(() => s.cgroup.remove());
      await attempt(() => deleteRuncContainers(s.runcRoot));
    }
    await attempt(() => unmountBelow(dir));
    await attempt(async () => {
      const names = (await sh('ip', ['netns', 'list'])).split('\n').map((l) => l.split(' ')[0] ?? '');
      const ours = states.flatMap((s) => [s.netns, ...names.filter((n) => n !== '' && n.startsWith(s.host.network.netnsPrefix))]);
      // Container namespaces first, the hosts' last: a host's namespace takes its bridge, veths and iptables rules along.
      for (const name of [...new Set(ours)].reverse()) if (names.includes(name)) await sh('ip', ['netns', 'del', name]);
    });
    for (const s of states) {
      // Normally gone with its peer's namespace (the kernel removes it shortly after).
      await attempt(() => sh('ip', ['link', 'del', s.veth]).catch((err: Error) => {
        if (!/Cannot find device/.test(err.message)) throw err;
      }));
    }
    if (bridgeMade) await attempt(() => sh('ip', ['link', 'del', bridge]));
    for (const p of [...processes].reverse()) await attempt(() => p.stop('SIGTERM', 10_000));
    await attempt(async () => upstream?.stop());
    await attempt(async () => nats?.stop());
    scratch.remove();
    done();
  }

  const fleet = {
    dir,
    sharedRunDir,
    upstreamDomain: 'upstream.test',
    caDir: join(dir, 'ca'),
    hosts: [] as FleetHost[],
    host(i: number) {
      const h = fleet.hosts[i];
      if (h === undefined) throw new Error(`the fleet has no host ${i}`);
      return h;
    },
    stop() {
      stopped ??= cleanUp();
      return stopped;
    },
  } as unknown as Fleet & { hosts: FleetHost[] };

  try {
    await ensureMonitorBuilt();
    await sh('ip', ['link', 'add', bridge, 'type', 'bridge']);
    bridgeMade = true;
    await sh('ip', ['addr', 'add', `${gateway}/24`, 'dev', bridge]);
    await sh('ip', ['link', 'set', bridge, 'up']);
    nats = await startNatsServer({ host: gateway });
    upstream = await startDistributionRegistry();

    const ca = createFleetCa({ dir: fleet.caDir });
    await ca.init({ name: `strata test fleet ${tag}` });
    const client = await ca.issue({ kind: 'client', name: 'test-client' });
    const clientTls = { cert: client.files.cert, key: client.files.key, ca: client.files.ca };

    const mirrorPort = await freePort();
    const common = ['--state-dir', sharedStateDir, '--run-dir', sharedRunDir, '--nats-url', nats.url];
    const layerStore = startProcess(process.execPath, [bin('layer-store'), ...common]);
    processes.push(layerStore);
    const mirror = startProcess(process.execPath, [
      bin('registry-mirror'),
      ...common,
      ...['--listen', `127.0.0.1:${mirrorPort}`, '--upstream', `upstream.test=${upstream.url}`],
    ]);
    processes.push(mirror);
    const [busybox] = await Promise.all([
      busyboxImage(),
      processHealthy(layerStore, join(sharedRunDir, 'layer-store.sock'), 'layer-store'),
      processHealthy(mirror, join(sharedRunDir, 'registry-mirror.sock'), 'registry-mirror'),
    ]);
    const mirrorUrl = `http://127.0.0.1:${mirrorPort}`;
    await pushImage(mirrorUrl, 'local/busybox', 'test', busybox);
    Object.assign(fleet, { nats, upstream, mirrorUrl, image: `127.0.0.1:${mirrorPort}/local/busybox:test`, busybox, clientTls });

    const starts: Array<() => Promise<void>> = [];
    for (let i = 0; i < options.hosts; i++) {
      const name = `host-${i}`;
      const ip = `${prefix}.${10 + i}`;
      const hostDir = join(dir, name);
      const state: HostState = {
        host: undefined as unknown as FleetHost,
        netns: `sfh${tag}-${i}`,
        veth: `sfv${tag}${i}`,
        cgroup: testCgroupParent(),
        runcRoot: join(hostDir, 'runc'),
      };
      const network = uniqueNetworkNames();
      const runDir = join(hostDir, 'run');
      const stateDir = join(hostDir, 'state');
      const issued = await ca.issue({ kind: 'node', name, ips: [ip], out: join(hostDir, 'tls') });
      const inHost = (command: string, args: readonly string[]) => ['--net=' + `/run/netns/${state.netns}`, '--', command, ...args];
      const agentArgs = [
        bin('node-agent'),
        ...['--state-dir', stateDir, '--run-dir', runDir, '--nats-url', nats.url, '--node', name],
        ...['--bridge', network.bridge, '--subnet', network.subnet, '--chain-prefix', network.chainPrefix, '--netns-prefix', network.netnsPrefix],
        ...['--cgroup-parent', state.cgroup.path, '--runc-root', state.runcRoot, '--heartbeat-seconds', String(heartbeatSeconds)],
        ...['--mirror-socket', join(sharedRunDir, 'registry-mirror.sock'), '--layer-store-socket', join(sharedRunDir, 'layer-store.sock')],
        ...['--tcp-listen', `${ip}:${FLEET_AGENT_PORT}`, '--tls-cert', issued.files.cert, '--tls-key', issued.files.key, '--tls-ca', issued.files.ca],
        ...['--label', `host=${i}`],
        ...(options.agentFlags ?? []),
        ...(options.hostAgentFlags?.(i) ?? []),
      ];
      const startAgent = async () => {
        const p = startProcess('nsenter', inHost(process.execPath, agentArgs));
        state.agent = p;
        await processHealthy(p, join(runDir, 'node-agent.sock'), `node-agent of ${name}`);
      };
      const host: FleetHost = {
        name,
        ip,
        address: `${ip}:${FLEET_AGENT_PORT}`,
        socket: join(runDir, 'node-agent.sock'),
        runDir,
        stateDir,
        network,
        cgroupParent: state.cgroup.path,
        agentPid: () => state.agent?.pid ?? -1,
        async stop() {
          await state.agent?.stop('SIGTERM', 10_000);
        },
        async kill() {
          await state.agent?.stop('SIGKILL');
        },
        async restart() {
          await state.agent?.stop('SIGKILL');
          await startAgent();
        },
      };
      state.host = host;
      states.push(state);
      fleet.hosts.push(host);

      // The shared services' sockets where a host's tools look for them: `strata pull --run-dir <host run dir>` works.
      await mkdir(runDir, { recursive: true, mode: 0o700 });
      for (const socket of ['registry-mirror.sock', 'layer-store.sock']) await symlink(join(sharedRunDir, socket), join(runDir, socket));
      await sh('ip', ['netns', 'add', state.netns]);
      await sh('ip', ['link', 'add', state.veth, 'type', 'veth', 'peer', 'name', `sfp${tag}${i}`]);
      await sh('ip', ['link', 'set', `sfp${tag}${i}`, 'netns', state.netns]);
      await sh('ip', ['link', 'set', state.veth, 'master', bridge, 'up']);
      const ipIn = (...args: string[]) => sh('ip', ['-n', state.netns, ...args]);
      await ipIn('link', 'set', 'lo', 'up');
      await ipIn('link', 'set', `sfp${tag}${i}`, 'name', 'eth0');
      await ipIn('addr', 'add', `${ip}/24`, 'dev', 'eth0');
      await ipIn('link', 'set', 'eth0', 'up');
      await ipIn('route', 'add', 'default', 'via', gateway);

      const natsUrl = nats.url;
      starts.push(async () => {
        const snapshotter = startProcess(
          'nsenter',
          inHost(process.execPath, [
            bin('snapshotter'),
            ...['--state-dir', stateDir, '--run-dir', runDir, '--nats-url', natsUrl, '--node', name],
            ...['--layer-store-socket', join(sharedRunDir, 'layer-store.sock')],
          ]),
        );
        state.snapshotter = snapshotter;
        await processHealthy(snapshotter, join(runDir, 'snapshotter.sock'), `snapshotter of ${name}`);
        await startAgent();
      });
    }
    // Hosts start side by side, as machines of a fleet do.
    // Every start has ended (none still spawning) before a failure cleans up.
    const failed = (await Promise.allSettled(starts.map((start) => start()))).find((r) => r.status === 'rejected');
    if (failed !== undefined) throw (failed as PromiseRejectedResult).reason;
  } catch (err) {
    await fleet.stop().catch(() => undefined);
    throw err;
  }
  return fleet;
}
