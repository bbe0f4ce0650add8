import { describe, expect, it } from 'vitest';
import { silentLogger, type EventSink } from '@strata/kit';
import type { Digest } from '@strata/oci';
import { collectGarbage, GC_REF_CONTENT_PREFIX, GC_ROOT_LABEL } from './gc.js';
import { createLeaseManager } from './leases.js';
import type { LeaseManager, Store } from './store.js';
import { expectError } from './testing/expect-error.js';
import { createMemoryMetadataStore } from './testing/memory-metadata-store.js';
import { createMemoryStore } from './testing/memory-store.js';
import { writeBlob } from './testing/write-blob.js';

interface Published {
  type: string;
  subject: string;
  data: unknown;
}

const ref = (n: number | string) => `${GC_REF_CONTENT_PREFIX}.${n}`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function setup(wrap: (store: Store, leases: LeaseManager) => Store = (s) => s) {
  const inner = createMemoryStore();
  const leases = createLeaseManager(createMemoryMetadataStore());
  const store = wrap(inner, leases);
  const events: Published[] = [];
  const sink: EventSink = { publish: (type, subject, data) => events.push({ type, subject, data }) };
  const put = (text: string, labels: Record<string, string> = {}) => writeBlob(inner, Buffer.from(text), { labels });
  const gc = (dryRun = false) => collectGarbage({ store, leases, logger: silentLogger(), events: sink, dryRun });
  const stored = async () => {
    const out: string[] = [];
    for await (const info of inner.walk()) out.push(info.digest);
    return out.sort();
  };
  return { inner, store, leases, events, put, gc, stored };
}

