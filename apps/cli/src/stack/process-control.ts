import { readFileSync } from 'node:fs';
import { processAlive } from '@strata/kit';

/**
 * The kernel's start time of pid (clock ticks since boot, from
 * /proc/<pid>/stat), which tells a process from a later one that reuses its
 * pid; undefined when it is not running or /proc is not there.
 */
export function processStartTime(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may contain anything.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields[0] === 'Z' || fields[0] === 'X') return undefined;
    const start = Number(fields[19]);
    return Number.isFinite(start) ? start : undefined;
  } catch {
    return undefined;
  }
}

/**
 * True when pid runs (a zombie does not count) and, given startTime, is the
 * same process that had it then.
 */
export function isRunning(pid: number, startTime?: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  if (!processAlive(pid)) return false;
  const now = processStartTime(pid);
  if (now === undefined) return !hasProc();
  return startTime === undefined || now === startTime;
}

let procMounted: boolean | undefined;
function hasProc(): boolean {
  if (procMounted === undefined) procMounted = processStartTime(process.pid) !== undefined;
  return procMounted;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitGone(pid: number, startTime: number | undefined, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isRunning(pid, startTime)) {
    if (Date.now() >= deadline) return false;
    await sleep(25);
  }
  return true;
}

/** How {@link stopProcess} ended a process. */
export type StopResult = 'not-running' | 'stopped' | 'killed';

/**
 * Ends the process pid (only if it is still the one that started at
 * startTime): SIGTERM, then SIGKILL after timeoutMs. Resolves once it is
 * gone. Raises PermissionDenied-like errors from kill() as they are.
 */
export async function stopProcess(pid: number, options: { startTime?: number; timeoutMs?: number } = {}): Promise<StopResult> {
  const { startTime, timeoutMs = 10_000 } = options;
  if (!isRunning(pid, startTime)) return 'not-running';
  try {
    process.kill(pid, 'SIGTERM');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return 'not-running';
    throw err;
  }
  if (await waitGone(pid, startTime, timeoutMs)) return 'stopped';
  try {
    process.kill(pid, 'SIGKILL');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return 'stopped';
    throw err;
  }
  await waitGone(pid, startTime, 5_000);
  return 'killed';
}
