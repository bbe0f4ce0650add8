import { randomBytes } from 'node:crypto';
import { alreadyExists, invalidArgument, notFound } from '@strata/kit';
import { parseDigest, type Digest } from '@strata/oci';
import type { LeaseManager, MetadataStore } from './store.js';
import type { Labels, Lease } from './types.js';
import { validateLabels } from './validate.js';

interface StoredLease {
  id: string;
  createdAt: string;
  expiresAt?: string;
  labels: Labels;
  resources: string[];
}

const LEASE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

function validateLeaseId(id: string): string {
  if (!LEASE_ID.test(id)) {
    throw invalidArgument(`invalid lease id ${JSON.stringify(id.slice(0, 200))}: use 1 to 128 of A-Z a-z 0-9 . _ -, starting with a letter or digit`);
  }
  return id;
}

const toLease = (s: StoredLease): Lease => ({
  id: s.id,
  createdAt: new Date(s.createdAt),
  ...(s.expiresAt === undefined ? {} : { expiresAt: new Date(s.expiresAt) }),
  labels: s.labels,
});

/**
 * Leases kept in a MetadataStore under `leases/<id>`. Changes to one lease
 * are serialised within this process; each is one put of the lease's
 * record (addResources of many digests included), none when nothing
 * changes.
 */
export function createLeaseManager(meta: MetadataStore): LeaseManager {
  const key = (id: string) => `leases/${validateLeaseId(id)}`;
  const queues = new Map<string, Promise<unknown>>();
  const serial = <T>(id: string, fn: () => Promise<T>): Promise<T> => {
    const prev = queues.get(id) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => undefined);
    queues.set(id, tail);
    void tail.then(() => queues.get(id) === tail && queues.delete(id));
    return next;
  };
  const load = async (id: string): Promise<StoredLease> => {
    const lease = await meta.get<StoredLease>(key(id));
    if (lease === undefined) throw notFound(`lease ${id} not found`, { fields: { lease: id } });
    return lease;
  };
  const all = async (): Promise<StoredLease[]> => {
    const keys = await meta.list('leases/');
    const leases = await Promise.all(keys.map((k) => meta.get<StoredLease>(k)));
    return leases.filter((l): l is StoredLease => l !== undefined);
  };
  const live = (l: StoredLease, now: Date) => l.expiresAt === undefined || new Date(l.expiresAt) > now;

  return {
    async create({ id, ttlSeconds, labels = {} }) {
      const leaseId = id === undefined || id === '' ? `lease-${randomBytes(8).toString('hex')}` : validateLeaseId(id);
      if (ttlSeconds !== undefined && (!Number.isFinite(ttlSeconds) || ttlSeconds < 0)) {
        throw invalidArgument(`invalid lease ttl ${ttlSeconds}: must be 0 (none) or a positive number of seconds`);
      }
      validateLabels(labels);
      return serial(leaseId, async () => {
        if ((await meta.get(key(leaseId))) !== undefined) throw alreadyExists(`lease ${leaseId} already exists`, { fields: { lease: leaseId } });
        const now = new Date();
        const stored: StoredLease = {
          id: leaseId,
          createdAt: now.toISOString(),
          ...(ttlSeconds ? { expiresAt: new Date(now.getTime() + ttlSeconds * 1000).toISOString() } : {}),
          labels,
          resources: [],
        };
        await meta.put(key(leaseId), stored);
        return toLease(stored);
      });
    },
    async delete(id) {
      await serial(id, async () => {
        await load(id);
        await meta.delete(key(id));
      });
    },
    async list() {
      return (await all()).map(toLease);
    },
    async addResource(id, digest) {
      const d = parseDigest(digest);
      await serial(id, async () => {
        const lease = await load(id);
        if (!lease.resources.includes(d)) {
          lease.resources.push(d);
          await meta.put(key(id), lease);
        }
      });
    },
    async addResources(id, digests) {
      const wanted = digests.map((d) => parseDigest(d));
      await serial(id, async () => {
        const lease = await load(id);
        const held = new Set(lease.resources);
        for (const d of wanted) held.add(d);
        if (held.size === lease.resources.length) return;
        lease.resources = [...held];
        await meta.put(key(id), lease);
      });
    },
    async deleteResource(id, digest) {
      const d = parseDigest(digest);
      await serial(id, async () => {
        const lease = await load(id);
        lease.resources = lease.resources.filter((r) => r !== d);
        await meta.put(key(id), lease);
      });
    },
    async held(now = new Date()) {
      const out = new Set<Digest>();
      for (const lease of await all()) if (live(lease, now)) for (const r of lease.resources) out.add(r as Digest);
      return out;
    },
    async expire(now = new Date()) {
      let n = 0;
      for (const found of await all()) {
        if (live(found, now)) continue;
        const removed = await serial(found.id, async () => {
          const lease = await meta.get<StoredLease>(key(found.id));
          if (lease === undefined || live(lease, now)) return false;
          await meta.delete(key(found.id));
          return true;
        });
        if (removed) n++;
      }
      return n;
    },
  };
}
