import { existsSync } from 'node:fs';
import { errorKind } from '@strata/kit';
import { freePort, tempDir } from '@strata/kit/testing';
import { probeNats } from '@strata/events-nats';
import { startNatsServer } from '@strata/events-nats/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { stackContext } from '../commands/up.js';
import { isRunning, stopProcess } from './process-control.js';
import type { ServiceSpec, StackContext } from './service.js';
import { natsService } from './services.js';
import { downStack, upStack } from './stack.js';
import { claimUpState, readUpState, upStatePath } from './up-state.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function newContext(): Promise<StackContext> {
  const dir = tempDir('strata-stack-');
  const ctx = stackContext({ stateDir: `${dir.path}/state`, runDir: `${dir.path}/run`, natsPort: await freePort(), mirrorPort: await freePort() });
  cleanups.push(async () => {
    // Whatever a failed test left running is stopped by the pids it recorded.
    for (const s of readUpState(ctx.runDir)?.services ?? []) await stopProcess(s.pid, { startTime: s.startTime });
    dir.remove();
  });
  return ctx;
}

/** A real program that starts and exits at once, complaining. */
const exitsAtOnce: ServiceSpec = {
  name: 'broken',
  command: () => ({ command: 'sh', args: ['-c', 'echo "fatal: cannot open the store" >&2; exit 3'] }),
  endpoints: () => [],
  probe: async () => {
    throw new Error('not yet');
  },
  readyTimeoutMs: 10_000,
};

/** A real program that runs but never becomes ready. */
const neverReady: ServiceSpec = {
  name: 'sleeper',
  command: () => ({ command: 'sleep', args: ['30'] }),
  endpoints: () => [],
  probe: async () => {
    throw new Error('no answer');
  },
  readyTimeoutMs: 300,
};

describe('upStack and downStack', () => {
  it('start NATS, record it, refuse a second stack, and stop it by pid', async () => {
    const ctx = await newContext();
    const up = await upStack(ctx, { services: [natsService], detached: true });
    expect(up.status).toBe('started');
    const [nats] = readUpState(ctx.runDir)!.services;
    expect(nats).toMatchObject({ name: 'nats', endpoints: [{ protocol: 'nats', address: ctx.natsUrl }] });
    expect(nats!.log).toBe(`${ctx.stateDir}/logs/nats.log`);
    await probeNats(ctx.natsUrl);
    expect(existsSync(`${ctx.stateDir}/nats/jetstream`)).toBe(true);

    const again = await upStack(ctx, { services: [natsService], detached: true });
    expect(again.status).toBe('already-running');

    const down = await downStack(ctx.runDir);
    expect(down).toEqual({ found: true, stopped: [{ name: 'nats', pid: nats!.pid, result: 'stopped' }] });
    expect(isRunning(nats!.pid, nats!.startTime)).toBe(false);
    expect(existsSync(upStatePath(ctx.runDir))).toBe(false);
    expect(await downStack(ctx.runDir)).toEqual({ found: false, stopped: [] });
  });

  it('stops what started when a later service exits, and shows the end of its log', async () => {
    const ctx = await newContext();
    const pids: number[] = [];
    const failure = await upStack(ctx, {
      services: [natsService, exitsAtOnce],
      detached: true,
      progress: (m) => {
        const pid = /\(pid (\d+)\)/.exec(m)?.[1];
        if (pid) pids.push(Number(pid));
      },
    }).catch((err: unknown) => err);
    expect(errorKind(failure)).toBe('FailedPrecondition');
    expect((failure as Error).message).toMatch(
      new RegExp(`^broken exited with code 3 before it was ready; the end of ${ctx.logsDir}/broken.log:\\n--- strata up: .* starting broken: sh -c .*\\nfatal: cannot open the store$`),
    );
    expect(pids.length).toBeGreaterThan(0);
    for (const pid of pids) expect(isRunning(pid)).toBe(false);
    expect(existsSync(upStatePath(ctx.runDir))).toBe(false);
  });

  it('gives up on a service that is not ready in time, and stops it', async () => {
    const ctx = await newContext();
    const failure = await upStack(ctx, { services: [neverReady], detached: true }).catch((err: unknown) => err);
    expect(errorKind(failure)).toBe('Unavailable');
    expect((failure as Error).message).toMatch(/^sleeper was not ready within 0.3 s \(last check: no answer\)/);
    expect(existsSync(upStatePath(ctx.runDir))).toBe(false);
  });

  it('refuses to start NATS on a port something else listens on', async () => {
    const ctx = await newContext();
    const other = await startNatsServer({ port: ctx.natsPort });
    cleanups.push(() => other.stop());
    const failure = await upStack(ctx, { services: [natsService], detached: true }).catch((err: unknown) => err);
    expect(errorKind(failure)).toBe('FailedPrecondition');
    expect((failure as Error).message).toBe(
      `cannot start nats: port ${ctx.natsPort} on 127.0.0.1 is already in use; stop what listens there or pass --nats-port`,
    );
  });

  it('replaces the record of a stack that no longer runs', async () => {
    const ctx = await newContext();
    claimUpState({
      version: 1,
      owner: { pid: 999_999_999 },
      detached: true,
      startedAt: new Date(0).toISOString(),
      stateDir: ctx.stateDir,
      runDir: ctx.runDir,
      services: [{ name: 'nats', pid: 999_999_998, log: '', endpoints: [] }],
    });
    const up = await upStack(ctx, { services: [natsService], detached: true });
    expect(up.status).toBe('started');
    expect(readUpState(ctx.runDir)!.services[0]!.pid).not.toBe(999_999_998);
  });

  it('stops what started and raises Canceled when interrupted', async () => {
    const ctx = await newContext();
    const abort = new AbortController();
    const failure = await upStack(ctx, {
      services: [natsService, neverReady],
      detached: true,
      signal: abort.signal,
      progress: (m) => m === 'starting sleeper' && setTimeout(() => abort.abort(), 50),
    }).catch((err: unknown) => err);
    expect(errorKind(failure)).toBe('Canceled');
    expect((failure as Error).message).toBe('interrupted while sleeper was starting');
    expect(existsSync(upStatePath(ctx.runDir))).toBe(false);
  });
});
