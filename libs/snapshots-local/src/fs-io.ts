import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { open, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { internal, isStrataError, resourceExhausted, type StrataError } from '@strata/kit';

/** Mode of the root and of every snapshot's directory (SECURITY.md: no host user reaches inside). */
export const PRIVATE_DIR_MODE = 0o700;
/** Mode of a snapshot's fs/ directory, the root of the file system it shows. */
export const FS_DIR_MODE = 0o755;

/** The errno code of a Node.js system error, if it is one. */
export function errnoOf(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && typeof (err as { code?: unknown }).code === 'string'
    ? (err as { code: string }).code
    : undefined;
}

/** Turns a failed system call into a Strata error: ResourceExhausted for a full disk, Internal otherwise. */
export function ioFailure(err: unknown, what: string): StrataError {
  if (isStrataError(err)) return err;
  const code = errnoOf(err);
  if (code === 'ENOSPC' || code === 'EDQUOT') return resourceExhausted(`${what}: no space left on the device`, { cause: err });
  return internal(`${what}: ${code ?? (err instanceof Error ? err.message : String(err))}`, { cause: err });
}

/** Flushes a directory's entries (a rename, link or unlink in it) to disk. */
export async function syncDir(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Temp files are `<name>.<pid>.<16 hex>.tmp`; TEMP_FILE recognises them. */
export const TEMP_FILE = /\.(\d+)\.[0-9a-f]{16}\.tmp$/;

/**
 * Replaces path with data atomically: a temp file beside it is written and
 * flushed, then renamed over path, and (unless syncDirectory is false) the
 * directory flushed, which makes the rename durable. A crash leaves the old
 * or the new content, and at most a temp file (TEMP_FILE).
 */
export async function writeFileDurably(path: string, data: string, syncDirectory = true): Promise<void> {
  const temp = `${path}.${process.pid}.${randomBytes(8).toString('hex')}.tmp`;
  const fh = await open(temp, 'wx', 0o600);
  try {
    await fh.writeFile(data);
    await fh.datasync();
  } catch (err) {
    await fh.close();
    await unlink(temp).catch(() => undefined);
    throw err;
  }
  await fh.close();
  await rename(temp, path);
  if (syncDirectory) await syncDir(dirname(path));
}

/**
 * Flushes one directory, coalescing calls: a call made while a flush runs
 * waits for the next one, which starts when that ends, so many changes made
 * meanwhile share one flush.
 */
export class DirFlusher {
  private running: Promise<void> | undefined;
  private queued: Promise<void> | undefined;

  constructor(private readonly dir: string) {}

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

  private start(): Promise<void> {
    const running = syncDir(this.dir).finally(() => {
      if (this.running === running) this.running = undefined;
    });
    this.running = running;
    return running;
  }
}

/** True when a process with this pid exists (EPERM counts: it exists, it is not ours). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errnoOf(err) === 'EPERM';
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
