import { afterHealthProbe, healthCommand, HEALTH_OUTPUT_BYTES, type ContainerRecord, type HealthCheck, type HealthProbe, type HealthState } from '@strata/containers';
import type { Logger } from '@strata/kit';
import type { RunningExec } from './container-manager.js';

/** What the health monitor needs of the container manager. */
export interface HealthMonitorDeps {
  /** The container's record now; undefined once removed. */
  current(id: string): ContainerRecord | undefined;
  /** Starts the check's command in the container (an exec, with its events). */
  exec(id: string, args: string[]): Promise<RunningExec>;
  /**
   * Saves the health after a check of the run that started at startedAt,
   * under the container's lock; nothing when that run is over. Resolves
   * with the health before and after.
   */
  update(id: string, startedAt: string, next: (health: HealthState) => HealthState): Promise<{ before: HealthState; after: HealthState } | undefined>;
  /** Publishes container.health_status. */
  publish(record: ContainerRecord, status: HealthState['status']): void;
  logger: Logger;
}

/** Runs containers' health checks. */
export interface HealthMonitor {
  /** Starts the checks of a container's current run, once (nothing without checks or when it does not run). */
  watch(id: string): void;
  /** Ends every loop (the agent stops; a next agent's recover watches the running containers again). */
  close(): void;
}

/**
 * One check: the command run with exec, its output (stdout and stderr, the
 * first 4 KiB) kept; killed after the timeout (exit code -1 and Docker's
 * "Health check exceeded timeout" then), -1 with the error when it could
 * not start.
 */
async function runProbe(deps: HealthMonitorDeps, id: string, check: HealthCheck): Promise<HealthProbe> {
  const start = new Date().toISOString();
  let exec: RunningExec;
  try {
    exec = await deps.exec(id, healthCommand(check.test));
  } catch (err) {
    return { start, end: new Date().toISOString(), exitCode: -1, output: (err as Error).message };
  }
  const chunks: Buffer[] = [];
  let kept = 0;
  for (const stream of [exec.stdout, exec.stderr]) {
    stream.on('data', (chunk: Buffer) => {
      if (kept >= HEALTH_OUTPUT_BYTES) return;
      chunks.push(chunk.subarray(0, HEALTH_OUTPUT_BYTES - kept));
      kept += Math.min(chunk.length, HEALTH_OUTPUT_BYTES - kept);
    });
  }
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), check.timeoutMs)));
  const outcome = await Promise.race([exec.exited, timedOut]);
  clearTimeout(timer);
  if (outcome === 'timeout') {
    try {
      process.kill(exec.pid, 'SIGKILL');
    } catch {
      // Ended meanwhile.
    }
    exec.exited.catch(() => undefined);
    return { start, end: new Date().toISOString(), exitCode: -1, output: `Health check exceeded timeout (${check.timeoutMs / 1000}s)` };
  }
  return { start, end: new Date().toISOString(), exitCode: outcome.exitCode, output: Buffer.concat(chunks).toString('utf8') };
}

/**
 * The health checks of running containers, one loop per run: a check every
 * interval (every start interval within the start period), none while the
 * container is paused; each verdict saved in the record and a change of
 * it published. A loop ends when its run does (another start, an exit, a
 * removal) or at close.
 */
export function createHealthMonitor(deps: HealthMonitorDeps): HealthMonitor {
  const loops = new Map<string, AbortController>();
  let closed = false;

  const sleep = (ms: number, signal: AbortSignal) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      signal.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
    });

  async function loop(id: string, startedAt: string, check: HealthCheck, signal: AbortSignal): Promise<void> {
    const began = Date.parse(startedAt);
    const inStartPeriod = () => Date.now() - began < check.startPeriodMs;
    while (!signal.aborted) {
      await sleep(inStartPeriod() ? check.startIntervalMs : check.intervalMs, signal);
      const record = deps.current(id);
      if (signal.aborted || record === undefined || record.state.startedAt !== startedAt || (record.state.status !== 'running' && record.state.status !== 'paused')) return;
      if (record.state.status === 'paused') continue;
      const probe = await runProbe(deps, id, check);
      const starting = inStartPeriod();
      const saved = await deps.update(id, startedAt, (health) => afterHealthProbe(health, probe, check, starting));
      if (saved === undefined) return;
      if (saved.after.status !== saved.before.status) deps.publish(deps.current(id) ?? record, saved.after.status);
    }
  }

  return {
    watch(id) {
      const record = deps.current(id);
      const check = record?.healthCheck;
      const startedAt = record?.state.startedAt;
      if (closed || check === undefined || startedAt === undefined || record?.state.status !== 'running') return;
      const key = `${id} ${startedAt}`;
      if (loops.has(key)) return;
      const ac = new AbortController();
      loops.set(key, ac);
      loop(id, startedAt, check, ac.signal)
        .catch((err: unknown) => deps.logger.warn({ err, containerId: id }, 'health checks stopped'))
        .finally(() => loops.delete(key));
    },
    close() {
      closed = true;
      for (const ac of loops.values()) ac.abort();
      loops.clear();
    },
  };
}
