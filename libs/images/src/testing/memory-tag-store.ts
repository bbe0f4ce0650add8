import { notFound } from '@strata/kit';
import type { Digest } from '@strata/oci';
import type { ListTagsOptions, TagRecord, TagStore } from '../tag-store.js';

const keyOf = (domain: string, repository: string, tag: string) => `${domain}\u0000${repository}\u0000${tag}`;

/** A TagStore in memory, for tests of the code that uses one. */
export function createMemoryTagStore(): TagStore {
  const tags = new Map<string, TagRecord>();
  return {
    async get(domain, repository, tag) {
      const r = tags.get(keyOf(domain, repository, tag));
      return r === undefined ? undefined : { ...r };
    },
    async put(record) {
      tags.set(keyOf(record.domain, record.repository, record.tag), { ...record });
    },
    async delete(domain, repository, tag) {
      if (!tags.delete(keyOf(domain, repository, tag))) {
        throw notFound(`tag ${domain}/${repository}:${tag} not found`, { fields: { repository, tag } });
      }
    },
    async list(options: ListTagsOptions = {}) {
      const out = [...tags.entries()]
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([, r]) => r)
        .filter(
          (r) =>
            (options.domain === undefined || r.domain === options.domain) &&
            (options.repository === undefined || r.repository === options.repository) &&
            (options.after === undefined || r.tag > options.after),
        );
      return (options.limit === undefined ? out : out.slice(0, options.limit)).map((r) => ({ ...r }));
    },
    async tagsOf(digest: Digest) {
      return [...tags.values()].filter((r) => r.digest === digest).map((r) => ({ ...r }));
    },
    async close() {},
  };
}
