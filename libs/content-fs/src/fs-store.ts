import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { chmod, link, mkdir, open, readdir, rm, stat, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import {
  alreadyExists,
  failedPrecondition,
  invalidArgument,
  isNotFound,
  notFound,
  unavailable,
  type Logger,
} from '@strata/kit';
import { digestHex, parseDigest, type Digest } from '@strata/oci';
import {
  applyLabelUpdate,
  fieldsOf,
  parseFilters,
  validateLabels,
  validateRef,
  type ImportOptions,
  type BlobReader,
  type Info,
  type Labels,
  type MetadataStore,
  type ReadRange,
  type Status,
  type Store,
  type Writer,
} from '@strata/content';
import { acquireIngestLock } from './ingest-lock.js';
import { createFsMetadataStore } from './fs-metadata-store.js';
import { BLOB_MODE, DIR_MODE, errnoOf, ioFailure, KeyedMutex, removeStaleTemps, syncDir } from './fs-io.js';
import { FsWriter, readIngestMeta, type WriterContext } from './fs-writer.js';
import { holdSharedHashPool } from './hash-pool.js';
import { verifyImportFile } from './import-file.js';
import { blobNotFound, readBlobFile, wholeNumber } from './blob-file.js';

/** What createFsStore and createFsContent open. */
export interface FsStoreOptions {
  /** Directory of the store; created (mode 0700) when missing. */
  root: string;
  /** Narrowed to `component: content-fs`; commits and deletes at debug, broken locks at warn. */
  logger: Logger;
  /** How long a growing import (ImportOptions.growing) may gain no bytes before it fails; 60 s by default. */
  importStallMs?: number;
}

/** Labels of a blob as kept in the MetadataStore under `labels/sha256/<hex>`. */
interface LabelRecord {
  labels: Labels;
  updatedAt: string;
}

/** Where things live under the root. */
export function fsLayout(root: string) {
  return {
    root,
    blobs: join(root, 'blobs', 'sha256'),
    ingest: join(root, 'ingest'),
    /** Whole blobs written by other processes of this host, for Store.importFile. */
    imports: join(root, 'imports'),
    metadata: join(root, 'metadata'),
  };
}

/**
 * Removes the files of a root's imports directory (see fsLayout) that were
 * named as temp files (tempPathFor) by processes that are gone: what a
 * writer that crashed left before the store imported it. The store does so
 * when it opens; a process that writes there does so when it starts again.
 * Returns how many.
 */
export function removeStaleImports(root: string, logger: Logger): Promise<number> {
  return removeStaleTemps(fsLayout(root).imports, 0, logger);
}

/** The file of a committed blob under a root's blobs directory (see fsLayout); digest must be validated. */
export function blobPathOf(blobs: string, digest: Digest): string {
  return join(blobs, digestHex(digest));
}

const labelsKey = (digest: Digest) => `labels/sha256/${digestHex(digest)}`;

/**
 * Ref prefix of an import in progress: `imports/<file name>` is listed
 * with the ingests (status, listStatuses, abort) while the store imports
 * that file, so that a reader can follow it (createFsIngestFollower) as it
 * follows an ingest. No writer may take such a ref.
 */
export const IMPORT_REF_PREFIX = 'imports/';

/** A file name of the imports directory: letters, digits and `._-`, not starting with a dot, 1..255 characters. */
export function validateImportName(name: unknown): string {
  if (typeof name !== 'string' || !/^[A-Za-z0-9_-][A-Za-z0-9._-]{0,254}$/.test(name)) {
    throw invalidArgument(`invalid import file name ${JSON.stringify(name)}: a file name of the imports directory (letters, digits, '._-'), not a path`);
  }
  return name;
}

const ingestNotFound = (ref: string) => notFound(`no ingest with ref ${ref}`, { fields: { ref } });
const locked = (ref: string) => unavailable(`ingest ${ref} is locked by another writer; wait for it to finish`, { fields: { ref } });

/**
 * A content Store on the local filesystem:
 *
 * - `blobs/sha256/<hex>`: committed blobs, mode 0444, each visible only
 *   after its bytes were fsynced and verified against its digest;
 * - `ingest/<sha256 of ref>/{data,ref,meta.json,lock}`: in-progress writes,
 *   resumable across restarts; `lock` (the owning process) keeps other
 *   stores on the same root, in this process or another, from writing the
 *   same ref (Unavailable); the lock of a process that died is broken;
 * - `imports/`: whole blobs that processes on this host wrote as files
 *   for importFile, which links a file there as the blob once it hashed
 *   it; a file named as a temp file (tempPathFor) of a process that is
 *   gone is removed at startup;
 * - `metadata/`: labels (`labels/sha256/<hex>`) and, through
 *   createFsContent, leases, in a createFsMetadataStore.
 *
 * Every directory is mode 0700. Leftover temp files are removed at startup;
 * ingests are kept. createdAt is the blob file's mtime (set at commit);
 * updatedAt is when labels last changed. Errors are those of the Store
 * contract, plus Internal / ResourceExhausted for failed I/O and
 * Unavailable after close.
 */
export async function createFsStore(options: FsStoreOptions): Promise<Store> {
  return openFsStore(options, createFsMetadataStore(fsLayout(options.root).metadata));
}

/** createFsStore with the MetadataStore it keeps labels in (shared with leases by createFsContent). */
export async function openFsStore(options: FsStoreOptions, metadata: MetadataStore): Promise<Store> {
  const layout = fsLayout(options.root);
  const logger = options.logger.child({ component: 'content-fs', root: options.root });
  for (const dir of [layout.root, join(layout.root, 'blobs'), layout.blobs, layout.ingest, layout.imports, layout.metadata]) {
    await mkdir(dir, { recursive: true, mode: DIR_MODE });
    await chmod(dir, DIR_MODE);
  }
  const removed =
    (await removeStaleTemps(layout.metadata, 64, logger)) + (await removeStaleTemps(layout.ingest, 1, logger)) + (await removeStaleImports(layout.root, logger));
  if (removed > 0) logger.info({ removed }, 'removed leftover temp files');

  const importStallMs = options.importStallMs ?? 60_000;
  const active = new Map<string, FsWriter | 'opening'>();
  /** Imports in progress by file name, listed as ingests with ref `imports/<name>`. */
  const importing = new Map<string, { expected: Digest; total: number; startedAt: Date }>();
  const labelLocks = new KeyedMutex();
  // Held from open to close: the first blob written does not wait for a hashing thread to start.
  const hashHold = holdSharedHashPool();
  const hashes = hashHold.pool;
  let closed = false;

  const blobPath = (digest: Digest) => blobPathOf(layout.blobs, digest);
  const ingestDir = (ref: string) => join(layout.ingest, createHash('sha256').update(ref).digest('hex'));
  const ensureOpen = () => {
    if (closed) throw unavailable(`the content store at ${layout.root} is closed`);
  };

  const statBlob = async (digest: Digest) => {
    try {
      const st = await stat(blobPath(digest));
      if (!st.isFile()) throw blobNotFound(digest);
      return st;
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') throw blobNotFound(digest);
      throw ioFailure(err, `cannot read blob ${digest}`);
    }
  };

  const exists = (path: string): Promise<boolean> =>
    stat(path).then(
      () => true,
      () => false,
    );

  const infoOf = async (digest: Digest): Promise<Info> => {
    const st = await statBlob(digest);
    const createdAt = new Date(Math.round(st.mtimeMs));
    const record = await metadata.get<LabelRecord>(labelsKey(digest));
    return {
      digest,
      size: st.size,
      createdAt,
      updatedAt: record === undefined ? createdAt : new Date(record.updatedAt),
      labels: { ...(record?.labels ?? {}) },
    };
  };

  const context: WriterContext = {
    logger,
    hashes,
    async publish(dataPath, digest, labels) {
      const target = blobPath(digest);
      return labelLocks.run(digest, async () => {
        // Labels are recorded before the blob becomes visible, so no reader
        // ever sees the committed blob without them.
        if (await exists(target)) throw alreadyExists(`blob ${digest} already exists`, { fields: { digest } });
        try {
          if (Object.keys(labels).length > 0) await metadata.put(labelsKey(digest), { labels, updatedAt: new Date().toISOString() });
          else await metadata.delete(labelsKey(digest));
          await chmod(dataPath, BLOB_MODE);
          await link(dataPath, target);
        } catch (err) {
          if (errnoOf(err) === 'EEXIST') throw alreadyExists(`blob ${digest} already exists`, { fields: { digest } });
          throw ioFailure(err, `cannot store blob ${digest}`);
        }
        try {
          await syncDir(layout.blobs);
          const info = await infoOf(digest);
          logger.debug({ digest, size: info.size }, 'blob committed');
          return info;
        } catch (err) {
          throw ioFailure(err, `cannot store blob ${digest}`);
        }
      });
    },
    released(ref) {
      active.delete(ref);
    },
  };

  const diskStatus = async (dir: string): Promise<Status | undefined> => {
    const meta = await readIngestMeta(dir);
    if (meta === undefined) return undefined;
    const st = await stat(join(dir, 'data')).catch(() => undefined);
    return {
      ref: meta.ref,
      offset: st?.size ?? 0,
      total: meta.total,
      ...(meta.expected === undefined ? {} : { expected: meta.expected }),
      startedAt: new Date(meta.startedAt),
      updatedAt: st === undefined ? new Date(meta.startedAt) : new Date(Math.round(st.mtimeMs)),
    };
  };

  /** The status of the import of file in progress: its offset is the file's size so far. Undefined when none runs. */
  const importStatus = async (file: string): Promise<Status | undefined> => {
    const entry = importing.get(file);
    if (entry === undefined) return undefined;
    const st = await stat(join(layout.imports, file)).catch(() => undefined);
    return {
      ref: `${IMPORT_REF_PREFIX}${file}`,
      offset: st?.size ?? 0,
      total: entry.total,
      expected: entry.expected,
      startedAt: entry.startedAt,
      updatedAt: st === undefined ? entry.startedAt : new Date(Math.round(st.mtimeMs)),
    };
  };

  const statusOf = async (ref: string, dir: string): Promise<Status | undefined> => {
    if (ref.startsWith(IMPORT_REF_PREFIX)) return importStatus(ref.slice(IMPORT_REF_PREFIX.length));
    const w = active.get(ref);
    return w instanceof FsWriter ? w.currentStatus() : diskStatus(dir);
  };

  return {
    async read(digest, range: ReadRange = {}): Promise<BlobReader> {
      const d = parseDigest(digest);
      wholeNumber(range.offset, 'read offset');
      wholeNumber(range.length, 'read length');
      ensureOpen();
      return readBlobFile(blobPath(d), d, range);
    },

    async info(digest) {
      const d = parseDigest(digest);
      ensureOpen();
      return infoOf(d);
    },

    async update(digest, labels, fieldPaths) {
      const d = parseDigest(digest);
      ensureOpen();
      return labelLocks.run(d, async () => {
        const current = await infoOf(d);
        const next = applyLabelUpdate(current.labels, labels, fieldPaths);
        const updatedAt = new Date();
        await metadata.put(labelsKey(d), { labels: next, updatedAt: updatedAt.toISOString() } satisfies LabelRecord);
        return { ...current, labels: next, updatedAt };
      });
    },

    async *walk(filters) {
      const match = parseFilters(filters);
      ensureOpen();
      let names: string[];
      try {
        names = await readdir(layout.blobs);
      } catch (err) {
        throw ioFailure(err, 'cannot list blobs');
      }
      for (const name of names) {
        if (!/^[a-f0-9]{64}$/.test(name)) continue;
        let info: Info;
        try {
          info = await infoOf(`sha256:${name}` as Digest);
        } catch (err) {
          if (isNotFound(err)) continue;
          throw err;
        }
        if (match(fieldsOf({ ...info }))) yield info;
      }
    },

    async delete(digest) {
      const d = parseDigest(digest);
      ensureOpen();
      await labelLocks.run(d, async () => {
        try {
          await unlink(blobPath(d));
        } catch (err) {
          if (errnoOf(err) === 'ENOENT') throw blobNotFound(d);
          throw ioFailure(err, `cannot delete blob ${d}`);
        }
        await metadata.delete(labelsKey(d));
        logger.debug({ digest: d }, 'blob deleted');
      });
    },

    async writer(options): Promise<Writer> {
      const ref = validateRef(options.ref);
      if (ref.startsWith(IMPORT_REF_PREFIX)) {
        throw invalidArgument(`invalid ref ${ref}: refs starting with ${IMPORT_REF_PREFIX} name files being imported; use another ref`, { fields: { ref } });
      }
      const expected = options.expected === undefined ? undefined : parseDigest(options.expected);
      const total = wholeNumber(options.total, 'total');
      ensureOpen();
      if (expected !== undefined) {
        if (await exists(blobPath(expected))) throw alreadyExists(`blob ${expected} already exists`, { fields: { digest: expected } });
      }
      if (active.has(ref)) throw locked(ref);
      active.set(ref, 'opening');
      let w: FsWriter;
      try {
        w = await FsWriter.open(context, ingestDir(ref), ref, { total, ...(expected === undefined ? {} : { expected }) });
      } catch (err) {
        active.delete(ref);
        throw err;
      }
      active.set(ref, w);
      if (closed) {
        await w.close();
        ensureOpen();
      }
      return w;
    },

    async importFile(name, options: ImportOptions) {
      const file = validateImportName(name);
      const expected = parseDigest(options.expected);
      const total = wholeNumber(options.total, 'total');
      const labels = validateLabels({ ...(options.labels ?? {}) });
      ensureOpen();
      const path = join(layout.imports, file);
      if (importing.has(file)) throw failedPrecondition(`${file} is being imported already`, { fields: { name: file } });
      importing.set(file, { expected, total, startedAt: new Date() });
      let fh: FileHandle;
      try {
        fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
      } catch (err) {
        importing.delete(file);
        if (errnoOf(err) === 'ENOENT') throw notFound(`no file ${file} to import in ${layout.imports}`, { fields: { name: file } });
        await unlink(path).catch(() => undefined);
        if (errnoOf(err) === 'ELOOP') throw invalidArgument(`cannot import ${file}: it is a symbolic link, not a file`, { fields: { name: file } });
        throw ioFailure(err, `cannot import ${file}`);
      }
      try {
        await verifyImportFile(fh, { file, path, expected, total, growing: options.growing === true, stallMs: importStallMs, hashes });
        return await context.publish(path, expected, labels);
      } finally {
        importing.delete(file);
        await fh.close().catch(() => undefined);
        await unlink(path).catch(() => undefined);
      }
    },

    async status(ref) {
      const r = validateRef(ref);
      ensureOpen();
      const status = await statusOf(r, ingestDir(r));
      if (status === undefined) throw ingestNotFound(r);
      return status;
    },

    async listStatuses(filters) {
      const match = parseFilters(filters);
      ensureOpen();
      let names: string[];
      try {
        names = await readdir(layout.ingest);
      } catch (err) {
        throw ioFailure(err, 'cannot list ingests');
      }
      const out: Status[] = [];
      for (const name of names) {
        const dir = join(layout.ingest, name);
        const meta = await readIngestMeta(dir);
        if (meta === undefined) continue;
        const status = await statusOf(meta.ref, dir);
        if (status !== undefined && match(fieldsOf({ ...status }))) out.push(status);
      }
      for (const file of [...importing.keys()]) {
        const status = await importStatus(file);
        if (status !== undefined && match(fieldsOf({ ...status }))) out.push(status);
      }
      return out;
    },

    async abort(ref) {
      const r = validateRef(ref);
      ensureOpen();
      if (r.startsWith(IMPORT_REF_PREFIX)) {
        // Its import then fails, as when the file's writer gives up.
        const file = r.slice(IMPORT_REF_PREFIX.length);
        if (!importing.has(file)) throw ingestNotFound(r);
        await unlink(join(layout.imports, file)).catch(() => undefined);
        logger.debug({ ref: r }, 'import aborted');
        return;
      }
      if (active.has(r)) throw locked(r);
      const dir = ingestDir(r);
      active.set(r, 'opening');
      try {
        if ((await readIngestMeta(dir)) === undefined) throw ingestNotFound(r);
        try {
          await acquireIngestLock(dir, r, logger);
        } catch (err) {
          if (errnoOf(err) === 'ENOENT') throw ingestNotFound(r);
          throw ioFailure(err, `cannot abort ingest ${r}`);
        }
        const present = (await readIngestMeta(dir)) !== undefined;
        await rm(dir, { recursive: true, force: true });
        if (!present) throw ingestNotFound(r);
        logger.debug({ ref: r }, 'ingest aborted');
      } finally {
        active.delete(r);
      }
    },

    async close() {
      if (closed) return;
      closed = true;
      for (const w of [...active.values()]) {
        if (w instanceof FsWriter) await w.close().catch((err: unknown) => logger.warn({ err, ref: w.ref }, 'closing a writer failed'));
      }
      await hashHold.release();
    },
  };
}
