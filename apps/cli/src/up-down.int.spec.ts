import { existsSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { probeNats } from '@strata/events-nats';
import { checkHealth } from '@strata/grpc-kit';
import { freePort, startProcess, tempDir, waitFor, type TestProcess } from '@strata/kit/testing';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { isRunning, stopProcess } from './stack/process-control.js';
import { readUpState, upStatePath } from './stack/up-state.js';

const strataBin = fileURLToPath(new URL('../bin/strata.mjs', import.meta.url));

interface UpJson {
  status: 'started' | 'already-running';
  services: Array<{ name: string; pid: number; endpoints: Array<{ protocol: string; address: string }>; log: string }>;
}

const dir = tempDir('strata-up-');
// Every pid a test saw, stopped in afterAll whatever happened.
const pids = new Set<number>();
const clis: TestProcess[] = [];

async function strata(...args: string[]): Promise<{ code: number | string; out: string; proc: TestProcess }> {
  const proc = startProcess(process.execPath, [strataBin, ...args], { env: { ...process.env, STRATA_DEBUG: '1' } });
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
  return { stateDir, runDir, natsPort, flags: ['--state-dir', stateDir, '--run-dir', runDir, '--nats-port', String(natsPort)] };
}

afterEach(async () => {
  await Promise.all(clis.splice(0).map((p) => p.stop()));
});

afterAll(async () => {
  for (const pid of pids) await stopProcess(pid, { timeoutMs: 5000 });
  dir.remove();
});

describe('strata up and down', () => {
  it('starts NATS and the layer-store detached, refuses a second stack, and stops both', async () => {
    const s = await stack('detached');
    const up = await strata('up', '-d', ...s.flags, '--format', 'json');
    const result = JSON.parse(up.out) as UpJson;
    for (const svc of result.services) pids.add(svc.pid);
    expect(up.code, up.proc.output()).toBe(0);
    expect(result.status).toBe('started');
    expect(result.services.map((svc) => svc.name)).toEqual(['nats', 'layer-store']);
    const [nats, layerStore] = result.services;
    const socket = `${s.runDir}/layer-store.sock`;
    expect(nats!.endpoints).toEqual([{ protocol: 'nats', address: `nats://127.0.0.1:${s.natsPort}` }]);
    expect(layerStore!.endpoints).toEqual([{ protocol: 'grpc', address: `unix:${socket}` }]);
    expect(existsSync(`${s.stateDir}/logs/nats.log`)).toBe(true);
    expect(statSync(upStatePath(s.runDir)).mode & 0o777).toBe(0o600);

    // The strata process is gone; what it started runs on and answers.
    expect(isRunning(nats!.pid)).toBe(true);
    expect(isRunning(layerStore!.pid)).toBe(true);
    await probeNats(`nats://127.0.0.1:${s.natsPort}`);
    expect(await checkHealth({ unixSocket: socket })).toBe('SERVING');

    const again = await strata('up', '-d', ...s.flags);
    expect(again.code).toBe(0);
    expect(again.out).toMatch(/^Strata is already running \(started .*, recorded in .*\/up\.json\)\.\n/);
    expect(readUpState(s.runDir)!.services.map((svc) => svc.pid)).toEqual([nats!.pid, layerStore!.pid]);

    const down = await strata('down', '--run-dir', s.runDir);
    expect(down.code, down.proc.output()).toBe(0);
    expect(down.out).toBe(`layer-store (pid ${layerStore!.pid}) stopped\nnats (pid ${nats!.pid}) stopped\n`);
    expect(isRunning(nats!.pid)).toBe(false);
    expect(isRunning(layerStore!.pid)).toBe(false);
    expect(existsSync(upStatePath(s.runDir))).toBe(false);

    const downAgain = await strata('down', '--run-dir', s.runDir);
    expect(downAgain.code).toBe(0);
    expect(downAgain.out).toBe(`Strata is not running (no ${s.runDir}/up.json).\n`);
  });

  it('stays in the foreground and stops the stack in reverse order on SIGTERM', async () => {
    const s = await stack('foreground');
    const proc = startProcess(process.execPath, [strataBin, 'up', ...s.flags]);
    clis.push(proc);
    await waitFor(
      () => proc.output().includes('press Ctrl-C'),
      () => `strata up to start the stack:\n${proc.output()}`,
      30_000,
    );
    const services = readUpState(s.runDir)!.services;
    for (const svc of services) pids.add(svc.pid);
    expect(services.map((svc) => svc.name)).toEqual(['nats', 'layer-store']);

    await proc.stop('SIGTERM', 20_000);
    expect(await proc.exited).toBe(0);
    const lines = proc.output().split('\n');
    expect(lines.indexOf(`stopping layer-store (pid ${services[1]!.pid})`)).toBeLessThan(
      lines.indexOf(`stopping nats (pid ${services[0]!.pid})`),
    );
    for (const svc of services) expect(isRunning(svc.pid)).toBe(false);
    expect(existsSync(upStatePath(s.runDir))).toBe(false);
  });

  it('in the foreground, stops the whole stack and fails when a service dies', async () => {
    const s = await stack('dies');
    const proc = startProcess(process.execPath, [strataBin, 'up', ...s.flags]);
    clis.push(proc);
    await waitFor(
      () => proc.output().includes('press Ctrl-C'),
      () => `strata up to start the stack:\n${proc.output()}`,
      30_000,
    );
    const [nats, layerStore] = readUpState(s.runDir)!.services;
    pids.add(nats!.pid).add(layerStore!.pid);

    process.kill(nats!.pid, 'SIGKILL');
    expect(await proc.exited).toBe(1);
    expect(proc.output()).toContain(`strata: nats was killed by SIGKILL, so the stack was stopped; the end of ${nats!.log}:\n`);
    expect(isRunning(layerStore!.pid)).toBe(false);
    expect(existsSync(upStatePath(s.runDir))).toBe(false);
  });

  it('fails in one sentence, exit code 1, when the NATS port is taken', async () => {
    const s = await stack('taken');
    const first = await strata('up', '-d', ...s.flags, '--format', 'json');
    for (const svc of (JSON.parse(first.out) as UpJson).services) pids.add(svc.pid);
    expect(first.code).toBe(0);

    const other = await stack('taken-2');
    const flags = ['--state-dir', other.stateDir, '--run-dir', other.runDir, '--nats-port', String(s.natsPort)];
    const second = await strata('up', '-d', ...flags);
    expect(second.code).toBe(1);
    expect(second.proc.output()).toContain(
      `strata: cannot start nats: port ${s.natsPort} on 127.0.0.1 is already in use; stop what listens there or pass --nats-port\n`,
    );
    expect(existsSync(upStatePath(other.runDir))).toBe(false);
    expect((await strata('down', '--run-dir', s.runDir)).code).toBe(0);
  });
});
