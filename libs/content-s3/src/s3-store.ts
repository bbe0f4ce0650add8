import { createHash, randomBytes } from 'node:crypto';
import {
  applyLabelUpdate,
  createLeaseManager,
  fieldsOf,
  parseFilters,
  validateLabels,
  validateRef,
  type BlobReader,
  type CommitOptions,
  type Info,
  type Labels,
  type LeaseManager,
  type MetadataStore,
  type ReadRange,
  type Status,
  type Store,
  type Writer,
  type WriterOptions,
} from '@strata/content';
import {
  alreadyExists,
  failedPrecondition,
  internal,
  invalidArgument,
  notFound,
  outOfRange,
  resourceExhausted,
  unavailable,
} from '@strata/kit';
import { Digester, digestHex, parseDigest, type Digest } from '@strata/oci';
import { CopyDestinationOptions, CopySourceOptions } from 'minio';
import { connectS3, MAX_PART_SIZE, MIN_PART_SIZE, translateS3Error, type S3Connection, type S3ConnectionOptions, type S3Object } from './s3-connection.js';
import { readAll, s3MetadataStore } from './s3-metadata-store.js';

/** Settings of an S3 content store. */
export interface S3StoreOptions extends S3ConnectionOptions {
  /**
   * Bytes per multipart part, 5 MiB to 5 GiB; 16 MiB by default. Each open
   * writer holds up to one part in memory. A writer that announces a total
   * over 10,000 parts uses larger parts.
   */
  partSize?: number;
}

/** An S3 content store with the metadata store and leases kept beside it. */
export interface S3Content {
  store: Store;
  leases: LeaseManager;
  metadata: MetadataStore;
}

interface Part {
  partNumber: number;
  etag: string;
  size: number;
}

/** The ingest state object `<prefix>ingests/<sha256(ref)>.json`. */
interface StoredIngest {
  /** Random id of this incarnation of the ingest, to tell a restarted one apart. */
  id: string;
  ref: string;
  total: number;
  expected?: string;
  startedAt: string;
  updatedAt: string;
  uploadKey?: string;
  uploadId?: string;
  parts: Part[];
  /** Bytes in uploaded parts: what survives this process. */
  offset: number;
}

/** An ingest written by this process: the stored state plus the running hash and the bytes of the unfinished part. */
interface LiveIngest {
  id: string;
  ref: string;
  total: number;
  expected?: Digest;
  startedAt: Date;
  updatedAt: Date;
  partSize: number;
  upload?: { key: string; uploadId: string; completed: boolean };
  parts: Part[];
  uploaded: number;
  pending: Buffer[];
  pendingBytes: number;
  hash: Digester;
}

/** Labels and timestamps of a blob, kept in the metadata store at `labels/sha256/<hex>`. */
interface BlobRecord {
  createdAt: string;
  updatedAt: string;
  labels: Labels;
}

const DEFAULT_PART_SIZE = 16 * 1024 * 1024;
const MAX_PARTS = 10_000;
const MAX_COPY = 5 * 1024 * 1024 * 1024;
const COPY_PART = 1024 * 1024 * 1024;
const WALK_BATCH = 32;
const HEX = /^[a-f0-9]{64}$/;

function checkPartSize(partSize: number | undefined): number {
  const size = partSize ?? DEFAULT_PART_SIZE;
  if (!Number.isSafeInteger(size) || size < MIN_PART_SIZE || size > MAX_PART_SIZE) {
    throw invalidArgument(`invalid S3 part size ${partSize}: use ${MIN_PART_SIZE} (5 MiB) to ${MAX_PART_SIZE} (5 GiB) bytes`);
  }
  return size;
}

function checkCount(value: number | undefined, what: string): number {
  if (value === undefined) return 0;
  if (!Number.isSafeInteger(value) || value < 0) throw invalidArgument(`invalid ${what} ${value}: must be a whole number of bytes, 0 or more`);
  return value;
}

function optionalDigest(value: string | undefined): Digest | undefined {
  return value === undefined || value === '' ? undefined : parseDigest(value);
}

const sha256Hex = (text: string) => createHash('sha256').update(text).digest('hex');

/** Runs functions one after another per key; a failure does not stop the next. */
function keyedQueue() {
  const tails = new Map<string, Promise<unknown>>();
  return <T>(key: string, fn: () => Promise<T>): Promise<T> => {
    const next = (tails.get(key) ?? Promise.resolve()).then(fn, fn);
    const tail = next.catch(() => undefined);
    tails.set(key, tail);
    void tail.then(() => tails.get(key) === tail && tails.delete(key));
    return next;
  };
}

