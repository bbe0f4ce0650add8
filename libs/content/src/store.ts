import type { Digest } from '@strata/oci';
import type { BlobReader, CommitOptions, Info, Labels, Lease, ReadRange, Status, WriterOptions } from './types.js';

/**
 * Reads committed blobs.
 *
 * read: NotFound when no blob has the digest; OutOfRange when the range
 * starts past the end. Both are raised by the returned promise, before any
 * byte. InvalidArgument for a malformed digest.
 */
export interface Provider {
  read(digest: Digest, range?: ReadRange): Promise<BlobReader>;
}

/**
 * An open ingest. Exactly one Writer exists per ref at a time; it must be
 * closed or committed to release the ref.
 */
export interface Writer {
  readonly ref: string;
  /** Bytes stored so far. */
  readonly offset: number;
  status(): Promise<Status>;
  /**
   * Appends data at the current offset. FailedPrecondition when the data
   * would pass the announced total (nothing is appended).
   *
   * The writer reads data only until the returned promise settles: it
   * copies the bytes, or hands them to the kernel, before that, and never
   * keeps a reference. So the caller may overwrite or reuse data once the
   * promise settled (resolved or rejected), e.g. gather the next bytes into
   * the same buffer; it must not change data before.
   */
  write(data: Uint8Array): Promise<void>;
  /**
   * Verifies the bytes (size against total, digest against expected, from
   * the options or from when the writer was opened) and makes the blob
   * visible under its digest, durably. On FailedPrecondition (mismatch) the
   * ingest is discarded and nothing is stored. AlreadyExists when the blob
   * is already stored (the ingest is discarded too). The writer is closed
   * afterwards, whatever the outcome.
   */
  commit(options?: CommitOptions): Promise<Info>;
  /** Discards what was written so far (offset 0), keeping the ingest open. */
  truncate(): Promise<void>;
  /** Releases the ref; the ingest and its bytes stay for a later resume. */
  close(): Promise<void>;
}

/**
 * Opens ingests.
 *
 * writer: opens or resumes the ingest named by options.ref (a resumed
 * writer's offset is the bytes stored so far). Unavailable when another
 * writer holds the ref; InvalidArgument for a malformed ref or digest.
 * Opening with an expected digest that is already stored is AlreadyExists.
 */
export interface Ingester {
  writer(options: WriterOptions): Promise<Writer>;
}

/** Inspects and manages committed blobs. */
export interface Manager {
  /** NotFound when absent. */
  info(digest: Digest): Promise<Info>;
  /**
   * Info of the blob, or undefined when absent: info without its NotFound,
   * for callers that expect absence (over gRPC an answer costs less than an
   * error). Optional: {@link findInfo} falls back to info.
   */
  find?(digest: Digest): Promise<Info | undefined>;
  /**
   * Replaces labels. fieldPaths `labels` or `labels.<key>` limit what
   * changes (a listed key absent from labels is removed); none means all
   * labels. NotFound when absent; InvalidArgument for other paths or
   * labels over the limits.
   */
  update(digest: Digest, labels: Labels, fieldPaths?: readonly string[]): Promise<Info>;
  /**
   * Every committed blob matching all filters (see parseFilters). Blobs
   * deleted or added while walking may or may not be seen.
   */
  walk(filters?: readonly string[]): AsyncIterable<Info>;
  /** NotFound when absent. */
  delete(digest: Digest): Promise<void>;
}

/** Inspects and discards ingests. */
export interface IngestManager {
  /** NotFound when no ingest has the ref. */
  status(ref: string): Promise<Status>;
  /** Ingests whose ref matches all filters (`ref==x`, `ref~=regexp`). */
  listStatuses(filters?: readonly string[]): Promise<Status[]>;
  /** Discards an ingest. NotFound when absent; Unavailable while a writer holds it. */
  abort(ref: string): Promise<void>;
}

/** What {@link Store.importFile} checks and attaches. */
export interface ImportOptions {
  /** The digest the file's bytes must have. */
  expected: Digest;
  /** The size the file must have. */
  total: number;
  labels?: Labels;
  /**
   * Its writer is still appending to it (it may be empty yet): the store
   * reads it as it grows, hashing as it goes, until it has total bytes,
   * and fails (FailedPrecondition) once the writer removes it, or
   * (Unavailable) when it gains no bytes for the store's stall time. The
   * writer must write each byte once, in order, and remove the file to
   * give up. Overlaps the store's hashing and syncing with the writing.
   */
  growing?: boolean;
}

