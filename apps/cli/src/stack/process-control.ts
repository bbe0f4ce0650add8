import { processAlive, processStartTime } from '@strata/kit';

export { processStartTime } from '@strata/kit';

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
