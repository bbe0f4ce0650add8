import type { FileHandle } from 'node:fs/promises';
import { pause } from '@strata/kit';

/** Longest pause between two looks at a file that has no new bytes yet. */
export const MAX_POLL_MS = 20;

/** A wait of ms milliseconds for a message: whole seconds from 1 s on. */
export const describeWait = (ms: number): string => (ms >= 1000 ? `${Math.round(ms / 1000)} s` : `${ms} ms`);

/** How {@link readGrowingFile} reads, and what it raises. */
export interface GrowingFileOptions {
  /** Bytes to read: the iteration ends once it has yielded them. */
  size: number;
  /** How long the file may gain no bytes before the iteration fails with stalled(). */
  stallMs: number;
  signal?: AbortSignal | undefined;
  /** The buffer the next read goes into, at most length bytes of it (a fresh one, or one the consumer is done with). */
  buffer(length: number): Buffer;
  /** Raised when the file lost its last link or shrank below position: its writer discarded it. */
  discarded(position: number): Error;
  /** Raised when the file gained no bytes for stallMs. */
  stalled(position: number): Error;
  /** Raised when the signal aborted. */
  canceled(): Error;
}

/**
 * Reads the first size bytes of a file that another writer may still be
 * appending to, as they arrive: each read(2) goes into a buffer from
 * options.buffer and is yielded as a view of it; when there is nothing new,
 * it looks again after 1–20 ms (doubling). Fails with discarded() once the
 * file lost its last link or shrank, stalled() when it gained nothing for
 * stallMs, canceled() when the signal aborts. A complete file reads
 * straight through.
 */
export async function* readGrowingFile(fh: FileHandle, options: GrowingFileOptions): AsyncGenerator<Uint8Array> {
  const { size, stallMs, signal } = options;
  let position = 0;
  let progressAt = Date.now();
  let delay = 1;
  while (position < size) {
    if (signal?.aborted === true) throw options.canceled();
    const buffer = options.buffer(size - position);
    const { bytesRead } = await fh.read(buffer, 0, Math.min(buffer.length, size - position), position);
    if (bytesRead > 0) {
      position += bytesRead;
      progressAt = Date.now();
      delay = 1;
      yield bytesRead === buffer.length ? buffer : buffer.subarray(0, bytesRead);
      continue;
    }
    const st = await fh.stat();
    if (st.nlink === 0 || st.size < position) throw options.discarded(position);
    if (Date.now() - progressAt > stallMs) throw options.stalled(position);
    await pause(delay, signal);
    delay = Math.min(delay * 2, MAX_POLL_MS);
  }
}
