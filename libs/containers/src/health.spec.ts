import { describe, expect, it } from 'vitest';
import { errorKind } from '@strata/kit';
import { afterHealthProbe, checkHealthSettings, effectiveHealthCheck, healthCommand, startingHealth, type HealthCheck, type HealthSettings } from './health.js';

const refusal = (settings: HealthSettings) => {
  try {
    checkHealthSettings(settings);
  } catch (err) {
    return { kind: errorKind(err), message: (err as Error).message };
  }
  return undefined;
};

describe('health checks', () => {
  it("merges the run's settings over the image's, with Docker's defaults for the rest", () => {
    const image: HealthSettings = { test: ['CMD-SHELL', 'curl -f localhost'], intervalMs: 10_000, retries: 5 };
    expect(effectiveHealthCheck(image, undefined)).toEqual({ test: ['CMD-SHELL', 'curl -f localhost'], intervalMs: 10_000, timeoutMs: 30_000, startPeriodMs: 0, startIntervalMs: 5_000, retries: 5 });
    expect(effectiveHealthCheck(image, { intervalMs: 1_000, timeoutMs: 500 })).toMatchObject({ test: ['CMD-SHELL', 'curl -f localhost'], intervalMs: 1_000, timeoutMs: 500, retries: 5 });
    expect(effectiveHealthCheck(image, { test: ['CMD', 'true'] })?.test).toEqual(['CMD', 'true']);
    expect(effectiveHealthCheck(image, { test: ['NONE'] })).toBeUndefined();
    expect(effectiveHealthCheck(undefined, { intervalMs: 1_000 })).toBeUndefined();
    expect(effectiveHealthCheck({ test: ['NONE'] }, undefined)).toBeUndefined();
  });

  it('runs CMD as given and CMD-SHELL through /bin/sh -c', () => {
    expect(healthCommand(['CMD', 'pg_isready', '-q'])).toEqual(['pg_isready', '-q']);
    expect(healthCommand(['CMD-SHELL', 'test -f /ok || exit 1'])).toEqual(['/bin/sh', '-c', 'test -f /ok || exit 1']);
  });

  it.each([
    [{ intervalMs: 0.5 }, 'Interval in Healthcheck cannot be less than 1ms'],
    [{ timeoutMs: -1 }, 'Timeout in Healthcheck cannot be less than 1ms'],
    [{ retries: -1 }, 'Retries in Healthcheck cannot be negative'],
    [{ test: ['CMD'] }, 'invalid Healthcheck test ["CMD"]: use ["NONE"], ["CMD", command…] or ["CMD-SHELL", "command line"]'],
    [{ test: ['CMD-SHELL', 'a', 'b'] }, 'invalid Healthcheck test ["CMD-SHELL","a","b"]: use ["NONE"], ["CMD", command…] or ["CMD-SHELL", "command line"]'],
    [{ test: ['true'] }, 'invalid Healthcheck test ["true"]: use ["NONE"], ["CMD", command…] or ["CMD-SHELL", "command line"]'],
  ])('refuses %j', (settings, message) => {
    expect(refusal(settings)).toEqual({ kind: 'InvalidArgument', message });
  });

  it('starts, turns healthy on a pass and unhealthy after retries failures, ignoring failures of the start period while starting', () => {
    const check: HealthCheck = { test: ['CMD', 'x'], intervalMs: 1, timeoutMs: 1, startPeriodMs: 1, startIntervalMs: 1, retries: 2 };
    const probe = (exitCode: number, output = '') => ({ start: 's', end: 'e', exitCode, output });
    let state = startingHealth();
    state = afterHealthProbe(state, probe(1), check, true);
    expect(state).toMatchObject({ status: 'starting', failingStreak: 0 });
    state = afterHealthProbe(state, probe(1), check, false);
    expect(state).toMatchObject({ status: 'starting', failingStreak: 1 });
    state = afterHealthProbe(state, probe(0), check, false);
    expect(state).toMatchObject({ status: 'healthy', failingStreak: 0 });
    state = afterHealthProbe(state, probe(1), check, true);
    expect(state).toMatchObject({ status: 'healthy', failingStreak: 1 });
    state = afterHealthProbe(state, probe(1, 'x'.repeat(5000)), check, false);
    expect(state).toMatchObject({ status: 'unhealthy', failingStreak: 2 });
    expect(state.log).toHaveLength(5);
    expect(state.log.at(-1)?.output).toHaveLength(4096);
    for (let i = 0; i < 5; i++) state = afterHealthProbe(state, probe(1), check, false);
    expect(state.log).toHaveLength(5);
  });
});
