import { constants } from 'node:fs';
import { lstat, open, readFile, rename, rm, unlink, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { failedPrecondition, internal, invalidArgument, type Logger } from '@strata/kit';
import { parseDigest, type Digest } from '@strata/oci';
import { validateLabels, type CommitOptions, type Info, type Labels, type Status, type Writer } from '@strata/content';
import { errnoOf, FILE_MODE, ioFailure, makeDirs, tempPathFor } from './fs-io.js';
import { inlineHashStream, type HashPool, type HashStream } from './hash-pool.js';
import { acquireIngestLock, type IngestLock } from './ingest-lock.js';

/** Bytes gathered in memory before one write(2) to the ingest file. */
const FLUSH_BYTES = 1 << 20;
/** Bytes written between background fdatasync calls, so commit's fsync finds little left to do. */
export const SYNC_BYTES = 8 << 20;
/** Announced totals up to this are hashed on the main thread (manifests, configs): less than a round trip to a worker. */
export const INLINE_HASH_BYTES = 256 << 10;
/** Flushed chunks that may wait for the hashing worker before writes wait for it. */
const HASH_BACKLOG = 8;

/** A FLUSH_BYTES buffer in shared memory: the hashing worker reads it in place. */
const sharedBuffer = (): Buffer => Buffer.from(new SharedArrayBuffer(FLUSH_BYTES));

/** meta.json of an ingest. */
export interface IngestMeta {
  ref: string;
  total: number;
  expected?: Digest;
  startedAt: string;
}

/** What a writer needs from its store. */
export interface WriterContext {
  logger: Logger;
  /** Where the writer's sha256 runs. */
  hashes: HashPool;
  /**
   * Makes the verified, fsynced file at dataPath the blob digest (created at
   * createdAt) and records its labels. AlreadyExists when it is stored.
   */
  publish(dataPath: string, digest: Digest, labels: Labels): Promise<Info>;
  /** The writer stopped holding its ref (closed, committed or failed). */
  released(ref: string): void;
}

/** Reads an ingest's meta.json; undefined when absent or unreadable (a crash while it was created). */
export async function readIngestMeta(dir: string): Promise<IngestMeta | undefined> {
  let text: string;
  try {
    text = await readFile(join(dir, 'meta.json'), 'utf8');
  } catch (err) {
    if (errnoOf(err) === 'ENOENT' || errnoOf(err) === 'ENOTDIR') return undefined;
    throw ioFailure(err, `cannot read ingest state in ${dir}`);
  }
  try {
    const meta = JSON.parse(text) as IngestMeta;
    if (typeof meta.ref !== 'string' || typeof meta.total !== 'number' || typeof meta.startedAt !== 'string') return undefined;
    return meta;
  } catch {
    return undefined;
  }
}

async function writeIngestMeta(dir: string, meta: IngestMeta): Promise<void> {
  const path = join(dir, 'meta.json');
  const tmp = tempPathFor(path);
  try {
    await writeFile(tmp, JSON.stringify(meta), { mode: FILE_MODE, flag: 'wx' });
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
}

/** Creates the ingest directory and locks it, again if a discard removed it meanwhile. */
async function lockIngest(dir: string, ref: string, logger: Logger): Promise<IngestLock> {
  for (let attempt = 0; ; attempt++) {
    try {
      await makeDirs(dir);
      return await acquireIngestLock(dir, ref, logger);
    } catch (err) {
      if (errnoOf(err) !== 'ENOENT' || attempt >= 2) throw ioFailure(err, `cannot open ingest ${ref}`);
    }
  }
}

async function writeFully(fh: FileHandle, buffer: Buffer, length: number, position: number): Promise<void> {
  let done = 0;
  while (done < length) {
    const { bytesWritten } = await fh.write(buffer, done, length - done, position + done);
    done += bytesWritten;
  }
}

/**
 * The writer of one ingest directory (`data`, `ref`, `meta.json`, `lock`).
 * Bytes are gathered into 1 MiB writes, each hashed in place (the buffers
 * are shared memory) by a worker thread (on the main thread when the
 * announced total is at most 256 KiB) (the running sha256 stays in its
 * memory) while it is written and while the next bytes arrive; every 8 MiB
 * written are synced in the background, so commit's fsync finds little
 * left; commit fsyncs, verifies and hands the file to the store.
 * Operations run one at a time in call order.
 */
export class FsWriter implements Writer {
  private written = 0;
  private onDisk = 0;
  private buffer: Buffer = sharedBuffer();
  /** Buffers both written and hashed, for reuse. */
  private spare: Buffer[] = [];
  private buffered = 0;
  private inflight: Promise<void> | undefined;
  private syncing: Promise<void> | undefined;
  private sinceSync = 0;
  private hashing: Promise<void>[] = [];
  private failure: unknown;
  private finished = false;
  private tail: Promise<unknown> = Promise.resolve();
  private updatedAt = new Date();

  private constructor(
    readonly ref: string,
    private readonly dir: string,
    private readonly ctx: WriterContext,
    private readonly lock: IngestLock,
    private fh: FileHandle | undefined,
    private readonly hash: HashStream,
    private meta: IngestMeta,
    existing: number,
  ) {
    this.written = existing;
    this.onDisk = existing;
  }

  /**
   * Opens (creating or resuming) the ingest of ref in dir, taking its lock
   * (Unavailable when held). A resumed ingest is re-hashed from disk; total
   * and expected, when given, replace what it was started with.
   */
  static async open(
    ctx: WriterContext,
    dir: string,
    ref: string,
    options: { total: number; expected?: Digest },
  ): Promise<FsWriter> {
    const lock = await lockIngest(dir, ref, ctx.logger);
    let fh: FileHandle | undefined;
    let hash: HashStream | undefined;
    try {
      const dataPath = join(dir, 'data');
      let meta = await readIngestMeta(dir);
      if (meta !== undefined && meta.ref !== ref) throw internal(`ingest directory ${dir} belongs to ${meta.ref}, not ${ref}`);
      if (meta === undefined) {
        await rm(dataPath, { force: true });
        meta = {
          ref,
          total: options.total,
          ...(options.expected === undefined ? {} : { expected: options.expected }),
          startedAt: new Date().toISOString(),
        };
        await writeFile(join(dir, 'ref'), ref, { mode: FILE_MODE });
        await writeIngestMeta(dir, meta);
      } else {
        const total = options.total > 0 ? options.total : meta.total;
        const expected = options.expected ?? meta.expected;
        if (total !== meta.total || expected !== meta.expected) {
          meta = { ...meta, total, ...(expected === undefined ? {} : { expected }) };
          await writeIngestMeta(dir, meta);
        }
        const st = await lstat(dataPath).catch((err: unknown) => {
          if (errnoOf(err) === 'ENOENT') return undefined;
          throw err;
        });
        if (st !== undefined && (!st.isFile() || st.nlink > 1)) {
          ctx.logger.warn({ ref }, 'dropping ingest data that is also a committed blob (left by a crash during commit)');
          await rm(dataPath, { force: true, recursive: true });
        }
      }
      fh = await open(dataPath, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, FILE_MODE);
      const st = await fh.stat();
      if ((st.mode & 0o200) === 0) await fh.chmod(FILE_MODE);
      hash = meta.total > 0 && meta.total <= INLINE_HASH_BYTES ? inlineHashStream() : ctx.hashes.stream();
      const size = st.size === 0 ? 0 : await hash.loadFile(dataPath);
      if (size > 0) ctx.logger.debug({ ref, offset: size }, 'resuming an ingest');
      return new FsWriter(ref, dir, ctx, lock, fh, hash, meta, size);
    } catch (err) {
      hash?.dispose();
      await fh?.close().catch(() => undefined);
      await lock.release().catch(() => undefined);
      throw ioFailure(err, `cannot open ingest ${ref}`);
    }
  }

  get offset(): number {
    return this.written;
  }

  /** The ingest's state, including bytes not yet handed to the disk. */
  currentStatus(): Status {
    return {
      ref: this.ref,
      offset: this.written,
      total: this.meta.total,
      ...(this.meta.expected === undefined ? {} : { expected: this.meta.expected }),
      startedAt: new Date(this.meta.startedAt),
      updatedAt: new Date(this.updatedAt),
    };
  }

  status(): Promise<Status> {
    return this.serial(async () => {
      this.usable();
      return this.currentStatus();
    });
  }

  write(data: Uint8Array): Promise<void> {
    return this.serial(async () => {
      this.usable();
      const total = this.meta.total;
      if (total > 0 && this.written + data.length > total) {
        throw failedPrecondition(
          `cannot write ${data.length} bytes at offset ${this.written} of ${this.ref}: that passes the announced total of ${total} bytes`,
          { fields: { ref: this.ref } },
        );
      }
      if (data.length === 0) return;
      let pos = 0;
      while (pos < data.length) {
        const n = Math.min(data.length - pos, FLUSH_BYTES - this.buffered);
        this.buffer.set(data.subarray(pos, pos + n), this.buffered);
        this.buffered += n;
        pos += n;
        if (this.buffered === FLUSH_BYTES) await this.flush();
      }
      this.written += data.length;
      this.updatedAt = new Date();
    });
  }

  truncate(): Promise<void> {
    return this.serial(async () => {
      this.usable();
      this.buffered = 0;
      await this.settle();
      try {
        await this.replaceFile();
      } catch (err) {
        this.failure = err;
        throw ioFailure(err, `cannot truncate ingest ${this.ref}`);
      }
      await this.hash.reset();
      this.written = 0;
      this.onDisk = 0;
      this.updatedAt = new Date();
    });
  }

  close(): Promise<void> {
    return this.serial(async () => {
      if (this.finished) return;
      try {
        await this.flush();
        await this.settle();
      } finally {
        await this.finish(false);
      }
    });
  }

  commit(options: CommitOptions = {}): Promise<Info> {
    return this.serial(async () => {
      this.usable();
      let expected: Digest | undefined;
      let labels: Labels;
      let total: number;
      try {
        expected = options.expected === undefined ? this.meta.expected : parseDigest(options.expected);
        labels = validateLabels({ ...(options.labels ?? {}) });
        if (options.total !== undefined && (!Number.isSafeInteger(options.total) || options.total < 0)) {
          throw invalidArgument(`invalid total ${String(options.total)}: must be a whole number of bytes, 0 or more`);
        }
        total = options.total === undefined || options.total === 0 ? this.meta.total : options.total;
      } catch (err) {
        await this.finish(false);
        throw err;
      }
      try {
        await this.flush();
        await this.settle();
        const fh = this.fh!;
        const now = new Date();
        await fh.utimes(now, now);
        await fh.sync();
        await fh.close();
        this.fh = undefined;
      } catch (err) {
        await this.finish(false);
        throw ioFailure(err, `cannot commit ${this.ref}`);
      }
      const size = this.written;
      let digest: Digest;
      try {
        digest = await this.hash.digest();
      } catch (err) {
        await this.finish(false);
        throw ioFailure(err, `cannot commit ${this.ref}`);
      }
      if (total > 0 && size !== total) {
        await this.finish(true);
        throw failedPrecondition(`commit of ${this.ref} failed: got ${size} bytes, expected ${total}`, { fields: { ref: this.ref } });
      }
      if (expected !== undefined && digest !== expected) {
        await this.finish(true);
        throw failedPrecondition(`commit of ${this.ref} failed: got digest ${digest}, expected ${expected}`, {
          fields: { ref: this.ref, digest },
        });
      }
      try {
        return await this.ctx.publish(join(this.dir, 'data'), digest, labels);
      } finally {
        await this.finish(true);
      }
    });
  }

  /**
   * Puts an empty file in place of the ingest's data file: the old one is
   * never cut, so a file that holds an ingest's bytes is only ever appended
   * to (what createFsIngestFollower relies on: a follower of the old file
   * sees it lose its last link, discarded).
   */
  private async replaceFile(): Promise<void> {
    const dataPath = join(this.dir, 'data');
    const tmp = tempPathFor(dataPath);
    const fresh = await open(tmp, constants.O_RDWR | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, FILE_MODE);
    try {
      await rename(tmp, dataPath);
    } catch (err) {
      await fresh.close().catch(() => undefined);
      await unlink(tmp).catch(() => undefined);
      throw err;
    }
    const old = this.fh;
    this.fh = fresh;
    this.sinceSync = 0;
    await old?.close();
  }

  private serial<T>(task: () => Promise<T>): Promise<T> {
    const next = this.tail.then(task);
    this.tail = next.catch(() => undefined);
    return next;
  }

  private usable(): void {
    if (this.finished) throw failedPrecondition(`writer for ${this.ref} is closed`, { fields: { ref: this.ref } });
    if (this.failure !== undefined) throw ioFailure(this.failure, `ingest ${this.ref} failed earlier; close it and resume`);
  }

  /** Starts writing the gathered bytes (after the previous write ends); does not wait for it. */
  private async flush(): Promise<void> {
    await this.inflight;
    if (this.failure !== undefined) throw ioFailure(this.failure, `cannot write ingest ${this.ref}`);
    if (this.buffered === 0) return;
    const out = this.buffer;
    const length = this.buffered;
    const position = this.onDisk;
    this.buffer = this.spare.pop() ?? sharedBuffer();
    this.buffered = 0;
    this.onDisk += length;
    // The worker hashes out in place and the disk write reads it: it is reused once both are done.
    const hashed = this.hash.update(out.subarray(0, length)).catch((err: unknown) => {
      this.failure ??= err;
    });
    this.hashing.push(hashed);
    const fh = this.fh!;
    const written = writeFully(fh, out, length, position);
    void Promise.allSettled([hashed, written]).then(() => this.spare.push(out));
    this.inflight = written.then(
      () => {
        this.inflight = undefined;
        this.sinceSync += length;
        if (this.sinceSync >= SYNC_BYTES && this.syncing === undefined) {
          this.sinceSync = 0;
          this.syncing = fh.datasync().then(
            () => {
              this.syncing = undefined;
            },
            (err: unknown) => {
              this.syncing = undefined;
              this.failure ??= err;
            },
          );
        }
      },
      (err: unknown) => {
        this.inflight = undefined;
        this.failure ??= err;
      },
    );
    while (this.hashing.length > HASH_BACKLOG) await this.hashing.shift();
  }

  /** Waits for the write and the background sync in flight; raises their failure. */
  private async settle(): Promise<void> {
    await this.inflight;
    await this.syncing;
    await Promise.all(this.hashing.splice(0));
    if (this.failure !== undefined) throw ioFailure(this.failure, `cannot write ingest ${this.ref}`);
  }

  /** Stops holding the ref: closes the file and the lock; with discard, removes the ingest. */
  private async finish(discard: boolean): Promise<void> {
    if (this.finished && !discard) return;
    this.finished = true;
    await this.inflight;
    await this.syncing;
    await Promise.all(this.hashing.splice(0));
    this.hash.dispose();
    const fh = this.fh;
    this.fh = undefined;
    try {
      await fh?.close();
      if (discard) await rm(this.dir, { recursive: true, force: true });
      else await this.lock.release();
    } finally {
      this.ctx.released(this.ref);
    }
  }
}