async function* streamChunks(stream: AsyncIterable<Buffer>, onError: (err: unknown) => Error): AsyncIterable<Uint8Array> {
  try {
    for await (const chunk of stream) yield chunk;
  } catch (err) {
    throw onError(err);
  }
}

/** The store over an open connection; close() closes the connection. */
export function s3Store(conn: S3Connection, meta: MetadataStore, partSize = DEFAULT_PART_SIZE): Store {
  const { bucket, prefix, logger } = conn;
  checkPartSize(partSize);
  const blobsRoot = `${prefix}blobs/sha256/`;
  const ingestsRoot = `${prefix}ingests/`;
  const blobKey = (d: Digest) => `${blobsRoot}${digestHex(d)}`;
  const ingestKey = (ref: string) => `${ingestsRoot}${sha256Hex(ref)}.json`;
  const stagingKey = (ref: string) => `${ingestsRoot}${sha256Hex(ref)}.data`;
  const recordKey = (d: Digest) => `labels/sha256/${digestHex(d)}`;
  /** Ingests written by this process, with their hash state, kept after close for a resume. */
  const live = new Map<string, LiveIngest>();
  /** Refs with an open writer. */
  const held = new Set<string>();
  const perDigest = keyedQueue();

  const statBlob = (d: Digest) => conn.optional(`looking up blob ${d}`, (c) => c.statObject(bucket, blobKey(d)));

  const infoOf = (d: Digest, size: number, lastModified: Date, record: BlobRecord | undefined): Info => ({
    digest: d,
    size,
    createdAt: record === undefined ? lastModified : new Date(record.createdAt),
    updatedAt: record === undefined ? lastModified : new Date(record.updatedAt),
    labels: record?.labels ?? {},
  });

  /** The ingest state object at key; undefined when absent or not an ingest state (logged: a writer replaces it). */
  const readIngest = async (key: string, what: string): Promise<StoredIngest | undefined> => {
    const body = await conn.optional(what, async (c) => readAll(await c.getObject(bucket, key)));
    if (body === undefined) return undefined;
    try {
      const state = JSON.parse(body.toString('utf8')) as StoredIngest;
      if (typeof state.id === 'string' && typeof state.ref === 'string' && typeof state.offset === 'number' && Array.isArray(state.parts)) {
        return state;
      }
    } catch {
      /* reported below */
    }
    logger.warn({ key }, 'ignoring an object under ingests/ that is not an ingest state');
    return undefined;
  };

  const loadIngest = (ref: string) => readIngest(ingestKey(ref), `reading the state of ingest ${ref}`);

  const saveIngest = async (ing: LiveIngest): Promise<void> => {
    const stored: StoredIngest = {
      id: ing.id,
      ref: ing.ref,
      total: ing.total,
      ...(ing.expected === undefined ? {} : { expected: ing.expected }),
      startedAt: ing.startedAt.toISOString(),
      updatedAt: ing.updatedAt.toISOString(),
      ...(ing.upload === undefined ? {} : { uploadKey: ing.upload.key, uploadId: ing.upload.uploadId }),
      parts: ing.parts,
      offset: ing.uploaded,
    };
    const body = Buffer.from(JSON.stringify(stored));
    await conn.call(`saving the state of ingest ${ing.ref}`, (c) =>
      c.putObject(bucket, ingestKey(ing.ref), body, body.length, { 'Content-Type': 'application/json' }),
    );
  };

  /** Aborts a multipart upload; a failure is logged, not raised (a bucket lifecycle rule reaps what is left). */
  const abortUpload = async (ref: string, key: string, uploadId: string): Promise<void> => {
    try {
      await conn.optional(`aborting the upload of ingest ${ref}`, (c) => c.abortMultipartUpload(bucket, key, encodeURIComponent(uploadId)));
    } catch (err) {
      logger.warn({ ref, key, err: (err as Error).message }, 'multipart upload not aborted');
    }
  };

  const removeQuietly = async (key: string): Promise<void> => {
    try {
      await conn.optional(`removing ${key}`, (c) => c.removeObject(bucket, key));
    } catch (err) {
      logger.warn({ key, err: (err as Error).message }, 'object not removed');
    }
  };

  /** Removes every trace of an ingest: its upload and staged object (best effort), then its state. */
  const discard = async (ref: string, upload: { key: string; uploadId: string } | undefined): Promise<void> => {
    live.delete(ref);
    if (upload !== undefined) await abortUpload(ref, upload.key, upload.uploadId);
    if (upload?.key === stagingKey(ref)) await removeQuietly(upload.key);
    await conn.optional(`deleting the state of ingest ${ref}`, (c) => c.removeObject(bucket, ingestKey(ref)));
  };

  /** discard for a commit that failed verification: a failure to clean up is logged, the verdict raised. */
  const discardRejected = async (ing: LiveIngest): Promise<void> => {
    try {
      await discard(ing.ref, ing.upload);
    } catch (err) {
      logger.warn({ ref: ing.ref, err: (err as Error).message }, 'rejected ingest not fully discarded');
    }
  };

  const statusOf = (ing: LiveIngest): Status => ({
    ref: ing.ref,
    offset: ing.uploaded + ing.pendingBytes,
    total: ing.total,
    ...(ing.expected === undefined ? {} : { expected: ing.expected }),
    startedAt: ing.startedAt,
    updatedAt: ing.updatedAt,
  });

  const storedStatus = (s: StoredIngest): Status => ({
    ref: s.ref,
    offset: s.offset,
    total: s.total,
    ...(s.expected === undefined ? {} : { expected: s.expected as Digest }),
    startedAt: new Date(s.startedAt),
    updatedAt: new Date(s.updatedAt),
  });

  /** The status of a stored ingest, with the in-memory offset when this process is writing it. */
  const currentStatus = (s: StoredIngest): Status => {
    const mine = live.get(s.ref);
    return mine !== undefined && mine.id === s.id ? statusOf(mine) : storedStatus(s);
  };

  const newIngest = (ref: string, total: number, expected: Digest | undefined): LiveIngest => {
    const now = new Date();
    return {
      id: randomBytes(12).toString('hex'),
      ref,
      total,
      ...(expected === undefined ? {} : { expected }),
      startedAt: now,
      updatedAt: now,
      partSize: Math.min(MAX_PART_SIZE, Math.max(partSize, Math.ceil(total / MAX_PARTS))),
      parts: [],
      uploaded: 0,
      pending: [],
      pendingBytes: 0,
      hash: new Digester(),
    };
  };

  /** The ingest a writer for ref continues: this process's own, or a fresh one replacing state it cannot resume. */
  const openIngest = async (ref: string, total: number, expected: Digest | undefined): Promise<LiveIngest> => {
    const stored = await loadIngest(ref);
    const mine = live.get(ref);
    if (stored !== undefined && mine !== undefined && mine.id === stored.id) {
      if (total > 0 && mine.total > 0 && total !== mine.total) {
        throw failedPrecondition(`ingest ${ref} was started with total ${mine.total}, not ${total}: abort it to start over`, {
          fields: { ref },
        });
      }
      if (expected !== undefined && mine.expected !== undefined && expected !== mine.expected) {
        throw failedPrecondition(`ingest ${ref} was started expecting ${mine.expected}, not ${expected}: abort it to start over`, {
          fields: { ref },
        });
      }
      if ((total > 0 && mine.total === 0) || (expected !== undefined && mine.expected === undefined)) {
        if (total > 0) mine.total = total;
        if (expected !== undefined) mine.expected = expected;
        mine.updatedAt = new Date();
        await saveIngest(mine);
      }
      return mine;
    }
    live.delete(ref);
    if (stored !== undefined) {
      logger.info({ ref, offset: stored.offset }, 'restarting an ingest whose hash state this process does not have');
      if (stored.uploadKey !== undefined && stored.uploadId !== undefined) await abortUpload(ref, stored.uploadKey, stored.uploadId);
    }
    const ing = newIngest(ref, total || stored?.total || 0, expected ?? optionalDigest(stored?.expected));
    await saveIngest(ing);
    live.set(ref, ing);
    return ing;
  };

  const uploadPart = async (ing: LiveIngest, body: Buffer): Promise<void> => {
    if (ing.parts.length >= MAX_PARTS) {
      throw resourceExhausted(
        `ingest ${ing.ref} exceeds ${MAX_PARTS} parts of ${ing.partSize} bytes: announce the total size when opening the writer, or raise the part size`,
        { fields: { ref: ing.ref } },
      );
    }
    if (ing.upload === undefined) {
      const key = ing.expected === undefined ? stagingKey(ing.ref) : blobKey(ing.expected);
      const uploadId = await conn.call(`starting the upload of ingest ${ing.ref}`, (c) => c.initiateNewMultipartUpload(bucket, key, {}));
      ing.upload = { key, uploadId, completed: false };
    }
    const { key, uploadId } = ing.upload;
    const partNumber = ing.parts.length + 1;
    const md5 = createHash('md5').update(body).digest('base64');
    const res = await conn.call(`uploading part ${partNumber} of ingest ${ing.ref}`, (c) =>
      c.uploadPart(
        { bucketName: bucket, objectName: key, uploadID: encodeURIComponent(uploadId), partNumber, headers: { 'Content-MD5': md5 } },
        body,
      ),
    );
    ing.parts.push({ partNumber, etag: res.etag, size: body.length });
    ing.uploaded += body.length;
    logger.debug({ ref: ing.ref, partNumber, size: body.length }, 'uploaded part');
  };

  /** Uploads every full part of the pending bytes. */
  const flushParts = async (ing: LiveIngest): Promise<void> => {
    const all = Buffer.concat(ing.pending, ing.pendingBytes);
    let sent = 0;
    try {
      while (all.length - sent >= ing.partSize) {
        await uploadPart(ing, all.subarray(sent, sent + ing.partSize));
        sent += ing.partSize;
        ing.updatedAt = new Date();
        await saveIngest(ing);
      }
    } finally {
      const rest = Buffer.from(all.subarray(sent));
      ing.pending = rest.length === 0 ? [] : [rest];
      ing.pendingBytes = rest.length;
    }
  };

  /** Copies a completed staged object to its blob key: one CopyObject up to 5 GiB, an UploadPartCopy per GiB above. */
  const copyObject = async (ref: string, source: string, target: string, size: number): Promise<void> => {
    if (size <= MAX_COPY) {
      await conn.call(`copying ingest ${ref} to ${target}`, (c) =>
        c.copyObject(new CopySourceOptions({ Bucket: bucket, Object: source }), new CopyDestinationOptions({ Bucket: bucket, Object: target })),
      );
      return;
    }
    const uploadId = await conn.call(`starting the copy of ingest ${ref}`, (c) => c.initiateNewMultipartUpload(bucket, target, {}));
    try {
      const parts: { part: number; etag: string }[] = [];
      for (let start = 0, part = 1; start < size; start += COPY_PART, part++) {
        const end = Math.min(size, start + COPY_PART) - 1;
        const res = await conn.call(`copying part ${part} of ingest ${ref}`, (c) =>
          c.uploadPart({
            bucketName: bucket,
            objectName: target,
            uploadID: encodeURIComponent(uploadId),
            partNumber: part,
            headers: { 'x-amz-copy-source': `${bucket}/${source}`, 'x-amz-copy-source-range': `bytes=${start}-${end}` },
          }),
        );
        parts.push({ part, etag: res.etag });
      }
      await conn.call(`completing the copy of ingest ${ref}`, (c) => c.completeMultipartUpload(bucket, target, uploadId, parts));
    } catch (err) {
      await abortUpload(ref, target, uploadId);
      throw err;
    }
  };

  /**
   * What a failed write or commit rolls back to. Parts uploaded since are
   * forgotten; their numbers are uploaded again later, which replaces them.
   */
  const snapshot = (ing: LiveIngest) => ({
    hash: ing.hash.copy(),
    pending: [...ing.pending],
    pendingBytes: ing.pendingBytes,
    parts: [...ing.parts],
    uploaded: ing.uploaded,
    updatedAt: ing.updatedAt,
  });

  const commit = async (ing: LiveIngest, options: CommitOptions): Promise<Info> => {
    const labels = validateLabels({ ...(options.labels ?? {}) });
    const total = checkCount(options.total, 'total') || ing.total;
    const expected = optionalDigest(options.expected);
    const size = ing.uploaded + ing.pendingBytes;
    const digest = ing.hash.digest();
    const fields = { ref: ing.ref, digest };
    if (total > 0 && size !== total) {
      await discardRejected(ing);
      throw failedPrecondition(`unexpected commit size ${size}, expected ${total}`, { fields });
    }
    for (const want of [ing.expected, expected]) {
      if (want !== undefined && want !== digest) {
        await discardRejected(ing);
        throw failedPrecondition(`unexpected commit digest ${digest}, expected ${want}`, { fields });
      }
    }
    const target = blobKey(digest);
    if (ing.upload !== undefined && ing.upload.key !== target && ing.upload.key !== stagingKey(ing.ref)) {
      throw internal(`ingest ${ing.ref} was uploaded to ${ing.upload.key}, which is not its blob's key`, { fields });
    }
    if ((await statBlob(digest)) !== undefined) {
      await discardRejected(ing);
      throw alreadyExists(`content ${digest} already exists`, { fields });
    }
    const written = new Date().toISOString();
    await meta.put(recordKey(digest), { createdAt: written, updatedAt: written, labels } satisfies BlobRecord);
    if (ing.upload !== undefined && ing.parts.length === 0) {
      await abortUpload(ing.ref, ing.upload.key, ing.upload.uploadId);
      delete ing.upload;
    }
    if (ing.upload === undefined) {
      const body = Buffer.concat(ing.pending, ing.pendingBytes);
      await conn.call(`storing blob ${digest}`, (c) => c.putObject(bucket, target, body, body.length));
    } else {
      const upload = ing.upload;
      if (!upload.completed) {
        const before = snapshot(ing);
        try {
          if (ing.pendingBytes > 0) await uploadPart(ing, Buffer.concat(ing.pending, ing.pendingBytes));
          const parts = ing.parts.map((p) => ({ part: p.partNumber, etag: p.etag }));
          await conn.call(`completing the upload of blob ${digest}`, (c) => c.completeMultipartUpload(bucket, upload.key, upload.uploadId, parts));
        } catch (err) {
          Object.assign(ing, before);
          throw err;
        }
        Object.assign(ing, { pending: [], pendingBytes: 0 });
        upload.completed = true;
      }
      if (upload.key !== target) {
        await copyObject(ing.ref, upload.key, target, size);
        await removeQuietly(upload.key);
      }
    }
    const createdAt = new Date();
    const record: BlobRecord = { createdAt: createdAt.toISOString(), updatedAt: createdAt.toISOString(), labels };
    await meta.put(recordKey(digest), record);
    live.delete(ing.ref);
    await conn.optional(`deleting the state of ingest ${ing.ref}`, (c) => c.removeObject(bucket, ingestKey(ing.ref)));
    logger.info({ ref: ing.ref, digest, size }, 'blob committed');
    return infoOf(digest, size, createdAt, record);
  };

  const makeWriter = (ing: LiveIngest): Writer => {
    let closed = false;
    const queue = keyedQueue();
    const serial = <T>(fn: () => Promise<T>) => queue('', fn);
    const ensureOpen = () => {
      if (closed) throw failedPrecondition(`the writer of ingest ${ing.ref} is closed: open a new one to continue`, { fields: { ref: ing.ref } });
    };
    const release = () => {
      if (closed) return;
      closed = true;
      held.delete(ing.ref);
    };
    return {
      ref: ing.ref,
      get offset() {
        return ing.uploaded + ing.pendingBytes;
      },
      status: async () => statusOf(ing),
      write: (data) =>
        serial(async () => {
          ensureOpen();
          const offset = ing.uploaded + ing.pendingBytes;
          if (ing.total > 0 && offset + data.length > ing.total) {
            throw failedPrecondition(
              `write of ${data.length} bytes at offset ${offset} would pass the announced total of ${ing.total} bytes`,
              { fields: { ref: ing.ref } },
            );
          }
          if (data.length === 0) return;
          const before = ing.pendingBytes + data.length >= ing.partSize ? snapshot(ing) : undefined;
          ing.hash.update(data);
          ing.pending.push(Buffer.from(data));
          ing.pendingBytes += data.length;
          ing.updatedAt = new Date();
          if (before === undefined) return;
          try {
            await flushParts(ing);
          } catch (err) {
            Object.assign(ing, before);
            throw err;
          }
        }),
      commit: (options = {}) =>
        serial(async () => {
          ensureOpen();
          try {
            return await commit(ing, options);
          } finally {
            release();
          }
        }),
      truncate: () =>
        serial(async () => {
          ensureOpen();
          const upload = ing.upload;
          Object.assign(ing, { upload: undefined, parts: [], uploaded: 0, pending: [], pendingBytes: 0, hash: new Digester(), updatedAt: new Date() });
          if (upload !== undefined) {
            await abortUpload(ing.ref, upload.key, upload.uploadId);
            if (upload.completed) await removeQuietly(upload.key);
          }
          await saveIngest(ing);
        }),
      close: () => serial(async () => release()),
    };
  };

  return {
    async read(digest: Digest, range: ReadRange = {}): Promise<BlobReader> {
      const d = parseDigest(digest);
      const offset = checkCount(range.offset, 'read offset');
      const length = checkCount(range.length, 'read length');
      const st = await statBlob(d);
      if (st === undefined) throw notFound(`content ${d} not found`, { fields: { digest: d } });
      if (offset > st.size) {
        throw outOfRange(`read offset ${offset} is past the end of ${d} (${st.size} bytes)`, { fields: { digest: d } });
      }
      const end = length === 0 ? st.size : Math.min(st.size, offset + length);
      if (end === offset) return { size: st.size, chunks: (async function* () {})() };
      const stream = await conn.optional(`reading blob ${d}`, (c) => c.getPartialObject(bucket, blobKey(d), offset, end - offset));
      if (stream === undefined) throw notFound(`content ${d} not found`, { fields: { digest: d } });
      return { size: st.size, chunks: streamChunks(stream, (err) => translateS3Error(conn, `reading blob ${d}`, err)) };
    },

    async info(digest) {
      const d = parseDigest(digest);
      const st = await statBlob(d);
      if (st === undefined) throw notFound(`content ${d} not found`, { fields: { digest: d } });
      return infoOf(d, st.size, st.lastModified, await meta.get<BlobRecord>(recordKey(d)));
    },

    async update(digest, labels, fieldPaths = []) {
      const d = parseDigest(digest);
      applyLabelUpdate({}, labels, fieldPaths);
      return perDigest(d, async () => {
        const st = await statBlob(d);
        if (st === undefined) throw notFound(`content ${d} not found`, { fields: { digest: d } });
        const current = await meta.get<BlobRecord>(recordKey(d));
        const record: BlobRecord = {
          createdAt: current?.createdAt ?? st.lastModified.toISOString(),
          updatedAt: new Date().toISOString(),
          labels: applyLabelUpdate(current?.labels ?? {}, labels, fieldPaths),
        };
        await meta.put(recordKey(d), record);
        return infoOf(d, st.size, st.lastModified, record);
      });
    },

    async *walk(filters = []) {
      const matches = parseFilters(filters);
      const toInfo = async (item: S3Object) => {
        const d = `sha256:${item.name.slice(blobsRoot.length)}` as Digest;
        return infoOf(d, item.size, item.lastModified, await meta.get<BlobRecord>(recordKey(d)));
      };
      let batch: S3Object[] = [];
      const flush = async function* () {
        const infos = await Promise.all(batch.map(toInfo));
        batch = [];
        for (const info of infos) if (matches(fieldsOf(info as unknown as Record<string, unknown>))) yield info;
      };
      for await (const item of conn.list(blobsRoot, 'listing blobs')) {
        if (!HEX.test(item.name.slice(blobsRoot.length))) continue;
        batch.push(item);
        if (batch.length >= WALK_BATCH) yield* flush();
      }
      yield* flush();
    },

    async delete(digest) {
      const d = parseDigest(digest);
      await perDigest(d, async () => {
        if ((await statBlob(d)) === undefined) throw notFound(`content ${d} not found`, { fields: { digest: d } });
        await conn.optional(`deleting blob ${d}`, (c) => c.removeObject(bucket, blobKey(d)));
        await meta.delete(recordKey(d));
      });
      logger.info({ digest: d }, 'blob deleted');
    },

    async writer(options: WriterOptions): Promise<Writer> {
      const ref = validateRef(options.ref);
      const total = checkCount(options.total, 'total');
      const expected = optionalDigest(options.expected);
      if (held.has(ref)) throw unavailable(`ref ${ref} is locked: another writer is open on it`, { fields: { ref } });
      held.add(ref);
      try {
        if (expected !== undefined && (await statBlob(expected)) !== undefined) {
          throw alreadyExists(`content ${expected} already exists`, { fields: { ref, digest: expected } });
        }
        return makeWriter(await openIngest(ref, total, expected));
      } catch (err) {
        held.delete(ref);
        throw err;
      }
    },

    async status(ref) {
      validateRef(ref);
      const stored = await loadIngest(ref);
      if (stored === undefined) throw notFound(`no ingest with ref ${ref}`, { fields: { ref } });
      return currentStatus(stored);
    },

    async listStatuses(filters = []) {
      const matches = parseFilters(filters);
      const out: Status[] = [];
      for await (const { name } of conn.list(ingestsRoot, 'listing ingests')) {
        if (!name.endsWith('.json')) continue;
        const stored = await readIngest(name, 'reading ingest states');
        if (stored === undefined) continue;
        const status = currentStatus(stored);
        if (matches(fieldsOf(status as unknown as Record<string, unknown>))) out.push(status);
      }
      return out;
    },

    async abort(ref) {
      validateRef(ref);
      if (held.has(ref)) throw unavailable(`ingest ${ref} is being written: close its writer before aborting it`, { fields: { ref } });
      const stored = await loadIngest(ref);
      const mine = live.get(ref);
      if (stored === undefined) {
        live.delete(ref);
        throw notFound(`no ingest with ref ${ref}`, { fields: { ref } });
      }
      const upload =
        mine !== undefined && mine.id === stored.id
          ? mine.upload
          : stored.uploadKey !== undefined && stored.uploadId !== undefined
            ? { key: stored.uploadKey, uploadId: stored.uploadId }
            : undefined;
      await discard(ref, upload);
      logger.info({ ref }, 'ingest aborted');
    },

    async close() {
      conn.close();
    },
  };
}

