import { execFile } from 'node:child_process';
import type { Dirent } from 'node:fs';
import { open, readdir, rmdir, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { errnoOf, internal } from '@strata/kit';

export { errnoOf, ioFailure, processAlive, syncDir, TEMP_FILE, writeFileDurably } from '@strata/kit';

/** Mode of the root and of every snapshot's directory (SECURITY.md: no host user reaches inside). */
export const PRIVATE_DIR_MODE = 0o700;
/** Mode of a snapshot's fs/ directory, the root of the file system it shows. */
export const FS_DIR_MODE = 0o755;

/**
 * Flushes one directory, coalescing calls: a call made while a flush runs
 * waits for the next one, which starts when that ends, so many changes made
 * meanwhile share one flush. It keeps the directory open between flushes
 * (one fsync per flush instead of open, fsync and close); close() lets go
 * of it.
 */
export class DirFlusher {
  private running: Promise<void> | undefined;
  private queued: Promise<void> | undefined;
  private handle: Promise<FileHandle> | undefined;

  constructor(private readonly dir: string) {}

  /** Closes the directory's descriptor once the flushes in progress are done; a later flush opens it again. */
  async close(): Promise<void> {
    await this.queued?.catch(() => undefined);
    await this.running?.catch(() => undefined);
    const handle = this.handle;
    this.handle = undefined;
    await (await handle?.catch(() => undefined))?.close();
  }

  /** Resolves when every change made in the directory before the call is durable. */
  flush(): Promise<void> {
    if (this.queued !== undefined) return this.queued;
    if (this.running === undefined) return this.start();
    this.queued = this.running
      .catch(() => undefined)
      .then(() => {
        this.queued = undefined;
        return this.start();
      });
    return this.queued;
  }

  private async sync(): Promise<void> {
    this.handle ??= open(this.dir, 'r');
    let fh: FileHandle;
    try {
      fh = await this.handle;
    } catch (err) {
      this.handle = undefined;
      throw err;
    }
    await fh.sync();
  }

  private start(): Promise<void> {
    const running = this.sync().finally(() => {
      if (this.running === running) this.running = undefined;
    });
    this.running = running;
    return running;
  }
}


/** The outcome of a helper program. */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a program (no shell) and resolves with its exit code and output; rejects only when it cannot start. */
export function run(command: string, args: readonly string[], cwd?: string): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { cwd, encoding: 'utf8', maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      if (err !== null && typeof (err as { code?: unknown }).code !== 'number') {
        reject(err);
        return;
      }
      resolve({ code: err === null ? 0 : Number((err as { code: number }).code), stdout, stderr });
    });
  });
}

/** Flushes the file system that holds path (syncfs(2) through `sync -f`). Internal when it fails. */
export async function syncFileSystem(path: string): Promise<void> {
  const result = await run('sync', ['-f', path]);
  if (result.code !== 0) throw internal(`sync -f ${path} failed: ${result.stderr.trim()}`);
}

/** Runs tasks one at a time, in call order. */
export class Mutex {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(task: () => Promise<T>): Promise<T> {
    const next = this.tail.then(task, task);
    this.tail = next.catch(() => undefined);
    return next;
  }
}

const ignoreMissing = (err: unknown): void => {
  if (errnoOf(err) !== 'ENOENT') throw err;
};

/**
 * Deletes the tree at path, like `rm -rf` (nothing when it is gone), one
 * call at a time: a directory costs a readdir (with entry types) and an
 * rmdir, a file an unlink — about half the calls of fs.rm's lstat-and-retry
 * walk — and never more than one worker of the libuv pool is busy with it,
 * so a deletion in the background leaves the pool to the calls in flight.
 * Symlinks are removed, never followed. A directory that fills again while
 * it is emptied (a `cp` of a snapshotter that was killed mid-prepare goes on
 * writing: nothing tied it to its parent) is emptied again, for up to
 * REFILL_TRIES rounds. Raises what the file system raises.
 */
export async function removeTree(path: string): Promise<void> {
  for (let round = 1; ; round++) {
    try {
      return await removeTreeOnce(path);
    } catch (err) {
      if (errnoOf(err) !== 'ENOTEMPTY' || round === REFILL_TRIES) throw err;
      await new Promise((resolve) => setTimeout(resolve, 10 * round));
    }
  }
}

/** Rounds of removeTree for a tree that another process still writes to. */
const REFILL_TRIES = 10;

async function removeTreeOnce(path: string): Promise<void> {
  let entries: Dirent[];
  try {
    entries = await readdir(path, { withFileTypes: true });
  } catch (err) {
    if (errnoOf(err) === 'ENOTDIR') return unlink(path).catch(ignoreMissing);
    return ignoreMissing(err);
  }
  for (const entry of entries) {
    const child = join(path, entry.name);
    if (entry.isDirectory()) {
      await removeTreeOnce(child);
      continue;
    }
    try {
      await unlink(child);
    } catch (err) {
      // A file system that reports no entry types shows directories as unknown: unlink says EISDIR.
      if (errnoOf(err) === 'EISDIR') await removeTreeOnce(child);
      else ignoreMissing(err);
    }
  }
  await rmdir(path).catch(ignoreMissing);
}
