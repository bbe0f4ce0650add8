import { close, constants, open, read } from 'node:fs';
import { Readable } from 'node:stream';
import { canceled, failedPrecondition, invalidArgument } from '@strata/kit';
import type { TarEntry } from './tar-entry.js';
import { BLOCK_SIZE } from './tar-header.js';
import { describeEntry, encodeEntryHeaders, entryDataSize } from './tar-writer.js';

/** A file whose bytes {@link TarPacker.add} reads itself, from `path` (opened with O_NOFOLLOW). */
export interface TarFileSource {
  path: string;
}

/** Settings of {@link createTarPacker}. */
export interface TarPackerOptions {
  /** Bytes of each chunk of the stream (the last one may be shorter); 1 MiB by default. */
  chunkBytes?: number;
  /** Chunks laid out and being read ahead of the stream's reader, at most; 8 by default. */
  chunksAhead?: number;
  /** File system calls (open, read, close) in flight at once, at most; 4 by default. */
  ioConcurrency?: number;
  /** Files open at once, at most; 64 by default. */
  openFiles?: number;
}

/**
 * A tar writer that lays the archive out in large chunks and reads file
 * data ahead. The bytes are exactly those of {@link createTarWriter} for
 * the same entries and data: each entry is an optional PAX header, a ustar
 * header, its data and zero padding, and finish() writes the two zero
 * blocks that end the archive.
 *
 * add() with a {@link TarFileSource} only reserves the file's place in the
 * chunks and resolves; the file is opened and read (positioned reads, at
 * most ioConcurrency calls in flight, straight into the chunk, no copy)
 * while later entries are added and earlier chunks are read from `stream`.
 * A chunk goes out once full and all reads into it are done, in order.
 * add() waits only while chunksAhead chunks are pending (backpressure), so
 * always consume `stream` while adding.
 *
 * A file whose size no longer matches entry.size when it is read fails the
 * packer with InvalidArgument (`data ended after N of SIZE bytes` / `data
 * is longer than the declared size SIZE`); an error opening or reading it
 * fails it with that error (e.g. ENOENT). The failure destroys `stream`
 * with the error, and pending and later add() calls raise it or
 * FailedPrecondition.
 */
export interface TarPacker {
  /** The archive bytes. Destroying it makes pending and later add() calls fail with Canceled. */
  readonly stream: Readable;
  /**
   * Adds one entry. data is a file's content: bytes (copied), or a file
   * read later (entry.size required, the bytes it must hold). Raises
   * InvalidArgument for an entry that cannot be written (nothing of it is
   * written, the packer stays usable) or a missing size; FailedPrecondition
   * after finish() or a failure; Canceled when the reader destroyed the
   * stream; the error that failed the packer meanwhile.
   */
  add(entry: TarEntry, data?: Uint8Array | TarFileSource): Promise<void>;
  /** Ends the archive; resolves when the last chunk was handed to the stream. Raises like add(). */
  finish(): Promise<void>;
  /** Bytes laid out so far (handed to the stream, or being read ahead). */
  readonly bytesWritten: number;
  /**
   * Hands back a chunk read from `stream` that the reader no longer uses
   * (nor anything it passed the chunk to), so that a later chunk is laid
   * out in it instead of new memory. Chunks of another size are ignored.
   */
  recycle(chunk: Buffer): void;
}

interface Chunk {
  buf: Buffer;
  used: number;
  /** Reads into buf not finished yet. */
  pending: number;
}

/** FIFO counting semaphore: waiters are served in the order they asked. */
class Permits {
  private readonly waiters: Array<() => void> = [];

  constructor(private free: number) {}

  async take(): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return;
    }
    await new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  give(): void {
    const next = this.waiters.shift();
    if (next !== undefined) next();
    else this.free++;
  }
}

const describe = describeEntry;

const openFile = (path: string): Promise<number> =>
  new Promise((resolve, reject) => open(path, constants.O_RDONLY | constants.O_NOFOLLOW, (err, fd) => (err ? reject(err) : resolve(fd))));
const closeFile = (fd: number): Promise<void> => new Promise((resolve) => close(fd, () => resolve()));
const readAt = (fd: number, buf: Buffer, offset: number, length: number, position: number): Promise<number> =>
  new Promise((resolve, reject) => read(fd, buf, offset, length, position, (err, n) => (err ? reject(err) : resolve(n))));

