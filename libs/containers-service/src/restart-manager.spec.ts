import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RESTART_BACKOFF, type RestartPolicy } from '@strata/containers';
import { recordFixture } from '@strata/containers/testing';
import { createRestartManager } from './restart-manager.js';

const startedAt = '2024-01-01T00:00:00.000Z';
/** A record with policy that ran from startedAt, and its exit with exitCode after ranMs. */
const exitAfter = (policy: RestartPolicy, exitCode: number, ranMs: number, restartCount = 0) => ({
  record: recordFixture({
    spec: { ...recordFixture().spec, restartPolicy: policy },
    state: { ...recordFixture().state, status: 'running', startedAt },
    restartCount,
  }),
  exit: { exitCode, finishedAt: new Date(Date.parse(startedAt) + ranMs).toISOString() },
});

describe('createRestartManager', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("restarts as the policy says, with Docker's delays: doubled after each restart, back to the first after a run of 10 s", () => {
    const restarts = createRestartManager();
    const always = { name: 'always', maximumRetryCount: 0 } as const;
    const delays = [1000, 1000, 1000, 20_000, 1000].map((ranMs) => {
      const { record, exit } = exitAfter(always, 0, ranMs);
      return restarts.onExit(record, exit);
    });
    expect(delays).toEqual([RESTART_BACKOFF.firstMs, 200, 400, RESTART_BACKOFF.firstMs, 200]);
    const onFailure = { name: 'on-failure', maximumRetryCount: 2 } as const;
    expect(restarts.onExit(exitAfter(onFailure, 0, 10).record, exitAfter(onFailure, 0, 10).exit)).toBeUndefined();
    const failed = exitAfter(onFailure, 1, 10, 2);
    expect(restarts.onExit(failed.record, failed.exit)).toBeUndefined();
    const { record, exit } = exitAfter({ name: 'no', maximumRetryCount: 0 }, 1, 10);
    expect(restarts.onExit(record, exit)).toBeUndefined();
  });

  it('runs a scheduled restart after its delay, once, and a new schedule replaces the waiting one', () => {
    const restarts = createRestartManager();
    const ran: string[] = [];
    restarts.schedule('a', 100, () => ran.push('first'));
    restarts.schedule('a', 300, () => ran.push('second'));
    vi.advanceTimersByTime(299);
    expect(ran).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(ran).toEqual(['second']);
    vi.advanceTimersByTime(10_000);
    expect(ran).toEqual(['second']);
  });

  it('cancel drops the waiting restart and refuses the next exit until reset; close drops every waiting restart', () => {
    const restarts = createRestartManager();
    const ran: string[] = [];
    const { record, exit } = exitAfter({ name: 'always', maximumRetryCount: 0 }, 0, 1000);
    restarts.schedule(record.id, 100, () => ran.push('restart'));
    restarts.cancel(record.id);
    expect(restarts.onExit(record, exit)).toBeUndefined();
    vi.advanceTimersByTime(1000);
    expect(ran).toEqual([]);

    restarts.reset(record.id);
    expect(restarts.onExit(record, exit)).toBe(RESTART_BACKOFF.firstMs);
    expect(restarts.onExit(record, exit)).toBe(200);
    restarts.reset(record.id);
    expect(restarts.onExit(record, exit)).toBe(RESTART_BACKOFF.firstMs);

    restarts.schedule('b', 100, () => ran.push('b'));
    restarts.schedule('c', 200, () => ran.push('c'));
    restarts.close();
    vi.advanceTimersByTime(1000);
    expect(ran).toEqual([]);
  });
});
