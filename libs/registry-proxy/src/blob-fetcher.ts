import { randomUUID } from 'node:crypto';
import { open, unlink, type FileHandle } from 'node:fs/promises';
import { basename, join } from 'node:path';
import {
  canceled,
  errnoOf,
  failedPrecondition,
  isAlreadyExists,
  isFailedPrecondition,
  isNotFound,
  isUnavailable,
  isUnimplemented,
  tempPathFor,
  unavailable,
  type Logger,
} from '@strata/kit';
import type { BlobReader, Info, Labels, Store, Writer } from '@strata/content';
import { verifyingStream, type Upstream } from '@strata/distribution-client';
import { Digester, digestHex, type Digest } from '@strata/oci';
import type { BlobFetch } from '@strata/registry-http';

/** Label of a blob or manifest cached from an upstream: the upstream's host. */
export const UPSTREAM_LABEL = 'strata.registry.upstream';
/** Label of a blob or manifest cached from an upstream: the repository it was fetched from. */
export const UPSTREAM_REPOSITORY_LABEL = 'strata.registry.upstream-repository';

/** Largest piece a follower reads from the spool at once. */
const READ_CHUNK = 1 << 20;
/** Released pieces a follower keeps to read into again (see BlobReader.release). */
const SPARE_BUFFERS = 4;
/** Bytes of the upstream's body gathered before one write to the spool and the store. */
const BATCH_BYTES = 1 << 20;
/**
 * The latest pieces a fetch with readers keeps in memory: a reader that
 * keeps up takes them from there instead of reading the spool. A client
 * whose socket is full holds its reader back: with 2 pieces a cold skopeo
 * pull through the mirror read 10-50% of the blob back from the spool on a
 * busy 2-core machine, with 8 next to nothing.
 */
const RECENT_PIECES = 8;

/** A piece of a fetch's body in memory: its bytes start at start in the blob. */
interface Piece {
  start: number;
  bytes: Uint8Array;
  /** One of the fetch's recent pieces. */
  recent: boolean;
  /** Views of it that readers hold (not released yet). */
  lent: number;
  /** A BATCH_BYTES buffer that may be filled again once it is neither recent nor lent. */
  reusable: boolean;
}

/**
 * Gathers body's chunks into pieces of BATCH_BYTES (the last one may be
 * smaller), so the spool and the store get one write per piece rather than
 * one per network read. Each piece is gathered into a buffer from take()
 * (BATCH_BYTES long), which nothing else may use until the consumer gives
 * it back. A chunk of BATCH_BYTES or more that arrives while nothing is
 * gathered is passed on as it is. Yields each piece with whether its buffer
 * came from take().
 */
async function* batches(body: AsyncIterable<Uint8Array>, take: () => Buffer): AsyncGenerator<{ bytes: Uint8Array; taken: boolean }> {
  let buffer: Buffer | undefined;
  let gathered = 0;
  for await (const chunk of body) {
    if (gathered === 0 && chunk.length >= BATCH_BYTES) {
      yield { bytes: chunk, taken: false };
      continue;
    }
    for (let pos = 0; pos < chunk.length; ) {
      buffer ??= take();
      const n = Math.min(chunk.length - pos, BATCH_BYTES - gathered);
      buffer.set(chunk.subarray(pos, pos + n), gathered);
      gathered += n;
      pos += n;
      if (gathered < BATCH_BYTES) continue;
      const full = buffer;
      buffer = undefined;
      gathered = 0;
      yield { bytes: full, taken: true };
    }
  }
  if (gathered > 0 && buffer !== undefined) yield { bytes: buffer.subarray(0, gathered), taken: true };
}

/**
 * Passes body on while it stays within size bytes (FailedPrecondition at
 * once for a chunk past size, which is not passed on) and fails when it
 * ends short of size. No hashing: the caller checks the digest.
 */