/**
 * A content store in an S3 bucket (MinIO, AWS S3, s3rver…), created when
 * missing. Layout under the key prefix:
 * - `blobs/sha256/<hex>`: committed blobs. Only a finished, verified ingest
 *   writes here, so every object under it has the digest its key names.
 * - `ingests/<sha256(ref)>.json`: the state of an open ingest (ref, total,
 *   expected, times, the multipart upload and its parts, the stored offset);
 *   `ingests/<sha256(ref)>.data` the staging upload of an ingest that did not
 *   announce its digest.
 * - `metadata/`: the metadata store (labels at `labels/sha256/<hex>`,
 *   leases under `leases/`).
 *
 * A writer hashes what it is given and uploads it in parts of partSize bytes.
 * When the ingest announced its expected digest, the parts go to a multipart
 * upload of the blob's own key, completed only at commit after size and
 * digest are verified, so the blob never appears unverified; otherwise they
 * go to the staging key, which is copied to the blob key once verified. A
 * blob smaller than one part is one PUT at commit. A mismatch aborts the
 * upload and deletes the ingest (FailedPrecondition).
 *
 * createdAt is recorded to the millisecond (S3's Last-Modified has whole
 * seconds) in the blob's labels record, which commit writes before the blob
 * appears, so that no one sees the blob without its labels, and again once
 * it has appeared.
 *
 * Resuming: within this process a closed writer's ingest keeps its hash and
 * unsent bytes, so a new writer continues at the same offset. The running
 * hash is not stored in S3: after a restart of the process, an ingest found
 * only in S3 is still reported by status and listStatuses (with the offset of
 * its uploaded parts), but a new writer restarts it at offset 0 and aborts
 * its old upload. One writer per ref per process: a second one is
 * Unavailable. Uploads that a failed abort leaves behind are for a bucket
 * lifecycle rule (AbortIncompleteMultipartUpload) to reap.
 *
 * Errors: InvalidArgument for bad options, digests, refs, labels or
 * filters; Unavailable when the endpoint does not answer (the message names
 * it) or a ref is locked; PermissionDenied when it refuses the credentials;
 * the other kinds as the Store interface says.
 */
export async function createS3Store(options: S3StoreOptions): Promise<Store> {
  const partSize = checkPartSize(options.partSize);
  const conn = await connectS3(options);
  return s3Store(conn, s3MetadataStore(conn), partSize);
}

/**
 * An S3 content store (see createS3Store), the metadata store it keeps labels
 * in (see createS3MetadataStore), and leases kept in that metadata store,
 * all over one connection: closing the store closes it for all three.
 */
export async function createS3Content(options: S3StoreOptions): Promise<S3Content> {
  const partSize = checkPartSize(options.partSize);
  const conn = await connectS3(options);
  const metadata = s3MetadataStore(conn);
  return { store: s3Store(conn, metadata, partSize), leases: createLeaseManager(metadata), metadata };
}