/** A content store: all four roles. Implemented by fs, S3 and the gRPC client. */
export interface Store extends Provider, Ingester, Manager, IngestManager {
  /**
   * Commits a whole blob that a process on this host wrote as a file of the
   * store's imports directory (a filesystem store's `imports/`, on the
   * filesystem of its blobs), without its bytes passing through a writer:
   * the store hashes the file, and stores it by linking it, as a commit
   * would (durably, with labels, AlreadyExists when the blob is stored).
   * The store takes the file over: it is gone afterwards, whatever the
   * outcome, and the caller must not change it once this is called (it may
   * keep reading it through a descriptor it holds), unless it is growing
   * (see ImportOptions.growing). InvalidArgument for a
   * name that is not a plain file name of that directory, NotFound when no
   * such file is there, FailedPrecondition when its size or digest is not
   * the expected one (nothing is stored). Optional: only stores that keep
   * blobs as files on this host (the filesystem store, and the gRPC client
   * of one through its data socket) have it.
   */
  importFile?(name: string, options: ImportOptions): Promise<Info>;
  /** Releases the store's resources (open files, connections). */
  close(): Promise<void>;
}

/**
 * Leases hold blobs against garbage collection, e.g. between a download and
 * its unpack. A lease may hold a digest that is not stored yet.
 */
export interface LeaseManager {
  /** AlreadyExists when the id is taken; an empty id gets a generated one. */
  create(options: { id?: string; ttlSeconds?: number; labels?: Labels }): Promise<Lease>;
  /** NotFound when absent. */
  delete(id: string): Promise<void>;
  list(): Promise<Lease[]>;
  /** NotFound when the lease is absent. */
  addResource(id: string, digest: Digest): Promise<void>;
  /**
   * Lets the lease hold every digest of digests (duplicates and digests it
   * holds already are no change) as one change: all are held, or, on an
   * error, none of them. Cheaper than addResource per digest (one write of
   * the lease, one round trip). NotFound when the lease is absent;
   * InvalidArgument for a malformed digest (nothing is added then).
   */
  addResources(id: string, digests: readonly Digest[]): Promise<void>;
  /** NotFound when the lease is absent. */
  deleteResource(id: string, digest: Digest): Promise<void>;
  /** Digests held by leases not expired at `now`. */
  held(now?: Date): Promise<Set<Digest>>;
  /** Deletes leases expired at `now`; returns how many. */
  expire(now?: Date): Promise<number>;
}

/**
 * A small durable key→JSON store for metadata (labels, leases), provided by
 * each backend: a directory on the filesystem, a prefix in S3. Keys are
 * `[a-z0-9._/-]` paths the domain builds from validated names only.
 */
export interface MetadataStore {
  /** Undefined when absent. */
  get<T>(key: string): Promise<T | undefined>;
  /** Atomic replace, durable when it resolves. */
  put(key: string, value: unknown): Promise<void>;
  /** No error when absent. */
  delete(key: string): Promise<void>;
  /** Keys under prefix, in no order. */
  list(prefix: string): Promise<string[]>;
}

/**
 * A blob read while an ingest still writes it (see IngestFollower): the
 * bytes as they are stored, not yet known to be the digest's.
 */
export interface FollowedBlob extends BlobReader {
  /**
   * Resolves once the store has committed the blob followed, with its
   * digest and size, made of the very bytes the chunks gave (the chunks
   * then were a prefix of it, or all of it): only then may anything made
   * from them be kept. FailedPrecondition when the ingest was discarded
   * (a digest or size mismatch, an abort), rewritten (a truncate), or
   * committed as other bytes; Unavailable when the ingest made no progress
   * for the follower's stall time; Canceled when signal aborts. Releases
   * the reader either way.
   */
  confirm(signal?: AbortSignal): Promise<void>;
  /** Releases the reader without confirming (the chunks end); safe to call more than once. */
  close(): Promise<void>;
}

/**
 * Reads blobs while they are being written: a reader on the store's host
 * that gets bytes as an ingest stores them, e.g. to unpack a layer while
 * it downloads.
 *
 * follow: the blob digest of size bytes as the ingest ref writes it. The
 * chunks yield bytes as they are stored, waiting for more until size bytes
 * came; they fail when the ingest is discarded or rewritten, or stalls.
 * Nothing the chunks gave is verified until confirm() resolved. NotFound
 * when no ingest has the ref (it may have been committed meanwhile: read
 * the blob then); InvalidArgument for a malformed ref or digest.
 */
export interface IngestFollower {
  follow(ref: string, digest: Digest, size: number, options?: { signal?: AbortSignal }): Promise<FollowedBlob>;
}
