import { execFile } from 'node:child_process';
import { errnoOf, internal, syncDir } from '@strata/kit';

export { errnoOf, ioFailure, syncDir, TEMP_FILE, writeFileDurably } from '@strata/kit';

/** Mode of the root and of every snapshot's directory (SECURITY.md: no host user reaches inside). */
export const PRIVATE_DIR_MODE = 0o700;
/** Mode of a snapshot's fs/ directory, the root of the file system it shows. */
export const FS_DIR_MODE = 0o755;

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
