import { notFound, type StrataError } from '@strata/kit';
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
  /** Only tags of this registry domain. */
  domain?: string;
  /** Only tags of this repository path (in every domain unless domain is given). */
  repository?: string;
  /**
   * Only tags that sort after this one (pagination within one repository, as
   * the `last` of tags/list); needs domain and repository. It need not be set.
   */
  after?: string;
  /** At most this many; 0 or more. */
  limit?: number;
}

/**
 * The image index: name:tag → digest, shared by every registry-mirror
 * replica (the NATS KV implementation) so all see the same names.
 *
 * Names are validated by the caller (parseReference / isRepositoryPath /
 * isTag from @strata/oci); implementations check them again with
 * {@link validateTagKey} / {@link validateTagRecord} /
 * {@link validateListTagsOptions} and refuse anything else with their
 * InvalidArgument before touching storage. Digests are checked with
 * parseDigest. Every method of a store that cannot reach its storage raises
 * Unavailable with a sentence naming it. Records returned are copies.
 * Order is {@link compareTagRecords}: by domain, then repository, then tag,
 * each compared by UTF-16 code units (plain `<`, so `Z` sorts before `a`).
 * The contract suite is `tagStoreSuite` in `@strata/images/testing`.
 */
export interface TagStore {
  /** The record, or undefined when the tag is not set. */
  get(domain: string, repository: string, tag: string): Promise<TagRecord | undefined>;
  /** Sets or moves a tag (the last put wins). */
  put(record: TagRecord): Promise<void>;
  /** Removes a tag; NotFound ({@link tagNotFound}) when it is not set. */
  delete(domain: string, repository: string, tag: string): Promise<void>;
  /** Tags matching options, in (domain, repository, tag) order. */
  list(options?: ListTagsOptions): Promise<TagRecord[]>;
  /** Every tag pointing at digest, in (domain, repository, tag) order (to refuse or cascade deletes). */
  tagsOf(digest: Digest): Promise<TagRecord[]>;
  /** Releases what the store holds; calls after it fail. Idempotent. */
  close(): Promise<void>;
}

/** A tag's full name as people read it: `docker.io/library/busybox:latest`. */
export function tagName(domain: string, repository: string, tag: string): string {
  return `${domain}/${repository}:${tag}`;
}

/** The NotFound every TagStore raises for a tag that is not set: `tag <domain>/<repository>:<tag> not found`. */
export function tagNotFound(domain: string, repository: string, tag: string): StrataError {
  return notFound(`tag ${tagName(domain, repository, tag)} not found`, { fields: { domain, repository, tag } });
}

const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** The order of {@link TagStore.list}: domain, then repository, then tag, by code units. */
export function compareTagRecords(
  a: Pick<TagRecord, 'domain' | 'repository' | 'tag'>,
  b: Pick<TagRecord, 'domain' | 'repository' | 'tag'>,
): number {
  return compare(a.domain, b.domain) || compare(a.repository, b.repository) || compare(a.tag, b.tag);
}
