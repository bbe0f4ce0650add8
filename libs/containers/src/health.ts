/**
 * Health checks, as Docker runs them (`HEALTHCHECK` in an image,
 * `--health-*` on run): a command run in the container every interval; a
 * container is `starting` until a check passes, `healthy` after one that
 * passed, `unhealthy` after `retries` failures in a row (failures within
 * the start period do not count while it is still starting).
 */
import { invalidArgument } from '@strata/kit';

/** A container's checks, as run: durations in milliseconds. */
export interface HealthCheck {
  /** `["CMD", args…]` or `["CMD-SHELL", command]`. */
  test: string[];
  intervalMs: number;
  timeoutMs: number;
  startPeriodMs: number;
  startIntervalMs: number;
  retries: number;
}

/** What `--health-*` or an image's HEALTHCHECK says; zero durations and retries are unset (the image's, then Docker's defaults). */
export interface HealthSettings {
  /** `["NONE"]` turns the image's checks off; empty keeps the image's command. */
  test?: string[];
  intervalMs?: number;
  timeoutMs?: number;
  startPeriodMs?: number;
  startIntervalMs?: number;
  retries?: number;
}

/** One check as `docker inspect` lists it. */
export interface HealthProbe {
  start: string;
  end: string;
  /** The command's exit code; -1 when it could not run or timed out. */
  exitCode: number;
  output: string;
}

/** A container's health (`State.Health`). */
export interface HealthState {
  status: 'starting' | 'healthy' | 'unhealthy';
  failingStreak: number;
  /** The latest checks, oldest first (at most {@link HEALTH_LOG_ENTRIES}). */
  log: HealthProbe[];
}

/** Docker's defaults. */
export const DEFAULT_HEALTH = { intervalMs: 30_000, timeoutMs: 30_000, startPeriodMs: 0, startIntervalMs: 5_000, retries: 3 } as const;
/** Checks kept in the log, as Docker. */
export const HEALTH_LOG_ENTRIES = 5;
/** Bytes of a check's output kept, as Docker. */
export const HEALTH_OUTPUT_BYTES = 4096;

/**
 * Checks settings from any client, with Docker's texts: durations are
 * zero (unset) or at least 1 ms, retries not negative, a test is `NONE`,
 * `CMD` with a command, or `CMD-SHELL` with one command line.
 */
export function checkHealthSettings(settings: HealthSettings): void {
  const durations = [
    ['Interval', settings.intervalMs],
    ['Timeout', settings.timeoutMs],
    ['StartPeriod', settings.startPeriodMs],
    ['StartInterval', settings.startIntervalMs],
  ] as const;
  for (const [name, ms] of durations) {
    if (ms !== undefined && (!Number.isFinite(ms) || ms < 0 || (ms > 0 && ms < 1))) throw invalidArgument(`${name} in Healthcheck cannot be less than 1ms`);
  }
  if (settings.retries !== undefined && (!Number.isSafeInteger(settings.retries) || settings.retries < 0)) throw invalidArgument('Retries in Healthcheck cannot be negative');
  const test = settings.test ?? [];
  if (test.length === 0 || (test.length === 1 && test[0] === 'NONE')) return;
  if (test[0] === 'CMD' && test.length > 1) return;
  if (test[0] === 'CMD-SHELL' && test.length === 2) return;
  throw invalidArgument(`invalid Healthcheck test ${JSON.stringify(test)}: use ["NONE"], ["CMD", command…] or ["CMD-SHELL", "command line"]`);
}

/**
 * The checks a container runs: the run's settings over the image's (a test
 * given replaces the image's; each duration and retries given replaces its
 * own), Docker's defaults for the rest. Undefined when neither has a
 * command, or when the test is `NONE` (`--no-healthcheck`).
 */
export function effectiveHealthCheck(image: HealthSettings | undefined, run: HealthSettings | undefined): HealthCheck | undefined {
  const test = run?.test !== undefined && run.test.length > 0 ? run.test : (image?.test ?? []);
  if (test.length === 0 || test[0] === 'NONE') return undefined;
  const pick = (key: keyof typeof DEFAULT_HEALTH) => (run?.[key] || image?.[key] || DEFAULT_HEALTH[key]) as number;
  return {
    test: [...test],
    intervalMs: pick('intervalMs'),
    timeoutMs: pick('timeoutMs'),
    startPeriodMs: pick('startPeriodMs'),
    startIntervalMs: pick('startIntervalMs'),
    retries: pick('retries'),
  };
}

/** The settings of an image's HEALTHCHECK (its durations in nanoseconds, as OCI's config has them). */
export function imageHealthSettings(config: { Test?: string[]; Interval?: number; Timeout?: number; StartPeriod?: number; StartInterval?: number; Retries?: number } | undefined): HealthSettings | undefined {
  if (config === undefined) return undefined;
  const ms = (ns: number | undefined) => (ns === undefined ? undefined : ns / 1e6);
  const out: HealthSettings = {};
  if (config.Test !== undefined) out.test = [...config.Test];
  for (const [key, ns] of [['intervalMs', config.Interval], ['timeoutMs', config.Timeout], ['startPeriodMs', config.StartPeriod], ['startIntervalMs', config.StartInterval]] as const) {
    const value = ms(ns);
    if (value !== undefined) out[key] = value;
  }
  if (config.Retries !== undefined) out.retries = config.Retries;
  return out;
}

/** The command line a check runs: `CMD`'s arguments, or `CMD-SHELL`'s line through `/bin/sh -c`. */
export function healthCommand(test: readonly string[]): string[] {
  return test[0] === 'CMD-SHELL' ? ['/bin/sh', '-c', test[1] ?? ''] : test.slice(1);
}

/** What `docker ps` adds to a running container's status for its health: ` (healthy)`, ` (health: starting)`, ` (unhealthy)`; '' without checks. */
export function healthSuffix(status: string | undefined): string {
  if (status === undefined || status === '') return '';
  return status === 'starting' ? ' (health: starting)' : ` (${status})`;
}

/** The health of a container that has just started. */
export function startingHealth(): HealthState {
  return { status: 'starting', failingStreak: 0, log: [] };
}

/**
 * The health after a check: a pass makes it healthy; a failure counts
 * toward retries, except while starting within the start period; retries
 * failures in a row make it unhealthy. The log keeps the latest checks.
 */
export function afterHealthProbe(state: HealthState, probe: HealthProbe, check: HealthCheck, inStartPeriod: boolean): HealthState {
  const log = [...state.log, { ...probe, output: probe.output.slice(0, HEALTH_OUTPUT_BYTES) }].slice(-HEALTH_LOG_ENTRIES);
  if (probe.exitCode === 0) return { status: 'healthy', failingStreak: 0, log };
  if (inStartPeriod && state.status === 'starting') return { ...state, log };
  const failingStreak = state.failingStreak + 1;
  return { status: failingStreak >= check.retries ? 'unhealthy' : state.status, failingStreak, log };
}
