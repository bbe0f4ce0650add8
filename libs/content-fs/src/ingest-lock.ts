import { link, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { processAlive, processStat, unavailable, type Logger } from '@strata/kit';
import { errnoOf, FILE_MODE, tempPathFor } from './fs-io.js';

/** Who holds an ingest lock: a process, told apart from a later one with the same pid. */
export interface LockOwner {
  pid: number;
  /** Start time of the process in clock ticks since boot (/proc/<pid>/stat field 22). */
  start?: string;
  /** /proc/sys/kernel/random/boot_id of the boot the process ran in. */
  boot?: string;
}

/** A held ingest lock. */
export interface IngestLock {
  /** Removes the lock file; no error when it is already gone (e.g. the ingest was discarded). */
  release(): Promise<void>;
}

/** pid's start time as lock files record it, and whether it is a zombie. */
function processStart(pid: number): { start: string; zombie: boolean } | undefined {
  const stat = processStat(pid);
  return stat === undefined ? undefined : { start: String(stat.startTime), zombie: stat.zombie };
}

/** The running process pid as a lock owner (its start time and boot from /proc where there is one). */
export async function ownerOf(pid: number): Promise<LockOwner> {
  const started = processStart(pid);
  const boot = await readFile('/proc/sys/kernel/random/boot_id', 'utf8').then(
    (s) => s.trim(),
    () => undefined,
  );
  return {
    pid,
    ...(started === undefined ? {} : { start: started.start }),
    ...(boot === undefined ? {} : { boot }),
  };
}

let self: Promise<LockOwner> | undefined;

/** This process as a lock owner. */
export function currentOwner(): Promise<LockOwner> {
  self ??= ownerOf(process.pid);
  return self;
}

/**
 * True while owner's process runs: its pid exists, is not a zombie, and
 * (where /proc tells) it started when the lock says and in this boot. A pid
 * reused by another process after a crash is therefore not the owner.
 */
export async function ownerIsAlive(owner: LockOwner): Promise<boolean> {
  if (!Number.isSafeInteger(owner.pid) || owner.pid <= 0) return false;
  const me = await currentOwner();
  if (owner.boot !== undefined && me.boot !== undefined && owner.boot !== me.boot) return false;
  if (!processAlive(owner.pid)) return false;
  const started = processStart(owner.pid);
  if (started === undefined) return true;
  if (started.zombie) return false;
  return owner.start === undefined || owner.start === started.start;
}

function parseOwner(text: string): LockOwner | undefined {
  try {
    const value = JSON.parse(text) as Partial<LockOwner>;
    if (typeof value.pid !== 'number') return undefined;
    return {
      pid: value.pid,
      ...(typeof value.start === 'string' ? { start: value.start } : {}),
      ...(typeof value.boot === 'string' ? { boot: value.boot } : {}),
    };
  } catch {
    return undefined;
  }
}

const held = (ref: string) => unavailable(`ingest ${ref} is locked by another writer; wait for it to finish`, { fields: { ref } });

/**
 * Takes the exclusive lock of the ingest in dir: a file `lock` holding the
 * owner, created whole and exclusively (written aside, then hard-linked).
 * A lock whose owner no longer runs is stale and is broken (logged).
 * Unavailable while a live process — this one included, through another
 * store on the same root — holds it. Errors of the file system (ENOENT when
 * dir is absent) pass through.
 */
export async function acquireIngestLock(dir: string, ref: string, logger: Logger): Promise<IngestLock> {
  const lockPath = join(dir, 'lock');
  const content = JSON.stringify(await currentOwner());
  const mine = tempPathFor(lockPath);
  const lock: IngestLock = {
    async release() {
      try {
        await unlink(lockPath);
      } catch (err) {
        if (errnoOf(err) !== 'ENOENT') throw err;
      }
    },
  };
  await writeFile(mine, content, { mode: FILE_MODE, flag: 'wx' });
  try {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        await link(mine, lockPath);
        return lock;
      } catch (err) {
        if (errnoOf(err) !== 'EEXIST') throw err;
      }
      let found: string;
      try {
        found = await readFile(lockPath, 'utf8');
      } catch (err) {
        if (errnoOf(err) === 'ENOENT') continue;
        throw err;
      }
      const owner = parseOwner(found);
      if (owner !== undefined && (await ownerIsAlive(owner))) throw held(ref);
      const aside = tempPathFor(lockPath);
      try {
        await rename(lockPath, aside);
      } catch (err) {
        if (errnoOf(err) === 'ENOENT') continue;
        throw err;
      }
      const moved = await readFile(aside, 'utf8');
      if (moved !== found) {
        await link(aside, lockPath).catch(() => undefined);
        await unlink(aside);
        throw held(ref);
      }
      await unlink(aside);
      logger.warn({ ref, owner: owner ?? found.slice(0, 200) }, 'broke the stale lock of an ingest');
    }
    throw held(ref);
  } finally {
    await unlink(mine).catch(() => undefined);
  }
}
