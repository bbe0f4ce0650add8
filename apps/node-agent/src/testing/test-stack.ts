import { execFile } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { cgroupMounts, testCgroupParent, type TestCgroupParent } from '@strata/cgroups/testing';
import { createBridgeNetwork } from '@strata/container-network';
import { networkLeftovers, uniqueNetworkNames, type UniqueNetworkNames } from '@strata/container-network/testing';
import { deleteRuncContainers, ensureMonitorBuilt } from '@strata/container-runtime/testing';
import { startNatsServer, type TestNatsServer } from '@strata/events-nats/testing';
import { createClient, type RpcClient } from '@strata/grpc-kit';
import { busyboxImage, pushImage, type BuiltImage } from '@strata/image-fixtures';
import { silentLogger, type Logger } from '@strata/kit';
import { createCleanup, freePort, startProcess, tempDir, type TestProcess } from '@strata/kit/testing';
import { mountPoints } from '@strata/snapshots-local';
import { unmountBelow } from '@strata/snapshots-local/testing';
import { loadNodeAgentConfig, type NodeAgentConfig } from '../config.js';
import { startNodeAgent, type RunningNodeAgent } from '../node-agent.js';
import { processHealthy } from '@strata/grpc-kit/testing';

const run = promisify(execFile);
const bin = (app: string) => fileURLToPath(new URL(`../../../${app}/bin/${app}.mjs`, import.meta.url));

/** Settings of {@link startTestStack}. */
export interface TestStackOptions {
  /** Logger of in-process agents; silent by default. */
  logger?: Logger;
  /** Extra node-agent flags (e.g. `--default-pids-limit 64`). */
  agentFlags?: string[];
  /**
   * Extra registry-mirror flags, after the stack's own (e.g. `['--upstreams',
   * file]` for an upstream registry of the test's: a JSON array of
   * `{"host", "endpoint"}`, used beside the stack's `upstream.invalid`).
   */
  mirrorFlags?: string[];
}

/**
 * NATS, layer-store, registry-mirror and snapshotter (each its own process,
 * on its own sockets and ports under a temporary directory) with a busybox
 * image pushed to the mirror, ready for a node-agent with its own bridge,
 * subnet, iptables chains, netns prefix, cgroup parent and runc root.
 */
export interface TestStack {
  /** The temporary directory holding state/ and run/. */
  readonly dir: string;
  readonly stateDir: string;
  readonly runDir: string;
  readonly nats: TestNatsServer;
  /** The registry-mirror's HTTP base, `http://127.0.0.1:<port>`. */
  readonly mirrorUrl: string;
  /** The busybox image as pushed to the mirror (`127.0.0.1:<port>/local/busybox:test`): Cmd `sh`, applets of BUSYBOX_APPLETS. */
  readonly image: string;
  readonly busybox: BuiltImage;
  readonly network: UniqueNetworkNames;
  readonly cgroupParent: string;
  readonly runcRoot: string;
  /** `<runDir>/node-agent.sock`. */
  readonly agentSocket: string;
  /** `<runDir>/docker.sock`: the agents' Docker Engine API endpoint (the default --docker-socket). */
  readonly dockerSocket: string;
  /** The node name agents use: `test-node`. */
  readonly node: string;
  /** The flags of a node-agent for this stack (plus options.agentFlags). */
  agentArgs(): string[];
  agentConfig(): NodeAgentConfig;
  /** Starts a node-agent in this process; stop() stops it if the test did not. */
  startAgent(): Promise<RunningNodeAgent>;
  /** Starts the node-agent executable (bin/node-agent.mjs) and waits until it is healthy; stopped by stop() by pid. */
  startAgentProcess(): Promise<TestProcess>;
  /** A Containers client of the agent socket, closed by stop(). */
  client(): RpcClient;
  /** What of the containers ids is still on the host: mounts, links, netns, iptables rules, cgroups (the monitors' too), runc containers. Empty when clean. */
  leftovers(ids: readonly string[]): Promise<string[]>;
  /**
   * Removes every container (through an agent), stops every agent and
   * process, tears down the bridge and chains, removes the cgroup parent,
   * runc leftovers and mounts, and deletes the directory. Idempotent.
   */
  stop(): Promise<void>;
}

/**
 * Starts a {@link TestStack}. Needs root, runc, nats-server and the
 * strata-monitor (built here when missing). Call stop() in afterAll, also
 * when a test failed.
 */
