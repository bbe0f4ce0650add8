import type { Digest } from '@strata/oci';

/** What a tag points at: a manifest or index, by digest. */
export interface TagRecord {
  /** Registry host the repository belongs to, e.g. docker.io, or `local` for pushed images. */
  domain: string;
  /** Repository path within the domain, e.g. library/busybox. */
  repository: string;
  tag: string;
  digest: Digest;
  mediaType: string;
  size: number;
  /** When the tag was last set (or, for a cached upstream tag, last confirmed upstream). */
  updatedAt: Date;
}

/** Which tags to list, in (domain, repository, tag) order. */
export interface ListTagsOptions {
  domain?: string;
  repository?: string;
  /** Start after this tag (pagination within one repository, as the `last` of tags/list). */
  after?: string;
  /** At most this many. */
  limit?: number;
}

/**
 * The image index: name:tag → digest, shared by every registry-mirror
 * replica (the NATS KV implementation) so all see the same names.
 *
 * Names are validated by the caller (parseReference / isRepositoryPath /
 * isTag from @strata/oci); implementations refuse anything else with
 * InvalidArgument before touching storage.
 */
export interface TagStore {
  /** Undefined when the tag is not set. */
  get(domain: string, repository: string, tag: string): Promise<TagRecord | undefined>;
  /** Sets or moves a tag. */
  put(record: TagRecord): Promise<void>;
  /** NotFound when the tag is not set. */
  delete(domain: string, repository: string, tag: string): Promise<void>;
  /** Tags in (domain, repository, tag) order. */
  list(options?: ListTagsOptions): Promise<TagRecord[]>;
  /** Every tag pointing at digest (to refuse or cascade deletes). */
  tagsOf(digest: Digest): Promise<TagRecord[]>;
  close(): Promise<void>;
}