async function* sizeChecked(body: AsyncIterable<Uint8Array>, size: number, label: string): AsyncGenerator<Uint8Array> {
  let received = 0;
  for await (const chunk of body) {
    if (received + chunk.length > size) {
      throw failedPrecondition(`${label}: body is longer than the declared size of ${size} bytes (got at least ${received + chunk.length})`, { fields: { size } });
    }
    received += chunk.length;
    yield chunk;
  }
  if (received < size) throw failedPrecondition(`${label}: body ended after ${received} of ${size} bytes`, { fields: { size, received } });
}

/** How a promise ended, for one awaited later (no unhandled rejection meanwhile). */
type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };
const settle = <T>(promise: Promise<T>): Promise<Settled<T>> =>
  promise.then(
    (value): Settled<T> => ({ ok: true, value }),
    (error: unknown): Settled<T> => ({ ok: false, error }),
  );

/** The FailedPrecondition of content whose digest is actual, not digest. */
const digestMismatch = (label: string, digest: Digest, size: number, actual: string) =>
  failedPrecondition(`${label}: content has digest ${actual}, not the expected ${digest}; nothing of it may be kept`, { fields: { digest, size, actual } });

/** FailedPrecondition unless the size bytes of the spool hash to digest. */
async function verifySpool(spool: FileHandle, digest: Digest, size: number, label: string): Promise<void> {
  const digester = new Digester();
  const buffer = Buffer.allocUnsafe(Math.min(READ_CHUNK, Math.max(size, 1)));
  for (let position = 0; position < size; ) {
    const { bytesRead } = await spool.read(buffer, 0, Math.min(buffer.length, size - position), position);
    if (bytesRead === 0) throw unavailable(`${label}: the spool ended after ${position} of ${size} bytes`);
    digester.update(buffer.subarray(0, bytesRead));
    position += bytesRead;
  }
  const actual = digester.digest();
  if (actual !== digest) throw digestMismatch(label, digest, size, actual);
}

/**
 * What a fetch without a spool raises when the store did not take the blob
 * (err from a write or the commit): nothing else has checked its bytes. A
 * FailedPrecondition of the commit is a mismatch (sizeChecked has seen the
 * size); anything else is Unavailable.
 */
function notStored(label: string, digest: Digest, size: number, err: unknown) {
  const reason = err instanceof Error ? err.message : String(err);
  if (isFailedPrecondition(err)) {
    const actual = err.fields['digest'];
    if (typeof actual === 'string' && actual !== digest) return digestMismatch(label, digest, size, actual);
    return failedPrecondition(`${label}: the store refused its content as not the expected ${digest} (${reason}); nothing of it may be kept`, {
      fields: { digest, size },
      cause: err,
    });
  }
  return unavailable(`${label}: the store did not take it (${reason}); nothing was cached, pull it again`, { fields: { digest, size }, cause: err });
}

/** Settings of {@link createBlobFetcher}. */
export interface BlobFetcherOptions {
  /** Where fetched blobs are committed. */
  store: Store;
  logger: Logger;
  /** Directory of the spool files that followers read while a fetch runs (unlinked at once, so nothing stays behind). */
  spoolDir: string;
  /**
   * The store's imports directory on this host (a filesystem layer-store's
   * `imports/`), for a store that has importFile. Every fetch then spools
   * there, opens no ingest, and has the store import the spool as it is
   * written (ImportOptions.growing): the store reads the bytes back from
   * the page cache, hashes and syncs them while they arrive, and the blob
   * is committed moments after its final byte; the bytes cross no socket
   * to the layer-store, and are hashed once, by it.
   */
  importsDir?: string;
}

/** A blob at an upstream. */
export interface BlobSource {
  upstream: Upstream;
  /** Its repository at the upstream. */
  repository: string;
  digest: Digest;
  /**
   * The size the caller expects (from a manifest's descriptor), announced
   * to the store's ingest, which opens while the upstream answers either
   * way. An upstream that announces another size gets an ingest of its own
   * size.
   */
  size?: number;
}

