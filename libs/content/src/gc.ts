import { isNotFound, type EventSink, type Logger } from '@strata/kit';
import { isDigest, type Digest } from '@strata/oci';
import type { LeaseManager, Store } from './store.js';
import type { Info } from './types.js';

/** A blob with this label is a root: never collected. */
export const GC_ROOT_LABEL = 'strata.gc.root';
/** Labels with this prefix name (by digest value) blobs the labelled blob keeps alive. */
export const GC_REF_CONTENT_PREFIX = 'strata.gc.ref.content';

export interface GarbageCollectOptions {
  store: Store;
  leases: LeaseManager;
  logger: Logger;
  /** Publishes `blob.deleted` (reason gc) for each blob removed. */
  events?: EventSink;
  dryRun?: boolean;
}

export interface GarbageCollectResult {
  deleted: Digest[];
  bytesFreed: number;
  leasesExpired: number;
}

async function protectedDigests(store: Store, leases: LeaseManager, now: Date): Promise<Set<Digest>> {
  const out = await leases.held(now);
  for (const s of await store.listStatuses()) if (s.expected !== undefined) out.add(s.expected);
  return out;
}

/**
 * One mark-and-sweep pass. Live: roots (label strata.gc.root), digests held
 * by unexpired leases or expected by open ingests, and everything reachable
 * from those through `strata.gc.ref.content*` labels. Deletes every other
 * blob committed before the pass started. Leases and ingests are read
 * before the walk (what moves from a lease to a root label meanwhile stays)
 * and again just before the sweep (what a pull protects meanwhile stays),
 * each together with everything it references.
 */
export async function collectGarbage(options: GarbageCollectOptions): Promise<GarbageCollectResult> {
  const { store, leases, logger, events, dryRun = false } = options;
  const started = new Date();
  const leasesExpired = dryRun ? 0 : await leases.expire(started);
  // Read before the walk: a pull hands its blobs from its lease to a root
  // label set before the lease goes, so what this read misses the walk sees
  // rooted. (Read only after the walk, a hand-off during it lost both.)
  const protectedBefore = await protectedDigests(store, leases, started);
  const all = new Map<Digest, Info>();
  for await (const info of store.walk()) all.set(info.digest, info);

  const live = new Set<Digest>();
  const mark = (queue: Digest[]) => {
    while (queue.length > 0) {
      const d = queue.pop() as Digest;
      if (live.has(d)) continue;
      live.add(d);
      const info = all.get(d);
      if (info === undefined) continue;
      for (const [k, v] of Object.entries(info.labels)) {
        if (k.startsWith(GC_REF_CONTENT_PREFIX) && isDigest(v) && !live.has(v)) queue.push(v);
      }
    }
  };
  const roots = [...all.values()].filter((info) => info.labels[GC_ROOT_LABEL] !== undefined).map((info) => info.digest);
  mark([...protectedBefore, ...roots]);
  mark([...(await protectedDigests(store, leases, new Date()))]);

  const deleted: Digest[] = [];
  let bytesFreed = 0;
  for (const info of all.values()) {
    if (live.has(info.digest) || info.createdAt >= started) continue;
    if (!dryRun) {
      try {
        await store.delete(info.digest);
      } catch (err) {
        if (isNotFound(err)) continue;
        throw err;
      }
      events?.publish('blob.deleted', info.digest, { digest: info.digest, reason: 'gc' });
    }
    deleted.push(info.digest);
    bytesFreed += info.size;
  }
  logger.info({ deleted: deleted.length, bytesFreed, leasesExpired, dryRun }, 'garbage collection done');
  return { deleted, bytesFreed, leasesExpired };
}
