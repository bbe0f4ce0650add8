import { constants } from 'node:os';
import { open, readFile, rename } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { processStartTime } from '@strata/kit';

/** How a container's (or exec'd process's) main process ended, as the monitor recorded it in exit.json. */
export interface ExitRecord {
  /** Pid of the process on the host. */
  pid: number;
  /** Exit status, or 128 + signal number when a signal killed it (Docker's convention). */
  exitCode: number;
  /** The signal that killed it, when one did. */
  signal?: NodeJS.Signals;
  /** RFC 3339 time with nanoseconds, UTC. */
  finishedAt: string;
  /**
   * True when the monitor died before the process and the real status is
   * unknown; exitCode is then 255.
   */
  lost?: boolean;
}

/** What the monitor wrote to monitor.json: its pid and the process's, each with its start time. */
export interface MonitorRecord {
  monitorPid: number;
  monitorStartTime: number;
  /** 0 until runc created the process. */
  pid: number;
  pidStartTime: number;
  tty: boolean;
  stdin: boolean;
  exec: boolean;
}

export const MONITOR_FILE = 'monitor.json';
export const EXIT_FILE = 'exit.json';
export const REPORTED_FILE = 'exit-reported';
export const ATTACH_SOCKET = 'attach.sock';
export const RUNC_LOG = 'runc.log';

const signalNames = new Map<number, NodeJS.Signals>(
  Object.entries(constants.signals).map(([name, num]) => [num, name as NodeJS.Signals]),
);

/**
 * The JSON content of path; undefined when it does not exist or does not
 * parse. The monitor replaces its files by rename, so a reader never sees
 * one half-written; only a host crash can leave one empty (the monitor
 * flushes monitor.json never and exit.json only after telling the agent),
 * and such a file says nothing.
 */
async function readJson(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** monitor.json of a state dir, or undefined when the monitor has not written it. */
export async function readMonitorRecord(dir: string): Promise<MonitorRecord | undefined> {
  return (await readJson(join(dir, MONITOR_FILE))) as MonitorRecord | undefined;
}

/** exit.json of a state dir, or undefined while the process runs. */
export async function readExitRecord(dir: string): Promise<ExitRecord | undefined> {
  const raw = (await readJson(join(dir, EXIT_FILE))) as
    | { pid: number; exitCode: number; signal?: number; finishedAt: string; lost?: boolean }
    | undefined;
  if (raw === undefined) return undefined;
  const record: ExitRecord = { pid: raw.pid, exitCode: raw.exitCode, finishedAt: raw.finishedAt };
  const signal = raw.signal ? signalNames.get(raw.signal) : undefined;
  if (signal) record.signal = signal;
  if (raw.lost) record.lost = true;
  return record;
}

export { processStartTime } from '@strata/kit';

/** True when pid runs and is the same process as recorded (its start time matches: no pid reuse). */
export async function isSameProcess(pid: number, startTime: number): Promise<boolean> {
  return pid > 0 && processStartTime(pid) === startTime;
}

/** Writes path through a temporary file, fsync and rename, then fsyncs the directory. */
export async function writeFileDurably(path: string, data: string): Promise<void> {
  const tmp = `${path}.tmp`;
  const fh = await open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
  const dir = await open(dirname(path), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

/** Writes the exit record of a process whose monitor died before it: status unknown. */
export async function writeLostExit(dir: string, pid: number): Promise<ExitRecord> {
  const finishedAt = new Date().toISOString();
  await writeFileDurably(
    join(dir, EXIT_FILE),
    `${JSON.stringify({ pid, exitCode: 255, signal: 0, finishedAt, lost: true })}\n`,
  );
  return { pid, exitCode: 255, finishedAt, lost: true };
}
