import { close as closeFd, constants, open as openFd, read as readFd } from 'node:fs';
import { lstat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { internal, invalidArgument, notFound, outOfRange } from '@strata/kit';
import type { Digest } from '@strata/oci';
import type { BlobReader, ReadRange } from '@strata/content';
import { errnoOf, ioFailure } from './fs-io.js';

/** Bytes per chunk a read yields (and per read(2)). */
export const READ_CHUNK = 1 << 20;

/**
 * Released chunks a reader keeps for reuse: the one read ahead, the one
 * being read, and the writes a socket holds at a time. More are dropped to
 * the garbage collector.
 */
const SPARE_BUFFERS = 4;

/** A read offset or length: a whole number of bytes, 0 or more; undefined is 0. InvalidArgument otherwise. */
export function wholeNumber(value: unknown, what: string): number {
  if (value === undefined) return 0;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw invalidArgument(`invalid ${what} ${String(value)}: must be a whole number of bytes, 0 or more`);
  }
  return value;
}

/** NotFound naming the digest. */
export const blobNotFound = (digest: Digest) => notFound(`blob ${digest} not found`, { fields: { digest } });

/**
 * Reads range of the committed blob file at path (a path built from a
 * validated digest) in READ_CHUNK pieces; chunks is a Readable. The file is
 * looked at (lstat: a symlink is not a blob) before this resolves and
 * opened, without following a symlink, when the chunks are first read. NotFound when there is no
 * such regular file (also from the iteration, when the blob was deleted in
 * between); OutOfRange when the range starts past the end; InvalidArgument
 * for a malformed range; Internal for other I/O failures.
 */
export async function readBlobFile(path: string, digest: Digest, range: ReadRange = {}): Promise<BlobReader> {
  const offset = wholeNumber(range.offset, 'read offset');
  const length = wholeNumber(range.length, 'read length');
  let size: number;
  try {
    const st = await lstat(path);
    if (!st.isFile()) throw blobNotFound(digest);
    size = st.size;
  } catch (err) {
    if (errnoOf(err) === 'ENOENT' || errnoOf(err) === 'ENOTDIR') throw blobNotFound(digest);
    throw ioFailure(err, `cannot read blob ${digest}`);
  }
  if (offset > size) throw outOfRange(`cannot read ${digest} from offset ${offset}: the blob has ${size} bytes`, { fields: { digest } });
  const end = length === 0 ? size : Math.min(size, offset + length);
  const chunks = new BlobFileStream(path, digest, offset, end);
  return { size, chunks, release: (chunk) => chunks.release(chunk) };
}

/**
 * The bytes [start, end) of a blob file as a Readable (so an HTTP response
 * can pipe it without an async iterator in between). The file is opened,
 * without following a symlink, on the first read, so a reader nobody
 * consumes holds no descriptor; it is closed when the stream ends or is
 * destroyed. Errors: NotFound when the file is gone, Internal otherwise.
 *
 * Chunks are read into READ_CHUNK buffers of its own; one handed back with
 * release() (BlobReader.release: the consumer is done with it) is read into
 * again, so a consumer that releases (pipeBlob) makes a whole blob cost a
 * few buffers instead of one per MiB — each new one is external memory
 * that drives V8 to full garbage collections of the process's heap.
 */
class BlobFileStream extends Readable {
  private fd: number | undefined;
  private position: number;
  /** Whether the range takes more than one read, so that buffers are worth reusing. */
  private readonly recycles: boolean;
  /** The memory of chunks yielded and not released yet (weakly: a consumer may never release). */
  private readonly lent = new WeakSet<ArrayBufferLike>();
  private readonly spare: Buffer[] = [];

  constructor(
    private readonly path: string,
    private readonly digest: Digest,
    start: number,
    private readonly end: number,
  ) {
    super({ highWaterMark: READ_CHUNK });
    this.position = start;
    this.recycles = end - start > READ_CHUNK;
  }

  override _read(): void {
    if (this.position >= this.end) {
      this.push(null);
      return;
    }
    if (this.fd !== undefined) {
      this.readChunk(this.fd);
      return;
    }
    openFd(this.path, constants.O_RDONLY | constants.O_NOFOLLOW, (err, fd) => {
      if (err !== null) return this.destroy(this.failure(err));
      if (this.destroyed) return closeFd(fd, () => undefined);
      this.fd = fd;
      this.readChunk(fd);
    });
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    const fd = this.fd;
    this.fd = undefined;
    if (fd === undefined) callback(err);
    else closeFd(fd, () => callback(err));
  }

  /** Takes back a chunk this stream yielded (see BlobReader.release); anything else is ignored. */
  release(chunk: Uint8Array): void {
    if (!this.lent.delete(chunk.buffer)) return;
    if (this.spare.length < SPARE_BUFFERS && !this.destroyed) this.spare.push(Buffer.from(chunk.buffer, 0, READ_CHUNK));
  }

  private readChunk(fd: number): void {
    const want = Math.min(READ_CHUNK, this.end - this.position);
    const buffer = this.recycles ? (this.spare.pop() ?? Buffer.allocUnsafeSlow(READ_CHUNK)) : Buffer.allocUnsafe(want);
    readFd(fd, buffer, 0, want, this.position, (err, bytesRead) => {
      if (err !== null) return this.destroy(this.failure(err));
      if (bytesRead === 0) return this.destroy(internal(`blob ${this.digest} ended at ${this.position} bytes, before ${this.end}`));
      this.position += bytesRead;
      if (this.recycles) this.lent.add(buffer.buffer);
      this.push(bytesRead === buffer.length ? buffer : buffer.subarray(0, bytesRead));
      if (this.position >= this.end) this.push(null);
    });
  }

  private failure(err: NodeJS.ErrnoException): Error {
    if (err.code === 'ENOENT' || err.code === 'ELOOP') return blobNotFound(this.digest);
    return ioFailure(err, `cannot read blob ${this.digest}`);
  }
}
