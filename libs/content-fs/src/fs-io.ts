import { mkdir, readdir, stat, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { errnoOf, processAlive, syncDir, TEMP_FILE, type Logger } from '@strata/kit';

export { errnoOf, ioFailure, syncDir, tempPathFor } from '@strata/kit';

/** Mode of every directory the fs store creates. */
export const DIR_MODE = 0o700;
/** Mode of files while they are written. */
export const FILE_MODE = 0o600;
/** Mode of committed blobs: nobody writes them again. */
export const BLOB_MODE = 0o444;

/** Creates path and its missing parents with mode 0700, making new entries durable. */
export async function makeDirs(path: string): Promise<void> {
  const first = await mkdir(path, { recursive: true, mode: DIR_MODE });
  if (first === undefined) return;
  for (let dir = path; ; dir = dirname(dir)) {
    await syncDir(dirname(dir));
    if (dir === first || dirname(dir) === dir) break;
  }
}


/**
 * Removes temp files (see tempPathFor) in dir, and below it down to depth
 * levels, that no running writer can still own: their process is gone, or
 * it is this process and they are older than it. Returns how many.
 */
export async function removeStaleTemps(dir: string, depth: number, logger: Logger): Promise<number> {
  const processStart = Date.now() - process.uptime() * 1000;
  let removed = 0;
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    if (errnoOf(err) === 'ENOENT' || errnoOf(err) === 'ENOTDIR') return 0;
    throw err;
  }
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (depth > 0) removed += await removeStaleTemps(path, depth - 1, logger);
      continue;
    }
    const m = TEMP_FILE.exec(entry.name);
    if (m === null || !entry.isFile()) continue;
    const pid = Number(m[1]);
    let stale = !processAlive(pid);
    if (!stale && pid === process.pid) {
      const st = await stat(path).catch(() => undefined);
      stale = st !== undefined && st.mtimeMs < processStart;
    }
    if (!stale) continue;
    try {
      await unlink(path);
      removed++;
      logger.info({ path }, 'removed a leftover temp file');
    } catch (err) {
      if (errnoOf(err) !== 'ENOENT') throw err;
    }
  }
  return removed;
}

/** Runs tasks one after another per key; tasks of different keys run freely. */
export class KeyedMutex {
  private readonly tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    const next = prev.then(task, task);
    const tail = next.catch(() => undefined);
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return next;
  }
}
