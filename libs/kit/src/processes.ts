import { readFileSync } from 'node:fs';
import { errnoOf } from './durable-fs.js';

/**
 * Whether a process with this pid exists (one of another user counts:
 * EPERM). A zombie counts too, and a pid may have been reused since: who
 * needs to know it is the same process compares its start time as well.
 */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errnoOf(err) === 'EPERM';
  }
}

/** What /proc/<pid>/stat says of a process. */
export interface ProcessStat {
  /** Clock ticks since boot when it started (field 22): tells it from a later process that reuses its pid. */
  startTime: number;
  /** It has ended and waits for its parent (state Z or X). */
  zombie: boolean;
}

/**
 * The start time and state of pid from /proc/<pid>/stat; undefined when no
 * such process exists or there is no /proc. Read synchronously: the kernel
 * makes the file in memory.
 */
export function processStat(pid: number): ProcessStat | undefined {
  if (!Number.isSafeInteger(pid) || pid <= 0) return undefined;
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The fields after the command name, which is in parentheses and may contain anything; fields[0] is field 3.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const startTime = Number(fields[19]);
  if (!Number.isFinite(startTime)) return undefined;
  return { startTime, zombie: fields[0] === 'Z' || fields[0] === 'X' };
}

/** The start time of pid while it runs (not a zombie); undefined otherwise, or without /proc. */
export function processStartTime(pid: number): number | undefined {
  const stat = processStat(pid);
  return stat === undefined || stat.zombie ? undefined : stat.startTime;
}
