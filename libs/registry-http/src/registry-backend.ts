import type { BlobReader } from '@strata/content';
import type { Descriptor, Digest } from '@strata/oci';

/**
 * The port the HTTP handler serves the OCI Distribution API from. The
 * handler validates every name, tag, digest and upload id before it calls a
 * backend, so implementations receive only well-formed values.
 *
 * Implementations: the local backend (createLocalBackend: pushed images in
 * the content Store and TagStore); a pull-through backend (an upstream
 * registry in front of the same stores); and a router that picks one per
 * repository (by `ns`, by a host path prefix).
 *
 * Errors: methods raise Strata errors; the handler answers each with the
 * Distribution error code that the error carries (registryError) or, when it
 * carries none, with the default of the endpoint for its kind (NotFound on
 * the manifests endpoint is MANIFEST_UNKNOWN, on the blobs endpoint
 * BLOB_UNKNOWN, on an upload BLOB_UPLOAD_UNKNOWN; InvalidArgument on a
 * manifest PUT is MANIFEST_INVALID…; Unimplemented is UNSUPPORTED,
 * Unavailable UNAVAILABLE). Anything else is a 500 with a generic message,
 * and the cause is logged.
 */
export interface RegistryBackend {
  /**
   * The repository `name` (a valid repository path) as the client asked for
   * it; ns is containerd's `ns=` query parameter (the registry host the
   * client meant, checked with isDomain by the handler), when it sent one. NAME_UNKNOWN when no repository of
   * that name can exist here (e.g. no upstream serves it).
   */
  repository(name: string, options?: RepositoryOptions): Promise<Repository>;
}

/** How the client addressed a repository. */
export interface RepositoryOptions {
  /** containerd's `ns=` query parameter: the registry host the name belongs to. */
  ns?: string;
}

/** A tag or a digest, as in `/v2/<name>/manifests/<reference>`. */
export type ManifestReference = { tag: string; digest?: undefined } | { digest: Digest; tag?: undefined };

/** A manifest or index as served: its descriptor fields. */
export interface ManifestHead {
  digest: Digest;
  /** The stored media type: served as Content-Type. */
  mediaType: string;
  size: number;
}

/** A manifest or index with its bytes (at most the handler's manifest cap). */
export interface ManifestContent extends ManifestHead {
  bytes: Uint8Array;
  /**
   * Only when asked for whileStoring and the manifest was just fetched:
   * resolves once it is stored, rejects with the store's error.
   */
  stored?: Promise<void>;
}

/** How getManifest answers. */
export interface GetManifestOptions {
  /**
   * A manifest the repository fetches from where it mirrors it is answered
   * once verified, while it is being stored (see ManifestContent.stored),
   * instead of after: for a caller that has more to do before it needs the
   * manifest stored, and then awaits stored.
   */
  whileStoring?: boolean;
}

/** A stored blob. */
export interface BlobHead {
  digest: Digest;
  size: number;
}

/** Bytes of a blob to read: offset and length (length undefined: to the end). */
export interface BlobRange {
  offset: number;
  length?: number;
}

/** The state of an upload session. */
export interface UploadStatus {
  /** The session's id: a UUID, used in the Location `/v2/<name>/blobs/uploads/<id>`. */
  id: string;
  /** Bytes received so far; the next chunk starts here. */
  offset: number;
}

/** A chunk of an upload: its body, and what the client declared about it. */
export interface UploadChunk {
  /** The request body, streamed; never buffered whole by the handler. */
  body: AsyncIterable<Uint8Array>;
  /** The declared first byte (Content-Range); must equal the session's offset (else RANGE_INVALID). */
  start?: number;
  /** The declared length (Content-Range or Content-Length); the body must have exactly this many bytes (else SIZE_INVALID). */
  length?: number;
}

/**
 * A blob being fetched into the store (see Repository.fetchBlob), watched
 * without reading its bytes.
 */
export interface BlobFetch {
  /** The blob's size, as the source announced it. */
  readonly size: number;
  /**
   * Resolves once the fetch is over, calling onProgress with the bytes
   * received so far as they arrive: true when the fetch committed the blob
   * to the store, false when its bytes matched the digest but another
   * writer holds the blob's ingest (it is stored once that one commits).
   * Rejects with the fetch's failure: FailedPrecondition when size or
   * digest do not match (nothing is stored), Unavailable when the source
   * broke off; Canceled when signal aborts (the fetch goes on for its
   * other readers).
   */
  wait(onProgress?: (received: number) => void, signal?: AbortSignal): Promise<boolean>;
}

/** What pushed a manifest: its reference, bytes and Content-Type. */
export interface ManifestPut {
  reference: ManifestReference;
  bytes: Uint8Array;
  /** The request's Content-Type (may be absent). */
  contentType?: string;
}

/** The result of a manifest PUT. */
export interface ManifestPutResult extends ManifestHead {
  /** The digest of the manifest's `subject`, answered as the `OCI-Subject` header. */
  subject?: Digest;
}

