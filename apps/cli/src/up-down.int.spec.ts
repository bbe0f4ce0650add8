import { chownSync, existsSync, readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { testCgroupParent } from '@strata/cgroups/testing';
import { createBridgeNetwork } from '@strata/container-network';
import { uniqueNetworkNames } from '@strata/container-network/testing';
import { probeNats } from '@strata/events-nats';
import { checkHealth } from '@strata/grpc-kit';
import { silentLogger } from '@strata/kit';
import { freePort, startProcess, tempDir, waitFor, type TestProcess } from '@strata/kit/testing';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { isRunning, stopProcess } from './stack/process-control.js';
import { readUpState, upStatePath } from './stack/up-state.js';

/** The `strata` command as npm installs it: the shell launcher of bin/strata.mjs. */
const strataBin = fileURLToPath(new URL('../bin/strata', import.meta.url));
/** Extra CA certificates the CLI is started with; the services it starts must get them (see bin/strata). */
const extraCaCerts = '/etc/ssl/certs/ca-certificates.crt';

interface UpJson {
  status: 'started' | 'already-running';
  services: Array<{ name: string; pid: number; endpoints: Array<{ protocol: string; address: string }>; log: string }>;
}

const dir = tempDir('strata-up-');
// The node-agents these stacks start get a bridge, chains, namespaces and a cgroup parent of their own (through the
// environment `strata up` passes on), not the machine's defaults, and afterAll removes them.
const network = uniqueNetworkNames();
const cgroup = testCgroupParent();
const agentEnv = {
  STRATA_BRIDGE: network.bridge,
  STRATA_SUBNET: network.subnet,
  STRATA_CHAIN_PREFIX: network.chainPrefix,
  STRATA_NETNS_PREFIX: network.netnsPrefix,
  STRATA_CGROUP_PARENT: cgroup.path,
};
// Every pid a test saw, stopped in afterAll whatever happened.
const pids = new Set<number>();
const clis: TestProcess[] = [];

function strata(...args: string[]): Promise<{ code: number | string; out: string; proc: TestProcess }> {
  return strataAs([], ...args);
}

/** Runs strata under a wrapper command (e.g. setpriv to change the user), or directly when wrapper is empty. */
async function strataAs(wrapper: string[], ...args: string[]): Promise<{ code: number | string; out: string; proc: TestProcess }> {
  const [command, ...rest] = [...wrapper, strataBin, ...args] as [string, ...string[]];
  const proc = startProcess(command, rest, { env: { ...process.env, ...agentEnv, STRATA_DEBUG: '1', NODE_EXTRA_CA_CERTS: extraCaCerts } });
  clis.push(proc);
  let out = '';
  proc.child.stdout?.on('data', (b: Buffer) => (out += b.toString('utf8')));
  const code = await proc.exited;
  return { code, out, proc };
}

async function stack(name: string) {
  const stateDir = `${dir.path}/${name}/state`;
  const runDir = `${dir.path}/${name}/run`;
  const natsPort = await freePort();
  const mirrorPort = await freePort();
  return {
    stateDir,
    runDir,
    natsPort,
    mirrorPort,
    flags: ['--state-dir', stateDir, '--run-dir', runDir, '--nats-port', String(natsPort), '--mirror-port', String(mirrorPort)],
  };
}

afterEach(async () => {
  await Promise.all(clis.splice(0).map((p) => p.stop()));
});

afterAll(async () => {
  for (const pid of pids) await stopProcess(pid, { timeoutMs: 5000 });
  // The stacks made no container: a bridge network without records tears down the bridge and chains.
  const bridgeState = tempDir('strata-up-network-');
  try {
    await createBridgeNetwork({ stateDir: bridgeState.path, logger: silentLogger(), ...network }).teardownBridge();
  } finally {
    bridgeState.remove();
    await cgroup.remove();
    dir.remove();
  }
});

describe('strata up and down', () => {
  it('starts NATS, the layer-store, the registry-mirror, the snapshotter and the node-agent detached, refuses a second stack, and stops them', async () => {
    const s = await stack('detached');
    const up = await strata('up', '-d', ...s.flags, '--format', 'json');
    const result = JSON.parse(up.out) as UpJson;
    for (const svc of result.services) pids.add(svc.pid);
    expect(up.code, up.proc.output()).toBe(0);
    expect(result.status).toBe('started');
    expect(result.services.map((svc) => svc.name)).toEqual(['nats', 'layer-store', 'registry-mirror', 'snapshotter', 'node-agent']);
    const [nats, layerStore, mirror, snapshotter, nodeAgent] = result.services;
    const socket = `${s.runDir}/layer-store.sock`;
    const mirrorSocket = `${s.runDir}/registry-mirror.sock`;
    const snapshotterSocket = `${s.runDir}/snapshotter.sock`;
    expect(nats!.endpoints).toEqual([{ protocol: 'nats', address: `nats://127.0.0.1:${s.natsPort}` }]);
    expect(layerStore!.endpoints).toEqual([{ protocol: 'grpc', address: `unix:${socket}` }]);
    expect(mirror!.endpoints).toEqual([
      { protocol: 'http', address: `http://127.0.0.1:${s.mirrorPort}` },
      { protocol: 'grpc', address: `unix:${mirrorSocket}` },
    ]);
    expect(snapshotter!.endpoints).toEqual([{ protocol: 'grpc', address: `unix:${snapshotterSocket}` }]);
    expect(nodeAgent!.endpoints).toEqual([
      { protocol: 'grpc', address: `unix:${s.runDir}/node-agent.sock` },
      { protocol: 'docker', address: `unix://${s.runDir}/docker.sock` },
    ]);
    expect(existsSync(`${s.stateDir}/logs/nats.log`)).toBe(true);
    expect(statSync(upStatePath(s.runDir)).mode & 0o777).toBe(0o600);

    // The strata process is gone; what it started runs on and answers.
    expect(isRunning(nats!.pid)).toBe(true);
    expect(isRunning(layerStore!.pid)).toBe(true);
    expect(isRunning(mirror!.pid)).toBe(true);
    expect(isRunning(snapshotter!.pid)).toBe(true);
    expect(isRunning(nodeAgent!.pid)).toBe(true);
    // The launcher started the CLI's node without NODE_EXTRA_CA_CERTS; the services got it back.
    for (const svc of [layerStore!, mirror!, snapshotter!, nodeAgent!]) {
      expect(readFileSync(`/proc/${svc.pid}/environ`, 'utf8').split('\0')).toContain(`NODE_EXTRA_CA_CERTS=${extraCaCerts}`);
    }
    await probeNats(`nats://127.0.0.1:${s.natsPort}`);
    expect(await checkHealth({ unixSocket: socket })).toBe('SERVING');
    expect(await checkHealth({ unixSocket: mirrorSocket })).toBe('SERVING');
    expect(await checkHealth({ unixSocket: snapshotterSocket }, 'strata.snapshots.v1.Snapshots')).toBe('SERVING');
    expect(await checkHealth({ unixSocket: `${s.runDir}/node-agent.sock` }, 'strata.containers.v1.Containers')).toBe('SERVING');
    expect(statSync(`${s.runDir}/docker.sock`).mode & 0o777).toBe(0o660);
    expect((await fetch(`http://127.0.0.1:${s.mirrorPort}/v2/`)).status).toBe(200);

    const again = await strata('up', '-d', ...s.flags);
    expect(again.code).toBe(0);
    expect(again.out).toMatch(/^Strata is already running \(started .*, recorded in .*\/up\.json\)\.\n/);
    expect(readUpState(s.runDir)!.services.map((svc) => svc.pid)).toEqual([nats!.pid, layerStore!.pid, mirror!.pid, snapshotter!.pid, nodeAgent!.pid]);

    const down = await strata('down', '--run-dir', s.runDir);
    expect(down.code, down.proc.output()).toBe(0);
    expect(down.out).toBe(
      `node-agent (pid ${nodeAgent!.pid}) stopped\nsnapshotter (pid ${snapshotter!.pid}) stopped\nregistry-mirror (pid ${mirror!.pid}) stopped\nlayer-store (pid ${layerStore!.pid}) stopped\nnats (pid ${nats!.pid}) stopped\n`,
    );
    for (const svc of result.services) expect(isRunning(svc.pid)).toBe(false);
    expect(existsSync(upStatePath(s.runDir))).toBe(false);
    expect(existsSync(snapshotterSocket)).toBe(false);
    expect(existsSync(`${s.stateDir}/snapshotter/lock`)).toBe(false);

    const downAgain = await strata('down', '--run-dir', s.runDir);
    expect(downAgain.code).toBe(0);
    expect(downAgain.out).toBe(`Strata is not running (no ${s.runDir}/up.json).\n`);
  });

  it('stays in the foreground and stops the stack in reverse order on SIGTERM', async () => {
    const s = await stack('foreground');
    const proc = startProcess(strataBin, ['up', ...s.flags], { env: { ...process.env, ...agentEnv } });
    clis.push(proc);
    await waitFor(
      () => proc.output().includes('press Ctrl-C'),
      () => `strata up to start the stack:\n${proc.output()}`,
      30_000,
    );
    const services = readUpState(s.runDir)!.services;
    for (const svc of services) pids.add(svc.pid);
    expect(services.map((svc) => svc.name)).toEqual(['nats', 'layer-store', 'registry-mirror', 'snapshotter', 'node-agent']);
    expect(proc.output()).toContain(`http://127.0.0.1:${s.mirrorPort}`);

    await proc.stop('SIGTERM', 20_000);
    expect(await proc.exited).toBe(0);
    const lines = proc.output().split('\n');
    const stopping = services.map((svc) => lines.indexOf(`stopping ${svc.name} (pid ${svc.pid})`));
    expect(stopping.every((i) => i >= 0)).toBe(true);
    expect([...stopping].sort((a, b) => b - a)).toEqual(stopping);
    for (const svc of services) expect(isRunning(svc.pid)).toBe(false);
    expect(existsSync(upStatePath(s.runDir))).toBe(false);
  });

  it('in the foreground, stops the whole stack and fails when a service dies', async () => {
    const s = await stack('dies');
    const proc = startProcess(strataBin, ['up', ...s.flags], { env: { ...process.env, ...agentEnv } });
    clis.push(proc);
    await waitFor(
      () => proc.output().includes('press Ctrl-C'),
      () => `strata up to start the stack:\n${proc.output()}`,
      30_000,
    );
    const [nats, layerStore, mirror, snapshotter, nodeAgent] = readUpState(s.runDir)!.services;
    pids.add(nats!.pid).add(layerStore!.pid).add(mirror!.pid).add(snapshotter!.pid).add(nodeAgent!.pid);

    process.kill(nats!.pid, 'SIGKILL');
    expect(await proc.exited).toBe(1);
    expect(proc.output()).toContain(`strata: nats was killed by SIGKILL, so the stack was stopped; the end of ${nats!.log}:\n`);
    expect(isRunning(layerStore!.pid)).toBe(false);
    expect(isRunning(mirror!.pid)).toBe(false);
    expect(isRunning(snapshotter!.pid)).toBe(false);
    expect(isRunning(nodeAgent!.pid)).toBe(false);
    expect(existsSync(upStatePath(s.runDir))).toBe(false);
  });

  it.runIf(process.getuid?.() === 0)('leaves the snapshotter and the node-agent out, saying why, when not run as root', async () => {
    const s = await stack('not-root');
    const home = tempDir('strata-up-nobody-');
    try {
      chownSync(home.path, 65534, 65534);
      const flags = [...s.flags.map((f) => f.replace(`${dir.path}/not-root`, home.path))];
      const asNobody = (...args: string[]) => strataAs(['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'], ...args);
      const up = await asNobody('up', '-d', ...flags, '--format', 'json');
      const result = JSON.parse(up.out) as UpJson & { skipped: Array<{ name: string; reason: string }> };
      for (const svc of result.services) pids.add(svc.pid);
      expect(up.code, up.proc.output()).toBe(0);
      expect(result.services.map((svc) => svc.name)).toEqual(['nats', 'layer-store', 'registry-mirror']);
      const reason = 'it needs root (layers hold files of every owner, and mounts need it); run strata up as root to start it';
      const agentReason = 'it needs root (containers need mounts, namespaces, cgroups and iptables); run strata up as root to start it';
      expect(result.skipped).toEqual([
        { name: 'snapshotter', reason },
        { name: 'node-agent', reason: agentReason },
      ]);
      expect(up.proc.output()).toContain(`skipping snapshotter: ${reason}\n`);
      expect(up.proc.output()).toContain(`skipping node-agent: ${agentReason}\n`);
      const down = await asNobody('down', '--run-dir', `${home.path}/run`);
      expect(down.code, down.proc.output()).toBe(0);
      for (const svc of result.services) expect(isRunning(svc.pid)).toBe(false);
    } finally {
      home.remove();
    }
  });

  it('fails in one sentence, exit code 1, when the NATS port is taken', async () => {
    const s = await stack('taken');
    const first = await strata('up', '-d', ...s.flags, '--format', 'json');
    for (const svc of (JSON.parse(first.out) as UpJson).services) pids.add(svc.pid);
    expect(first.code).toBe(0);

    const other = await stack('taken-2');
    const flags = ['--state-dir', other.stateDir, '--run-dir', other.runDir, '--nats-port', String(s.natsPort), '--mirror-port', String(other.mirrorPort)];
    const second = await strata('up', '-d', ...flags);
    expect(second.code).toBe(1);
    expect(second.proc.output()).toContain(
      `strata: cannot start nats: port ${s.natsPort} on 127.0.0.1 is already in use; stop what listens there or pass --nats-port\n`,
    );
    expect(existsSync(upStatePath(other.runDir))).toBe(false);
    expect((await strata('down', '--run-dir', s.runDir)).code).toBe(0);
  });

  it('fails in one sentence, exit code 1, when the mirror port is taken, and stops what it started', async () => {
    const s = await stack('mirror-taken');
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(s.mirrorPort, '127.0.0.1', resolve));
    try {
      const up = await strata('up', '-d', ...s.flags);
      expect(up.code).toBe(1);
      expect(up.proc.output()).toContain(
        `strata: cannot start registry-mirror: port ${s.mirrorPort} on 127.0.0.1 is already in use; stop what listens there or pass --mirror-port\n`,
      );
      expect(up.proc.output()).toMatch(/stopping layer-store \(pid \d+\)[^]*stopping nats \(pid \d+\)/);
      expect(existsSync(upStatePath(s.runDir))).toBe(false);
      expect(existsSync(`${s.runDir}/layer-store.sock`)).toBe(false);
    } finally {
      await new Promise<void>((resolve) => taken.close(() => resolve()));
    }
  });
});