/**
 * Fetches cold blobs from upstreams, once per upstream and digest however
 * many requests want them at the same time.
 */
export interface BlobFetcher {
  /** The size of the blob when a fetch of it from this upstream is running; undefined otherwise. */
  inFlightSize(host: string, digest: Digest): Promise<number> | undefined;
  /**
   * Reads the blob (or range) while it is fetched: joins the running fetch
   * of the same upstream and digest, or starts one. Resolves once the
   * upstream has answered with the blob's size; the bytes then arrive as the
   * upstream sends them, or, from a fetch that fetch() started (which keeps
   * no spool), from the store once that fetch is over: its failure, or
   * Unavailable when it did not commit the blob. Nothing is cached unless
   * size and digest match, and the final byte reaches a reader only after
   * that check (the store's commit, or the fetch's own hash), so no reader
   * gets a whole blob that differs from its digest: the iteration fails
   * instead (FailedPrecondition), as it does when the upstream breaks off
   * (Unavailable). When the store takes the blob, it is committed before
   * its final byte reaches the readers. Errors of the upstream's answer
   * (NotFound, Unavailable, …) reject the promise. The reader's release
   * takes chunks back for reuse (BlobReader.release).
   */
  open(source: BlobSource, range?: { offset: number; length?: number }): Promise<BlobReader>;
  /**
   * Stores the blob without reading it: joins the running fetch of the same
   * upstream and digest, or starts one (the store is not asked first).
   * Resolves, and rejects, as open does; the fetch's wait() then follows it
   * to its end by its progress alone. A fetch this starts has no reader to
   * serve: the store hashes the bytes, and when it fails to take them (a
   * write, the commit or the import) the fetch fails (Unavailable;
   * FailedPrecondition for a mismatch) rather than hashing them itself.
   * Without importsDir it keeps no spool, and a reader that joins it gets
   * its bytes once it is over, from the store.
   */
  fetch(source: BlobSource): Promise<BlobFetch>;
}

interface Fetch {
  size: number;
  written: number;
  /** The bytes are the digest's: readers may read all that is written, the final byte included. */
  verified: boolean;
  /** The store committed the blob. */
  committed: boolean;
  failure: unknown;
  ended: boolean;
  /** Readers iterating plus the fetch itself; the spool closes at 0. */
  refs: number;
  /** Started by open(): it serves readers even when the store does not take the blob. */
  readers: boolean;
  closed: boolean;
  /** Undefined for a fetch started by fetch() without importsDir: its readers read the store once it is over. */
  spool: FileHandle | undefined;
  /** With an importing spool: its path, which the store imports as the fetch writes it. */
  importPath: string | undefined;
  /** With a spool: the latest pieces written to it, oldest first (at most RECENT_PIECES). */
  recent: Piece[];
  /** Buffers of pieces no reader holds any more, to gather the next pieces in. */
  spare: Buffer[];
  wake: Array<() => void>;
}

/** Keeps the buffer of piece for the fetch's next pieces once it is neither recent nor lent to a reader. */
function recycle(fetch: Fetch, piece: Piece): void {
  if (piece.reusable && !piece.recent && piece.lent === 0 && fetch.spare.length < RECENT_PIECES) {
    piece.reusable = false;
    fetch.spare.push(Buffer.from(piece.bytes.buffer, 0, BATCH_BYTES));
  }
}

/** Makes the piece that was just written one of the fetch's recent pieces, letting go of the oldest. */
function remember(fetch: Fetch, piece: Piece): void {
  fetch.recent.push(piece);
  if (fetch.recent.length <= RECENT_PIECES) return;
  const oldest = fetch.recent.shift() as Piece;
  oldest.recent = false;
  recycle(fetch, oldest);
}

/** The recent piece that holds the byte at position, if any. */
function recentPiece(fetch: Fetch, position: number): Piece | undefined {
  return fetch.recent.find((piece) => piece.start <= position && position < piece.start + piece.bytes.length);
}