/** One page of tags. */
export interface TagPage {
  tags: string[];
  /** True when tags after the last one of this page exist (the handler adds a `Link` header). */
  more: boolean;
}

/**
 * One repository of a backend: the Distribution API's operations on it.
 * Pull operations are required; a repository that refuses pushes (a
 * proxied one) raises UNSUPPORTED from the push operations.
 */
export interface Repository {
  /** The repository's name as the client sees it. */
  readonly name: string;
  /**
   * The manifest a tag or digest names, without its bytes (HEAD).
   * MANIFEST_UNKNOWN when absent, also for a digest that names a blob
   * that is not a manifest.
   */
  resolveManifest(reference: ManifestReference): Promise<ManifestHead>;
  /** The manifest with its bytes (GET); errors as resolveManifest. */
  getManifest(reference: ManifestReference, options?: GetManifestOptions): Promise<ManifestContent>;
  /**
   * Stores a manifest and, for a tag reference, sets the tag.
   * MANIFEST_INVALID for a document parseManifestDocument refuses (or a
   * Content-Type that disagrees), DIGEST_INVALID when a digest reference
   * does not match the bytes, MANIFEST_BLOB_UNKNOWN when a referenced blob
   * or child manifest is absent; UNSUPPORTED for a read-only repository.
   */
  putManifest(put: ManifestPut): Promise<ManifestPutResult>;
  /**
   * Deletes a tag (a tag reference: the manifest stays), or a manifest (a
   * digest reference: the repository's tags that point at it go too).
   * MANIFEST_UNKNOWN when absent; UNSUPPORTED for a read-only repository.
   */
  deleteManifest(reference: ManifestReference): Promise<void>;
  /**
   * Tags in lexical order after `last`, at most n (all when n is
   * undefined). NAME_UNKNOWN when the repository has no tags at all.
   */
  listTags(options: { n?: number; last?: string }): Promise<TagPage>;
  /**
   * Descriptors of the manifests whose `subject` is digest (OCI 1.1
   * referrers), with their artifactType and annotations, filtered by
   * artifactType when given. An unknown subject has no referrers (not an error).
   */
  referrers(digest: Digest, options: { artifactType?: string }): Promise<Descriptor[]>;
  /** A blob's size (HEAD). BLOB_UNKNOWN when absent. */
  statBlob(digest: Digest): Promise<BlobHead>;
  /**
   * Opens a blob, or range of it (the handler validates a range against
   * statBlob's size first; a whole blob it opens without asking statBlob,
   * taking the size from the reader). BLOB_UNKNOWN when absent.
   */
  openBlob(digest: Digest, range?: BlobRange): Promise<BlobReader>;
  /**
   * Only in repositories that mirror another registry: stores a blob the
   * caller found missing from the store, fetching it without handing its
   * bytes over (a pull that only needs it stored need not read it back).
   * Joins a running fetch of the blob or starts one, without looking at the
   * store first; resolves once the source answered with the size. size,
   * when the caller knows it (a manifest's descriptor), lets the store's
   * ingest be opened while the source answers. BLOB_UNKNOWN when the source
   * has no such blob; UNAVAILABLE when it cannot be reached.
   */
  fetchBlob?(digest: Digest, size?: number): Promise<BlobFetch>;
  /** Deletes a blob. BLOB_UNKNOWN when absent; UNSUPPORTED for a read-only repository. */
  deleteBlob(digest: Digest): Promise<void>;
  /**
   * Makes a blob of repository `from` available here without an upload.
   * Undefined when `from` does not have it (the handler then starts a
   * normal upload). UNSUPPORTED for a read-only repository.
   */
  mountBlob(digest: Digest, from: Repository): Promise<BlobHead | undefined>;
  /** Starts an upload session (offset 0). UNSUPPORTED for a read-only repository. */
  startUpload(): Promise<UploadStatus>;
  /** BLOB_UPLOAD_UNKNOWN when no session has the id (cancelled, completed or never started). */
  uploadStatus(id: string): Promise<UploadStatus>;
  /**
   * Appends a chunk. BLOB_UPLOAD_UNKNOWN as uploadStatus; RANGE_INVALID
   * when chunk.start is not the session's offset; SIZE_INVALID when the body
   * is not chunk.length bytes (what arrived stays appended: the returned
   * offset of a later status tells the client where to resume).
   */
  appendUpload(id: string, chunk: UploadChunk): Promise<UploadStatus>;
  /**
   * Appends an optional last chunk, verifies the whole upload against
   * digest and stores the blob; the session ends. DIGEST_INVALID on a
   * mismatch (nothing is stored and the session is discarded), otherwise
   * errors as appendUpload. A blob already stored completes the upload too.
   */
  completeUpload(id: string, digest: Digest, chunk?: UploadChunk): Promise<BlobHead>;
  /** Discards a session. BLOB_UPLOAD_UNKNOWN when absent. */
  cancelUpload(id: string): Promise<void>;
}