export async function startTestStack(options: TestStackOptions = {}): Promise<TestStack> {
  const scratch = tempDir('strata-na-');
  const dir = scratch.path;
  const stateDir = join(dir, 'state');
  const runDir = join(dir, 'run');
  const runcRoot = join(dir, 'runc');
  const network = uniqueNetworkNames();
  const cgroup: TestCgroupParent = testCgroupParent();
  const processes: TestProcess[] = [];
  const agentProcesses: TestProcess[] = [];
  const agents: RunningNodeAgent[] = [];
  const clients: RpcClient[] = [];
  const logger = options.logger ?? silentLogger();
  let nats: TestNatsServer | undefined;
  let stopped: Promise<void> | undefined;

  const agentArgs = () => [
    ...['--state-dir', stateDir, '--run-dir', runDir, '--nats-url', nats?.url ?? '', '--node', 'test-node'],
    ...['--bridge', network.bridge, '--subnet', network.subnet, '--chain-prefix', network.chainPrefix, '--netns-prefix', network.netnsPrefix],
    ...['--cgroup-parent', cgroup.path, '--runc-root', runcRoot, '--heartbeat-seconds', '1'],
    ...(options.agentFlags ?? []),
  ];
  const agentConfig = () => loadNodeAgentConfig(agentArgs(), {});

  async function cleanUp(): Promise<void> {
    const { attempt, done } = createCleanup('test stack');
    for (const p of agentProcesses) await attempt(() => p.stop('SIGKILL'));
    for (const c of clients) c.close();
    for (const a of agents) await attempt(() => a.stop(1000));
    await attempt(async () => {
      const cleaner = await startNodeAgent(agentConfig(), logger);
      try {
        for (const c of cleaner.manager.list({ all: true })) await attempt(() => cleaner.manager.remove(c.id, true));
      } finally {
        await cleaner.stop(1000);
      }
    });
    await attempt(() => deleteRuncContainers(runcRoot));
    await attempt(() => createBridgeNetwork({ stateDir: join(stateDir, 'node-agent', 'network'), logger, ...network }).teardownBridge());
    await attempt(() => cgroup.remove());
    await attempt(() => unmountBelow(dir));
    for (const p of processes.reverse()) await attempt(() => p.stop('SIGTERM', 10_000));
    await attempt(async () => nats?.stop());
    scratch.remove();
    done();
  }

  const stack: TestStack = {
    dir,
    stateDir,
    runDir,
    get nats() {
      return nats as TestNatsServer;
    },
    mirrorUrl: '',
    image: '',
    busybox: undefined as unknown as BuiltImage,
    network,
    cgroupParent: cgroup.path,
    runcRoot,
    agentSocket: join(runDir, 'node-agent.sock'),
    dockerSocket: join(runDir, 'docker.sock'),
    node: 'test-node',
    agentArgs,
    agentConfig,
    async startAgent() {
      const agent = await startNodeAgent(agentConfig(), logger);
      agents.push(agent);
      return agent;
    },
    async startAgentProcess() {
      const p = startProcess(process.execPath, [bin('node-agent'), ...agentArgs()]);
      agentProcesses.push(p);
      await processHealthy(p, stack.agentSocket, 'node-agent');
      return p;
    },
    client() {
      const c = createClient({ unixSocket: stack.agentSocket });
      clients.push(c);
      return c;
    },
    async leftovers(ids) {
      const out: string[] = [];
      for (const m of await mountPoints()) if (ids.some((id) => m.includes(id))) out.push(`mount ${m}`);
      out.push(...(await networkLeftovers({ ...createBridgeNetwork({ stateDir: join(stateDir, 'node-agent', 'network'), logger, ...network }).config }, ids)));
      for (const mount of await cgroupMounts()) {
        for (const dir of [join(mount, cgroup.path), join(mount, cgroup.path, 'monitors')]) {
          const names = await readdir(dir).catch(() => [] as string[]);
          for (const id of ids) if (names.includes(id)) out.push(`cgroup ${join(dir, id)}`);
        }
      }
      const { stdout } = await run('runc', ['--root', runcRoot, 'list', '-q']).catch(() => ({ stdout: '' }));
      for (const id of stdout.split('\n').filter(Boolean)) if (ids.includes(id)) out.push(`runc ${id}`);
      return out;
    },
    stop() {
      stopped ??= cleanUp();
      return stopped;
    },
  };

  try {
    await ensureMonitorBuilt();
    nats = await startNatsServer();
    const mirrorPort = await freePort();
    const common = ['--state-dir', stateDir, '--run-dir', runDir, '--nats-url', nats.url];
    const layerStore = startProcess(process.execPath, [bin('layer-store'), ...common]);
    processes.push(layerStore);
    const mirror = startProcess(process.execPath, [bin('registry-mirror'), ...common, '--listen', `127.0.0.1:${mirrorPort}`, '--upstream', 'upstream.invalid', ...(options.mirrorFlags ?? [])]);
    processes.push(mirror);
    const snapshotter = startProcess(process.execPath, [bin('snapshotter'), ...common]);
    processes.push(snapshotter);
    const [busybox] = await Promise.all([
      busyboxImage(),
      processHealthy(layerStore, join(runDir, 'layer-store.sock'), 'layer-store'),
      processHealthy(mirror, join(runDir, 'registry-mirror.sock'), 'registry-mirror'),
      processHealthy(snapshotter, join(runDir, 'snapshotter.sock'), 'snapshotter'),
    ]);
    const mirrorUrl = `http://127.0.0.1:${mirrorPort}`;
    await pushImage(mirrorUrl, 'local/busybox', 'test', busybox);
    Object.assign(stack, { mirrorUrl, image: `127.0.0.1:${mirrorPort}/local/busybox:test`, busybox });
  } catch (err) {
    await stack.stop().catch(() => undefined);
    throw err;
  }
  return stack;
}
