import { failedPrecondition } from '@strata/kit';
import { parseDigest, type Digest } from '@strata/oci';
import { compareTagRecords, tagNotFound, type ListTagsOptions, type TagRecord, type TagStore } from '../tag-store.js';
import { validateListTagsOptions, validateTagKey, validateTagRecord } from '../validate-tag-key.js';

const keyOf = (domain: string, repository: string, tag: string) => `${domain}\u0000${repository}\u0000${tag}`;
const copy = (r: TagRecord): TagRecord => ({ ...r, updatedAt: new Date(r.updatedAt.getTime()) });

/**
 * A TagStore in memory, for tests of the code that uses one. It keeps the
 * whole TagStore contract (tagStoreSuite); after close() every method raises
 * FailedPrecondition.
 */
export function createMemoryTagStore(): TagStore {
  const tags = new Map<string, TagRecord>();
  let closed = false;
  const open = () => {
    if (closed) throw failedPrecondition('the in-memory tag store was closed');
  };
  return {
    async get(domain, repository, tag) {
      open();
      validateTagKey(domain, repository, tag);
      const r = tags.get(keyOf(domain, repository, tag));
      return r === undefined ? undefined : copy(r);
    },
    async put(record) {
      open();
      validateTagRecord(record);
      tags.set(keyOf(record.domain, record.repository, record.tag), copy(record));
    },
    async delete(domain, repository, tag) {
      open();
      validateTagKey(domain, repository, tag);
      if (!tags.delete(keyOf(domain, repository, tag))) throw tagNotFound(domain, repository, tag);
    },
    async list(options: ListTagsOptions = {}) {
      open();
      validateListTagsOptions(options);
      const { domain, repository, after, limit } = options;
      const out = [...tags.values()]
        .filter(
          (r) =>
            (domain === undefined || r.domain === domain) &&
            (repository === undefined || r.repository === repository) &&
            (after === undefined || r.tag > after),
        )
        .sort(compareTagRecords);
      return (limit === undefined ? out : out.slice(0, limit)).map(copy);
    },
    async tagsOf(digest: Digest) {
      open();
      parseDigest(digest);
      return [...tags.values()]
        .filter((r) => r.digest === digest)
        .sort(compareTagRecords)
        .map(copy);
    },
    async close() {
      closed = true;
    },
  };
}
