import type { Digest } from '@strata/oci';

/** Labels of a blob: string keys and values (see validateLabels for limits). */
export type Labels = Record<string, string>;

/** A committed blob. */
export interface Info {
  digest: Digest;
  size: number;
  createdAt: Date;
  updatedAt: Date;
  labels: Labels;
}

/** The state of an in-progress write (an ingest), named by its ref. */
export interface Status {
  ref: string;
  /** Bytes stored so far: a resumed write continues here. */
  offset: number;
  /** Total size the writer announced; 0 when unknown. */
  total: number;
  /** Digest the writer expects, when it said. */
  expected?: Digest;
  startedAt: Date;
  updatedAt: Date;
}

/** A byte range of a blob; length undefined or 0 means to the end. */
export interface ReadRange {
  offset?: number;
  length?: number;
}

/** An opened blob: its total size, and the bytes of the asked range. */
export interface BlobReader {
  /** Size of the whole blob. */
  size: number;
  /** The range's bytes in order. Iterate once. */
  chunks: AsyncIterable<Uint8Array>;
  /**
   * Optional: hands a chunk this reader yielded back once the consumer no
   * longer touches its bytes (a socket write of it completed), so the reader
   * may read later chunks into the same memory instead of allocating. A
   * chunk released while still in use may be overwritten; releasing one
   * twice, or one of another reader, is ignored. Consumers may never call
   * it: a reader must not depend on it. See pipeBlob.
   */
  release?(chunk: Uint8Array): void;
}

/** What a writer is opened with. */
export interface WriterOptions {
  /** Client-chosen id of the ingest; `[A-Za-z0-9._:@/-]`, 1..256 characters. */
  ref: string;
  /** Total size, when known: checked at commit and bounds the writes. */
  total?: number;
  /** Expected digest, when known: checked at commit. */
  expected?: Digest;
}

/** What commit verifies and attaches. */
export interface CommitOptions {
  total?: number;
  expected?: Digest;
  labels?: Labels;
}

/** A blob held by a lease. */
export interface Lease {
  id: string;
  createdAt: Date;
  /** Undefined: holds until deleted. */
  expiresAt?: Date;
  labels: Labels;
}