/** Creates a packer (see {@link TarPacker}). */
export function createTarPacker(options: TarPackerOptions = {}): TarPacker {
  const chunkBytes = options.chunkBytes ?? 1 << 20;
  const chunksAhead = Math.max(1, options.chunksAhead ?? 8);
  if (!Number.isSafeInteger(chunkBytes) || chunkBytes < 1) throw invalidArgument(`tar packer chunkBytes ${chunkBytes} is not a whole number of bytes`);
  const io = new Permits(Math.max(1, options.ioConcurrency ?? 4));
  const files = new Permits(Math.max(1, options.openFiles ?? 64));

  /** Chunks laid out and not yet handed to the stream, oldest first; the last one is being filled. */
  const chunks: Chunk[] = [];
  /** Chunk buffers handed back by the reader, at most chunksAhead. */
  const spare: Buffer[] = [];
  let wanted = false;
  let roomWaiter: (() => void) | undefined;
  let finished: (() => void) | undefined;
  let state: 'open' | 'finishing' | 'finished' | 'failed' = 'open';
  let failure: Error | undefined;
  let laidOut = 0;
  let queue: Promise<unknown> = Promise.resolve();

  const wakeRoom = () => {
    const resume = roomWaiter;
    roomWaiter = undefined;
    resume?.();
  };

  const stream = new Readable({
    highWaterMark: chunkBytes,
    read() {
      wanted = true;
      emit();
    },
    destroy(err, callback) {
      if (state !== 'failed' && state !== 'finished') {
        state = 'failed';
        failure = canceled('tar stream was closed by its reader');
      }
      wakeRoom();
      callback(err);
    },
  });

  const fail = (err: unknown): void => {
    if (state === 'failed' || state === 'finished') return;
    state = 'failed';
    failure = err instanceof Error ? err : new Error(String(err));
    chunks.length = 0;
    wakeRoom();
    if (!stream.destroyed) stream.destroy(failure);
  };

  /** Hands every finished chunk at the head to the stream while its reader wants more. */
  function emit(): void {
    while (wanted && state !== 'failed') {
      const head = chunks[0];
      const last = state === 'finishing' && chunks.length === 1;
      if (head === undefined || head.pending > 0 || (head.used < chunkBytes && !last)) break;
      chunks.shift();
      wakeRoom();
      if (head.used > 0) wanted = stream.push(head.used === chunkBytes ? head.buf : head.buf.subarray(0, head.used));
      if (last) {
        state = 'finished';
        stream.push(null);
        finished?.();
        return;
      }
    }
  }

  const throwIfStopped = (): void => {
    if (state === 'failed') throw failure ?? canceled('tar stream was closed by its reader');
  };

  /** The chunk being filled, with room; waits while chunksAhead chunks are pending. */
  const current = async (): Promise<Chunk> => {
    for (;;) {
      throwIfStopped();
      const last = chunks.at(-1);
      if (last !== undefined && last.used < chunkBytes) return last;
      if (chunks.length < chunksAhead) {
        const chunk: Chunk = { buf: spare.pop() ?? Buffer.allocUnsafe(chunkBytes), used: 0, pending: 0 };
        chunks.push(chunk);
        return chunk;
      }
      await new Promise<void>((resolve) => {
        roomWaiter = resolve;
      });
    }
  };

  /** Copies bytes into the chunks, or that many zero bytes when given a number. */
  const put = async (bytes: Uint8Array | number): Promise<void> => {
    const total = typeof bytes === 'number' ? bytes : bytes.length;
    for (let done = 0; done < total; ) {
      const chunk = await current();
      const n = Math.min(total - done, chunkBytes - chunk.used);
      if (typeof bytes === 'number') chunk.buf.fill(0, chunk.used, chunk.used + n);
      else chunk.buf.set(bytes.subarray(done, done + n), chunk.used);
      chunk.used += n;
      laidOut += n;
      done += n;
      if (chunk.used === chunkBytes) emit();
    }
  };

  /** Reads exactly length bytes at position into chunk (or, with probe, one more to see the file grew). */
  const fill = async (entry: TarEntry, fd: number, chunk: Chunk, offset: number, length: number, position: number, size: number, probe: boolean): Promise<void> => {
    const want = probe ? length + 1 : length;
    let got = 0;
    await io.take();
    try {
      while (got < want) {
        throwIfStopped();
        const n = await readAt(fd, chunk.buf, offset + got, want - got, position + got);
        if (n === 0) break;
        got += n;
      }
    } finally {
      io.give();
    }
    if (got < length) throw invalidArgument(`${describe(entry)}: data ended after ${position + got} of ${size} bytes`);
    if (got > length) throw invalidArgument(`${describe(entry)}: data is longer than the declared size ${size}`);
  };

  /** True when the file has bytes at position (it grew past its declared size). */
  const hasMore = async (fd: number, position: number): Promise<boolean> => {
    await io.take();
    try {
      return (await readAt(fd, Buffer.allocUnsafe(1), 0, 1, position)) > 0;
    } finally {
      io.give();
    }
  };

  /**
   * Lays out a file's data in pieces across the chunks and reads each piece
   * as soon as it is laid out (the reads go on while later pieces wait for
   * room). The last piece reads one byte more into the padding that follows
   * it when there is some in the same chunk (it is rewritten with zeros
   * after the read, so a file that grew only fails), else a separate
   * one-byte read checks that the file ends there.
   */
  const putFile = async (entry: TarEntry, source: TarFileSource, size: number): Promise<void> => {
    const pad = (BLOCK_SIZE - (size % BLOCK_SIZE)) % BLOCK_SIZE;
    let fd: number | undefined;
    let probed = false;
    let reading: Promise<void> = files.take().then(async () => {
      await io.take();
      try {
        throwIfStopped();
        fd = await openFile(source.path);
      } finally {
        io.give();
      }
    });
    try {
      for (let position = 0; position < size; ) {
        const chunk = await current();
        const offset = chunk.used;
        const length = Math.min(size - position, chunkBytes - offset);
        const probe = position + length === size && pad > 0 && offset + length < chunkBytes;
        probed ||= probe;
        chunk.pending++;
        chunk.used += length;
        laidOut += length;
        const at = position;
        reading = reading.then(async () => {
          try {
            await fill(entry, fd!, chunk, offset, length, at, size, probe);
          } finally {
            chunk.pending--;
          }
          if (probe) chunk.buf[offset + length] = 0;
          emit();
        });
        position += length;
      }
      reading = reading.then(async () => {
        if (!probed && (await hasMore(fd!, size))) throw invalidArgument(`${describe(entry)}: data is longer than the declared size ${size}`);
      });
    } finally {
      reading
        .finally(async () => {
          if (fd !== undefined) await closeFile(fd);
          files.give();
        })
        .catch(fail);
    }
    await put(pad);
  };

  const checkOpen = (): void => {
    if (state === 'failed' && failure !== undefined) throw failure;
    if (state !== 'open') throw failedPrecondition('tar packer is finished; create a new one');
  };

  const enqueue = (work: () => Promise<void>): Promise<void> => {
    const run = queue.then(() => {
      checkOpen();
      return work();
    });
    queue = run.catch(() => undefined);
    return run;
  };

  return {
    stream,
    get bytesWritten() {
      return laidOut;
    },
    recycle(chunk) {
      if (chunk.length === chunkBytes && spare.length < chunksAhead && !spare.includes(chunk)) spare.push(chunk);
    },
    add(entry, data) {
      return enqueue(async () => {
        const size = entryDataSize(entry, data, 'file');
        const headers = encodeEntryHeaders(entry, size);
        try {
          await put(headers);
          if (data instanceof Uint8Array) {
            await put(data);
            await put((BLOCK_SIZE - (size % BLOCK_SIZE)) % BLOCK_SIZE);
          } else if (data !== undefined && size > 0) {
            await putFile(entry, data, size);
          }
        } catch (err) {
          fail(err);
          throw err;
        }
      });
    },
    finish() {
      return enqueue(async () => {
        try {
          await put(2 * BLOCK_SIZE);
          const end = new Promise<void>((resolve) => {
            finished = resolve;
          });
          state = 'finishing';
          if (chunks.length === 0) chunks.push({ buf: Buffer.alloc(0), used: 0, pending: 0 });
          emit();
          await Promise.race([end, stopped()]);
        } catch (err) {
          fail(err);
          throw err;
        }
        throwIfStopped();
      });
    },
  };

  /** Resolves when the packer fails or its stream is destroyed (for finish() to stop waiting). */
  function stopped(): Promise<void> {
    return new Promise<void>((resolve) => {
      if (state === 'failed') resolve();
      else stream.once('close', () => resolve());
    });
  }
}
