import { randomBytes } from 'node:crypto';
import { open, rename, rm, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { internal, isStrataError, resourceExhausted, type StrataError } from './errors.js';

/** The errno code of a Node.js system error (`ENOENT`…), if it is one. */
export function errnoOf(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && typeof (err as { code?: unknown }).code === 'string'
    ? (err as { code: string }).code
    : undefined;
}

/** Turns a failed system call into a Strata error: ResourceExhausted for a full disk, Internal otherwise; a StrataError passes as it is. */
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

/** Temp files of {@link tempPathFor} are `<name>.<pid>.<16 hex>.tmp`; TEMP_FILE recognises them (group 1 is the pid). */
export const TEMP_FILE = /\.(\d+)\.[0-9a-f]{16}\.tmp$/;

/** A temp-file name next to path: `<path>.<pid>.<16 hex>.tmp`. */
export function tempPathFor(path: string): string {
  return `${path}.${process.pid}.${randomBytes(8).toString('hex')}.tmp`;
}

/**
 * Replaces path with data atomically: a temp file beside it (mode 0600) is
 * written and flushed, then renamed over path, and (unless syncDirectory is
 * false) the directory flushed, which makes the rename durable. A crash
 * leaves the old or the new content, and at most a temp file (TEMP_FILE).
 * Raises what the file system raises.
 */
export async function writeFileDurably(path: string, data: string | Uint8Array, syncDirectory = true): Promise<void> {
  const temp = tempPathFor(path);
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

/** Directories {@link discardDir} renamed away, still being deleted: `.removed-<name>-<8 hex>`. */
export const DISCARDED_DIR = /^\.removed-/;

/**
 * Takes the directory path out of the way at once, renamed beside itself to
 * `.removed-<name>-<8 hex>` (so its name is free when this resolves), and
 * deletes it with everything in it in the background; onError hears of a
 * failed deletion. Nothing when path does not exist. What a crash leaves of
 * such directories, their owner finds by DISCARDED_DIR and hands to
 * {@link deleteInBackground}.
 */
export async function discardDir(path: string, onError: (err: unknown, dir: string) => void): Promise<void> {
  const removed = join(dirname(path), `.removed-${basename(path)}-${randomBytes(4).toString('hex')}`);
  try {
    await rename(path, removed);
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return;
    throw err;
  }
  deleteInBackground(removed, onError);
}

/** Deletes dir with everything in it without waiting (retrying what a process still ending adds); onError hears of a failure. */
export function deleteInBackground(dir: string, onError: (err: unknown, dir: string) => void): void {
  rm(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 20 }).catch((err: unknown) => onError(err, dir));
}