describe('collectGarbage', () => {
  it('publishes blob.deleted for each blob it removes, and nothing on a dry run', async () => {
    const { put, gc, events, stored } = setup();
    const a = await put('a');
    const b = await put('b');
    const kept = await put('kept', { [GC_ROOT_LABEL]: 'x' });
    await sleep(5);
    const dry = await gc(true);
    expect(dry).toEqual({ deleted: expect.arrayContaining([a.digest, b.digest]), bytesFreed: 2, leasesExpired: 0 });
    expect(events).toEqual([]);
    expect(await stored()).toHaveLength(3);
    const result = await gc();
    expect([...result.deleted].sort()).toEqual([a.digest, b.digest].sort());
    expect(events.sort((x, y) => x.subject.localeCompare(y.subject))).toEqual(
      [a.digest, b.digest].sort().map((d) => ({ type: 'blob.deleted', subject: d, data: { digest: d, reason: 'gc' } })),
    );
    expect(await stored()).toEqual([kept.digest]);
  });

  it('follows reference labels through chains and cycles, ignoring what is not a stored digest', async () => {
    const { put, gc, stored, inner } = setup();
    const leaf = await put('leaf', { [ref('junk')]: 'sha256:not-a-digest', [ref('absent')]: `sha256:${'0'.repeat(64)}` });
    const middle = await put('middle', { [ref(0)]: leaf.digest });
    const root = await put('root', { [GC_ROOT_LABEL]: '', [ref('config')]: middle.digest, other: leaf.digest });
    const x = await put('cycle x');
    const y = await put('cycle y', { [ref('x')]: x.digest });
    await inner.update(x.digest, { [ref('y')]: y.digest });
    const byOtherLabel = await put('named by a label without the prefix');
    await inner.update(root.digest, { [GC_ROOT_LABEL]: '', [ref('config')]: middle.digest, other: byOtherLabel.digest });
    await sleep(5);
    const result = await gc();
    expect([...result.deleted].sort()).toEqual([x.digest, y.digest, byOtherLabel.digest].sort());
    expect(await stored()).toEqual([leaf.digest, middle.digest, root.digest].sort());
  });

  it('keeps blobs committed after it started', async () => {
    const late: Digest[] = [];
    const { put, gc, stored } = setup((store) => ({
      ...store,
      async *walk(filters) {
        late.push((await writeBlob(store, Buffer.from('committed during gc'))).digest);
        yield* store.walk(filters);
      },
    }));
    const old = await put('old');
    await sleep(5);
    const result = await gc();
    expect(result.deleted).toEqual([old.digest]);
    expect(await stored()).toEqual(late);
  });

  it('keeps what a lease taken during the pass holds, and what that references', async () => {
    let calls = 0;
    const { put, gc, stored, leases } = setup((store, leaseManager) => ({
      ...store,
      async listStatuses(filters) {
        calls++;
        if (calls === 1) {
          await leaseManager.create({ id: 'late-pull' });
          await leaseManager.addResource('late-pull', manifest.digest);
        }
        return store.listStatuses(filters);
      },
    }));
    const layer = await put('layer');
    const manifest = await put('manifest', { [ref('layer')]: layer.digest });
    const orphan = await put('orphan');
    await sleep(5);
    const result = await gc();
    expect(calls).toBe(2);
    expect(result.deleted).toEqual([orphan.digest]);
    expect(await stored()).toEqual([layer.digest, manifest.digest].sort());
    expect((await leases.list()).map((l) => l.id)).toEqual(['late-pull']);
  });

  it('keeps what a pull hands from its lease to a root label while the walk runs', async () => {
    const { put, gc, stored, inner, leases } = setup((store, leaseManager) => ({
      ...store,
      async *walk(filters) {
        // The walk reads the manifest without its root; then the pull roots it and drops its lease, as Images.Pull ends.
        const seen = [];
        for await (const info of store.walk(filters)) seen.push(info);
        await store.update(manifest.digest, { [GC_ROOT_LABEL]: 'pulled' }, [`labels.${GC_ROOT_LABEL}`]);
        await leaseManager.delete('pull');
        yield* seen;
      },
    }));
    const layer = await put('layer');
    const manifest = await put('manifest', { [ref('layer')]: layer.digest });
    const orphan = await put('orphan');
    await leases.create({ id: 'pull' });
    await leases.addResources('pull', [manifest.digest, layer.digest]);
    await sleep(5);
    expect((await gc()).deleted).toEqual([orphan.digest]);
    expect(await stored()).toEqual([layer.digest, manifest.digest].sort());
    expect((await inner.info(manifest.digest)).labels[GC_ROOT_LABEL]).toBe('pulled');
  });

  it('skips a blob someone else deleted first', async () => {
    const { put, gc, inner, events } = setup((store) => ({
      ...store,
      async delete(digest) {
        await store.delete(digest);
        await store.delete(digest);
      },
    }));
    await put('deleted twice');
    await sleep(5);
    expect(await gc()).toEqual({ deleted: [], bytesFreed: 0, leasesExpired: 0 });
    expect(events).toEqual([]);
    expect(await inner.listStatuses()).toEqual([]);
  });

  it('passes on errors other than NotFound', async () => {
    const { put, gc } = setup((store) => ({
      ...store,
      delete: async () => {
        throw new Error('disk on fire');
      },
    }));
    await put('undeletable');
    await sleep(5);
    await expect(gc()).rejects.toThrow('disk on fire');
  });

  it('expires leases unless it is a dry run', async () => {
    const { put, gc, leases } = setup();
    const held = await put('held briefly');
    const lease = await leases.create({ id: 'brief', ttlSeconds: 1 });
    await leases.addResource(lease.id, held.digest);
    await sleep(lease.expiresAt!.getTime() - Date.now() + 20);
    expect(await gc(true)).toEqual({ deleted: [held.digest], bytesFreed: held.size, leasesExpired: 0 });
    expect((await leases.list()).map((l) => l.id)).toEqual(['brief']);
    expect(await gc()).toEqual({ deleted: [held.digest], bytesFreed: held.size, leasesExpired: 1 });
    expect(await leases.list()).toEqual([]);
    await expectError(leases.delete('brief'), 'NotFound');
  });
});