/**
 * Creates the single-flight fetcher. Each fetch streams the upstream's body,
 * in pieces of about 1 MiB, into a store ingest (`proxy-<hex>`, with the
 * expected digest and size) and, when open() started it, an unlinked spool
 * file; readers that keep up take the latest pieces from memory (the fetch
 * keeps RECENT_PIECES of them), the others tail the spool by offset, so
 * memory stays bounded by a few pieces per fetch and one read buffer per
 * reader whatever the blob's size. A slow reader does not slow the fetch.
 * The bytes are hashed once: by the store, whose commit verifies them, the
 * final byte held back from readers until it succeeded;
 * when the fetch has no ingest (another replica holds it) it hashes them
 * itself while streaming ({@link verifyingStream}); when a store write or
 * the commit fails, it hashes the spool before releasing the final byte.
 * In those cases the fetch still serves its readers and commits nothing.
 * With importsDir (a store on this host that imports files), no fetch
 * opens an ingest: its spool is a file of that directory, which the store
 * imports as it grows, the final byte held back until the import
 * succeeded.
 * A fetch started by fetch() has no reader to serve: it fails when the
 * store does not take the bytes; without importsDir it writes no spool (a
 * pull's layers are written once, to the store), and readers that join it
 * wait for its end and read the blob from the store. Committed blobs are
 * labelled with {@link UPSTREAM_LABEL} and {@link UPSTREAM_REPOSITORY_LABEL}.
 */
