/**
 * The container benchmarks' Strata: NATS, layer-store, registry-mirror,
 * snapshotter and node-agent, each its own process from this checkout with
 * the command lines `strata up` gives them (apps/cli's service specs), on
 * fresh state under one directory; the node-agent gets a bridge, subnet,
 * iptables chains, netns prefix, cgroup parent and runc root of its own, so
 * nothing of the host's is touched. The busybox image of
 * @strata/image-fixtures is pushed to the mirror.
 *
 * (The node-agent's own test stack, @strata/app-node-agent/testing, imports
 * @strata/cgroups/testing, whose contract suite imports vitest, so it cannot
 * run outside vitest.)
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ContainersService } from '@strata/api/containers/v1';
import { createBridgeNetwork } from '@strata/container-network';
import { uniqueNetworkNames } from '@strata/container-network/testing';
import { deleteRuncContainers, ensureMonitorBuilt } from '@strata/container-runtime/testing';
import { startNatsServer, type TestNatsServer } from '@strata/events-nats/testing';
import { createClient, type RpcClient } from '@strata/grpc-kit';
import { busyboxImage, pushImage } from '@strata/image-fixtures';
import { isNotFound, silentLogger } from '@strata/kit';
import { createCleanup, freePort, startProcess, type TestProcess } from '@strata/kit/testing';
import { unmountBelow } from '@strata/snapshots-local/testing';
import type { ServiceSpec, StackContext } from '../apps/cli/src/stack/service.js';
import { layerStoreService, nodeAgentService, registryMirrorService, snapshotterService } from '../apps/cli/src/stack/services.js';
import { testCgroupParent } from '../libs/cgroups/src/testing/test-cgroups.js';
import { root } from './lib.js';
import { processHealthy } from '@strata/grpc-kit/testing';

/** A running stack; see the module comment. */
export interface AgentStack {
  readonly runDir: string;
  /** `<runDir>/node-agent.sock`. */
  readonly agentSocket: string;
  /** `127.0.0.1:<port>/local/busybox:test`. */
  readonly image: string;
  /** The node-agent's command line (node, its bin and flags), for starting it under another program. */
  readonly agentCommand: readonly string[];
  /** The node-agent process started by the stack (undefined after stopAgent). */
  agent(): TestProcess | undefined;
  /** Stops the stack's node-agent by pid (its containers keep running). */
  stopAgent(): Promise<void>;
  /** A Containers client of the agent socket, closed by stop(). */
  client(): RpcClient;
  /**
   * Removes every container (through a node-agent started again if need
   * be), stops the processes by pid, tears down the bridge and chains,
   * removes the cgroup parent, runc leftovers and mounts, and deletes the
   * directory. Idempotent.
   */
  stop(): Promise<void>;
}

/** Starts the stack under dir (emptied first). On failure whatever started is removed again. */
export async function startAgentStack(dir: string): Promise<AgentStack> {
  rmSync(dir, { recursive: true, force: true });
  const stateDir = join(dir, 'state');
  const runDir = join(dir, 'run');
  const runcRoot = join(dir, 'runc');
  mkdirSync(runDir, { recursive: true, mode: 0o700 });
  const network = uniqueNetworkNames();
  const cgroup = testCgroupParent();
  const processes: TestProcess[] = [];
  const clients: RpcClient[] = [];
  let agent: TestProcess | undefined;
  let nats: TestNatsServer | undefined;
  let ctx: StackContext | undefined;
  let stopped: Promise<void> | undefined;
  const agentSocket = join(runDir, 'node-agent.sock');
  const agentCommand = (c: StackContext) => {
    const { command, args } = nodeAgentService.command(c);
    return [
      command,
      ...args,
      ...['--node', 'bench-node', '--bridge', network.bridge, '--subnet', network.subnet, '--chain-prefix', network.chainPrefix],
      ...['--netns-prefix', network.netnsPrefix, '--cgroup-parent', cgroup.path, '--runc-root', runcRoot],
    ];
  };
  const startAgent = async (c: StackContext) => {
    const [command, ...args] = agentCommand(c);
    const p = startProcess(command!, args);
    agent = p;
    await processHealthy(p, agentSocket, 'node-agent', 60_000);
    return p;
  };

  async function cleanUp(): Promise<void> {
    const { attempt, done } = createCleanup('agent stack');
    for (const c of clients) c.close();
    if (ctx !== undefined) {
      const c = ctx;
      await attempt(async () => {
        const running = agent !== undefined && agent.child.exitCode === null && agent.child.signalCode === null;
        const cleaner = running && agent !== undefined ? agent : await startAgent(c);
        const client = createClient({ unixSocket: agentSocket });
        try {
          const { containers } = await client.unary(ContainersService.list, { all: true, filters: [] });
          for (const container of containers) {
            // An --rm container may finish removing itself meanwhile.
            await attempt(() => client.unary(ContainersService.remove, { id: container.id, force: true }).catch((err: unknown) => (isNotFound(err) ? undefined : Promise.reject(err))));
          }
        } finally {
          client.close();
          await cleaner.stop('SIGTERM', 20_000);
        }
      });
    }
    await attempt(() => deleteRuncContainers(runcRoot));
    await attempt(() => createBridgeNetwork({ stateDir: join(stateDir, 'node-agent', 'network'), logger: silentLogger(), ...network }).teardownBridge());
    await attempt(() => cgroup.remove());
    await attempt(() => unmountBelow(dir));
    for (const p of processes.reverse()) await attempt(() => p.stop('SIGTERM', 10_000));
    await attempt(async () => nats?.stop());
    rmSync(dir, { recursive: true, force: true });
    done();
  }

  const stop = () => {
    stopped ??= cleanUp();
    return stopped;
  };
  try {
    await ensureMonitorBuilt();
    nats = await startNatsServer();
    const mirrorPort = await freePort();
    ctx = {
      stateDir,
      runDir,
      natsPort: Number(new URL(nats.url).port),
      mirrorPort,
      logsDir: join(stateDir, 'logs'),
      repoRoot: root,
      natsUrl: nats.url,
      mirrorUrl: `http://127.0.0.1:${mirrorPort}`,
    };
    const c = ctx;
    const run = (spec: ServiceSpec, extra: readonly string[] = []) => {
      const { command, args } = spec.command(c);
      const p = startProcess(command, [...args, ...extra]);
      processes.push(p);
      return p;
    };
    const layerStore = run(layerStoreService);
    await processHealthy(layerStore, join(runDir, 'layer-store.sock'), 'layer-store', 60_000);
    const mirror = run(registryMirrorService, ['--upstream', 'upstream.invalid']);
    const snapshotter = run(snapshotterService);
    const [busybox] = await Promise.all([
      busyboxImage(),
      processHealthy(mirror, join(runDir, 'registry-mirror.sock'), 'registry-mirror', 60_000),
      processHealthy(snapshotter, join(runDir, 'snapshotter.sock'), 'snapshotter', 60_000),
    ]);
    await pushImage(c.mirrorUrl, 'local/busybox', 'test', busybox);
    await startAgent(c);
    return {
      runDir,
      agentSocket,
      image: `127.0.0.1:${mirrorPort}/local/busybox:test`,
      agentCommand: agentCommand(c),
      agent: () => agent,
      async stopAgent() {
        await agent?.stop('SIGTERM', 20_000);
        agent = undefined;
      },
      client() {
        const client = createClient({ unixSocket: agentSocket });
        clients.push(client);
        return client;
      },
      stop,
    };
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
}