export function createBlobFetcher(options: BlobFetcherOptions): BlobFetcher {
  const { store, logger, spoolDir } = options;
  /** Undefined once a spool may not be made there (a read-only or foreign directory): fetches then write an ingest. */
  let importsDir = store.importFile === undefined ? undefined : options.importsDir;
  const running = new Map<string, Promise<Fetch>>();
  const keyOf = (host: string, digest: Digest) => `${host}@${digest}`;

  const wakeAll = (fetch: Fetch) => {
    for (const wake of fetch.wake.splice(0)) wake();
  };

  const release = async (fetch: Fetch) => {
    fetch.refs--;
    if (fetch.refs === 0 && fetch.ended && !fetch.closed) {
      fetch.closed = true;
      await fetch.spool?.close();
    }
  };

  /** Opens the fetch's ingest, of size bytes when known; undefined when the store takes none. */
  const openWriter = async (source: BlobSource, size: number | undefined): Promise<Writer | undefined> => {
    try {
      const writer = await store.writer({ ref: `proxy-${digestHex(source.digest)}`, expected: source.digest, ...(size === undefined ? {} : { total: size }) });
      if (writer.offset > 0) await writer.truncate();
      return writer;
    } catch (err) {
      if (isAlreadyExists(err)) return undefined;
      if (isUnavailable(err)) {
        logger.debug({ digest: source.digest }, 'another fetch holds the ingest; serving this one without caching it');
        return undefined;
      }
      logger.warn({ err, digest: source.digest }, 'cannot open an ingest for a fetched blob; serving it without caching it');
      return undefined;
    }
  };

  const discard = async (writer: Writer) => {
    await writer.close().catch(() => undefined);
    await store.abort(writer.ref).catch((err: unknown) => {
      if (!isNotFound(err)) logger.warn({ err, ref: writer.ref }, 'cannot discard the ingest of a failed fetch');
    });
  };

  /** Copies the fetch's complete spool into an ingest and commits it; whether the store took it. */
  const storeSpool = async (fetch: Fetch, source: BlobSource, labels: Labels): Promise<boolean> => {
    const writer = await openWriter(source, fetch.size);
    if (writer === undefined) return false;
    try {
      const buffer = Buffer.allocUnsafe(Math.min(READ_CHUNK, Math.max(fetch.size, 1)));
      for (let position = 0; position < fetch.size; ) {
        const { bytesRead } = await fetch.spool!.read(buffer, 0, Math.min(buffer.length, fetch.size - position), position);
        if (bytesRead === 0) throw unavailable(`the spool ended after ${position} of ${fetch.size} bytes`);
        await writer.write(buffer.subarray(0, bytesRead));
        position += bytesRead;
      }
      await writer.commit({ expected: source.digest, total: fetch.size, labels });
      return true;
    } catch (err) {
      await discard(writer);
      if (isAlreadyExists(err)) return true;
      logger.warn({ err, digest: source.digest }, 'cannot store a fetched blob; it was served, not cached');
      return false;
    }
  };

  /**
   * Settles the fetch by the outcome of the store's import of its spool
   * (begun as the spool was created; the store read it as it was written):
   * committed and verified when the store took it. A store that imports
   * no files (another backend behind the data socket) turns importing off,
   * and this spool goes into an ingest instead. AlreadyExists leaves the
   * spool's bytes unverified: the caller hashes them. A digest mismatch
   * fails the fetch; for a fetch without readers, so does any other
   * failure (nothing else checks the bytes or stores them); with readers,
   * the blob is served but not cached.
   */
  const importDone = async (fetch: Fetch, source: BlobSource, label: string, labels: Labels, outcome: Settled<Info>) => {
    const { digest } = source;
    if (outcome.ok) {
      fetch.committed = fetch.verified = true;
      logger.debug({ digest, size: fetch.size }, 'blob cached');
      return;
    }
    const err = outcome.error;
    // The store removes the file whatever the outcome; this covers a store that never got to it.
    await unlink(fetch.importPath as string).catch(() => undefined);
    if (isAlreadyExists(err)) {
      fetch.committed = true;
      return;
    }
    if (isUnimplemented(err)) {
      importsDir = undefined;
      logger.warn({ err }, 'the layer-store imports no files; fetched blobs go through ingests from now on');
      fetch.committed = fetch.verified = await storeSpool(fetch, source, labels);
      if (!fetch.committed && !fetch.readers) throw notStored(label, digest, fetch.size, err);
      return;
    }
    const actual = isFailedPrecondition(err) ? err.fields['digest'] : undefined;
    if (typeof actual === 'string' && actual !== digest) throw digestMismatch(label, digest, fetch.size, actual);
    if (!fetch.readers) throw notStored(label, digest, fetch.size, err);
    logger.warn({ err, digest }, `cannot import ${label} into the store; it was served, not cached`);
  };

  const run = async (key: string, fetch: Fetch, source: BlobSource, body: AsyncIterable<Uint8Array>, opening: Promise<Writer | undefined>) => {
    const { upstream, repository, digest } = source;
    const label = `blob ${repository}@${digest} from upstream ${upstream.host}`;
    let writer = await opening;
    if (fetch.importPath === undefined && source.size !== undefined && source.size !== fetch.size) {
      if (writer !== undefined) await discard(writer);
      writer = await openWriter(source, fetch.size);
    }
    const labels: Labels = { [UPSTREAM_LABEL]: upstream.host, [UPSTREAM_REPOSITORY_LABEL]: repository };
    // The store checks the digest (it hashes what it stores anyway): by an ingest's commit, or by the import of the
    // spool, which it reads as the fetch writes it. Without either (no ingest could be opened), the fetch hashes as it streams.
    const importing =
      fetch.importPath === undefined ? undefined : settle(store.importFile!(basename(fetch.importPath), { expected: digest, total: fetch.size, labels, growing: true }));
    const hashing = writer === undefined && importing === undefined;
    const { spool } = fetch;
    try {
      const checked = hashing ? verifyingStream(body, digest, fetch.size, { label }) : sizeChecked(body, fetch.size, label);
      // Without a spool no reader reads while the fetch runs: one buffer is filled again for each piece.
      const take = () => fetch.spare.pop() ?? Buffer.allocUnsafeSlow(BATCH_BYTES);
      for await (const { bytes: chunk, taken } of batches(checked, take)) {
        // The spool (for readers) and the store take each piece at the same time.
        const stored = writer?.write(chunk).then(
          () => undefined,
          (err: unknown) => err,
        );
        const piece: Piece = { start: fetch.written, bytes: chunk, recent: true, lent: 0, reusable: taken };
        if (spool !== undefined) await spool.write(chunk, 0, chunk.length, fetch.written);
        fetch.written += chunk.length;
        if (spool !== undefined) remember(fetch, piece);
        // verifyingStream passes the final bytes on only once the digest matched.
        if (hashing && fetch.written === fetch.size) fetch.verified = true;
        wakeAll(fetch);
        const failed = await stored;
        if (spool === undefined) {
          piece.recent = false;
          recycle(fetch, piece);
        }
        if (writer === undefined || failed === undefined) continue;
        // Without a spool no bytes are left to hash: the fetch has failed.
        if (spool === undefined) throw notStored(label, digest, fetch.size, failed);
        logger.warn({ err: failed, digest }, 'cannot write a fetched blob to the store; serving it without caching it');
        await discard(writer);
        writer = undefined;
      }
      if (importing !== undefined) await importDone(fetch, source, label, labels, await importing);
      if (writer !== undefined) {
        const committing = writer;
        writer = undefined;
        try {
          const info = await committing.commit({ expected: digest, total: fetch.size, labels });
          // The store verified size and digest of exactly the bytes the spool holds.
          fetch.verified = info.digest === digest && info.size === fetch.size;
          fetch.committed = fetch.verified;
          logger.debug({ upstream: upstream.host, repository, digest, size: fetch.size }, 'blob cached');
        } catch (err) {
          await discard(committing);
          // AlreadyExists: another writer committed the blob, from bytes the store verified.
          if (!isAlreadyExists(err)) {
            if (spool === undefined) throw notStored(label, digest, fetch.size, err);
            logger.warn({ err, digest }, 'cannot commit a fetched blob to the store; checking its digest here');
          }
        }
      }
      // No verdict from the store (no ingest, a failed write or commit): hash what the readers get (a fetch without a spool has none).
      if (!fetch.verified && spool !== undefined) await verifySpool(spool, digest, fetch.size, label);
      fetch.verified = true;
    } catch (err) {
      fetch.failure = err;
      logger.warn({ err, upstream: upstream.host, repository, digest }, 'blob fetch failed; nothing was cached');
      if (writer !== undefined) await discard(writer);
      if (fetch.importPath !== undefined) {
        // Removing the file makes the store give its import up.
        await unlink(fetch.importPath).catch(() => undefined);
        await importing;
      }
    } finally {
      fetch.ended = true;
      running.delete(key);
      wakeAll(fetch);
      await release(fetch);
    }
  };

  /**
   * Starts the fetch of key; with forReaders, its bytes also go to a spool
   * for readers. With importsDir the spool is made there (for readers or
   * not), and the store imports it as it is written.
   */
  const start = (key: string, source: BlobSource, forReaders: boolean): Promise<Fetch> => {
    const { upstream, repository, digest } = source;
    const importing = importsDir;
    const starting = (async () => {
      // openWriter settles without raising (undefined when the store takes no ingest). The ingest opens while the upstream
      // answers; an importing fetch opens none (unless its spool cannot be made there).
      let opening = importing !== undefined ? Promise.resolve(undefined) : openWriter(source, source.size);
      let download: Awaited<ReturnType<Upstream['getBlob']>>;
      try {
        download = await upstream.getBlob(repository, digest);
      } catch (err) {
        const early = await opening;
        if (early !== undefined) await discard(early);
        throw err;
      }
      let spool: FileHandle | undefined;
      let importPath: string | undefined;
      try {
        const size = download.size ?? (await upstream.headBlob(repository, digest))?.size;
        if (size === undefined) {
          throw unavailable(`upstream ${upstream.host}: blob ${repository}@${digest} has no size: the upstream sent no Content-Length and no longer has it`);
        }
        if (importing !== undefined) {
          // Named as a temp file of this process: the store removes it at its start once this process is gone.
          const path = tempPathFor(join(importing, `proxy-${digestHex(digest).slice(0, 16)}`));
          try {
            spool = await open(path, 'wx+', 0o600);
            importPath = path;
          } catch (err) {
            // Not allowed there (a read-only or foreign directory): every later fetch writes an ingest too. Anything
            // else (the layer-store has not made the directory yet) only this one.
            const refused = ['EACCES', 'EPERM', 'EROFS'].includes(errnoOf(err) ?? '');
            logger.warn({ err, dir: importing }, refused ? "cannot spool into the layer-store's imports directory; fetched blobs go through ingests instead" : "cannot spool into the layer-store's imports directory; this blob goes through an ingest");
            if (refused) importsDir = undefined;
            opening = openWriter(source, size);
          }
        }
        if (forReaders && spool === undefined) {
          const path = join(spoolDir, `strata-proxy-${digestHex(digest).slice(0, 16)}-${randomUUID()}`);
          spool = await open(path, 'wx+', 0o600);
          await unlink(path);
        }
        const fetch: Fetch = {
          size,
          written: 0,
          verified: false,
          committed: false,
          failure: undefined,
          ended: false,
          refs: 1,
          closed: false,
          readers: forReaders,
          spool,
          importPath,
          recent: [],
          spare: [],
          wake: [],
        };
        run(key, fetch, source, download.body, opening).catch((err: unknown) => logger.error({ err, digest }, 'blob fetch did not clean up'));
        return fetch;
      } catch (err) {
        download.body.destroy();
        await spool?.close();
        if (importPath !== undefined) await unlink(importPath).catch(() => undefined);
        const early = await opening;
        if (early !== undefined) await discard(early);
        throw err;
      }
    })();
    running.set(key, starting);
    starting.catch(() => {
      if (running.get(key) === starting) running.delete(key);
    });
    return starting;
  };

  /**
   * One reader's view of a fetch: views of the fetch's recent pieces while
   * the reader keeps up, else the spool's bytes read into READ_CHUNK buffers;
   * release() hands both back for reuse (a consumer that releases, like
   * pipeBlob, makes a whole blob cost a few buffers instead of one per MiB;
   * a piece is filled again only once every reader released its views).
   * Once the fetch is over, or when it has no spool after its end, the
   * store's reader, whose release it passes on.
   */
  const follower = (fetch: Fetch, source: BlobSource, start: number, end: number): Omit<BlobReader, 'size'> => {
    const spare: Buffer[] = [];
    const lent = new WeakSet<ArrayBufferLike>();
    const views = new WeakMap<Uint8Array, Piece>();
    let stored: BlobReader | undefined;
    return {
      chunks: follow(fetch, source, start, end, {
        take: () => spare.pop() ?? Buffer.allocUnsafeSlow(READ_CHUNK),
        lend: (buffer) => lent.add(buffer.buffer),
        lendPiece: (view, piece) => {
          piece.lent++;
          views.set(view, piece);
        },
        stored: (reader) => (stored = reader),
      }),
      release(chunk) {
        const piece = views.get(chunk);
        if (piece !== undefined) {
          views.delete(chunk);
          piece.lent--;
          return recycle(fetch, piece);
        }
        if (!lent.delete(chunk.buffer)) return stored?.release?.(chunk);
        if (spare.length < SPARE_BUFFERS) spare.push(Buffer.from(chunk.buffer, 0, READ_CHUNK));
      },
    };
  };

  async function* follow(
    fetch: Fetch,
    source: BlobSource,
    start: number,
    end: number,
    buffers: { take: () => Buffer; lend: (buffer: Buffer) => void; lendPiece: (view: Uint8Array, piece: Piece) => void; stored: (reader: BlobReader) => void },
  ): AsyncGenerator<Uint8Array> {
    const { spool } = fetch;
    if (spool === undefined || fetch.closed) {
      while (!fetch.ended) await new Promise<void>((resolve) => fetch.wake.push(resolve));
      if (fetch.failure !== undefined) throw fetch.failure;
      let reader: BlobReader;
      try {
        reader = await store.read(source.digest, { offset: start, length: end - start });
      } catch (err) {
        if (!isNotFound(err)) throw err;
        throw unavailable(
          `upstream ${source.upstream.host}: blob ${source.repository}@${source.digest} was fetched, but not committed to the store (another fetch holds its ingest, or the store failed); try again`,
          { fields: { digest: source.digest }, cause: err },
        );
      }
      buffers.stored(reader);
      yield* reader.chunks;
      return;
    }
    fetch.refs++;
    try {
      let position = start;
      while (position < end) {
        if (fetch.failure !== undefined) throw fetch.failure;
        // Until the digest is known to match, the final byte stays back: no reader gets a whole blob that differs from it.
        const readable = fetch.verified ? fetch.written : Math.min(fetch.written, fetch.size - 1);
        if (position < readable) {
          const piece = recentPiece(fetch, position);
          if (piece !== undefined) {
            const view = piece.bytes.subarray(position - piece.start, Math.min(readable, end) - piece.start);
            buffers.lendPiece(view, piece);
            position += view.length;
            yield view;
            continue;
          }
          const buffer = buffers.take();
          const { bytesRead } = await spool.read(buffer, 0, Math.min(READ_CHUNK, readable - position, end - position), position);
          position += bytesRead;
          buffers.lend(buffer);
          yield buffer.subarray(0, bytesRead);
          continue;
        }
        if (fetch.ended) {
          throw unavailable(`upstream ${source.upstream.host}: blob ${source.repository}@${source.digest} ended after ${fetch.written} of ${fetch.size} bytes`);
        }
        await new Promise<void>((resolve) => fetch.wake.push(resolve));
      }
    } finally {
      await release(fetch);
    }
  }

  /** Follows fetch to its end (see BlobFetch.wait) by its progress; it holds no reference to the spool. */
  const wait = async (fetch: Fetch, onProgress?: (received: number) => void, signal?: AbortSignal): Promise<boolean> => {
    const onAbort = () => wakeAll(fetch);
    signal?.addEventListener('abort', onAbort);
    try {
      for (let seen = 0; ; ) {
        if (fetch.written > seen) {
          seen = fetch.written;
          onProgress?.(seen);
        }
        if (fetch.ended) break;
        if (signal?.aborted === true) throw canceled('the fetch was canceled');
        await new Promise<void>((resolve) => fetch.wake.push(resolve));
      }
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
    if (fetch.failure !== undefined) throw fetch.failure;
    return fetch.committed;
  };

  /** Joins the running fetch of source or starts one, for readers or not (see start). */
  const joinOrStart = (source: BlobSource, forReaders: boolean): Promise<Fetch> => {
    const key = keyOf(source.upstream.host, source.digest);
    return running.get(key) ?? start(key, source, forReaders);
  };

  return {
    inFlightSize(host, digest) {
      return running.get(keyOf(host, digest))?.then((fetch) => fetch.size);
    },

    async open(source, range) {
      const fetch = await joinOrStart(source, true);
      const offset = range?.offset ?? 0;
      const end = range?.length === undefined ? fetch.size : Math.min(fetch.size, offset + range.length);
      return { size: fetch.size, ...follower(fetch, source, offset, end) };
    },

    async fetch(source) {
      const fetch = await joinOrStart(source, false);
      return { size: fetch.size, wait: (onProgress, signal) => wait(fetch, onProgress, signal) };
    },
  };
}
