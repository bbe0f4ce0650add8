import { describe, expect, it } from 'vitest';
import type { EventSink } from '@strata/kit';
import { digestOf } from '@strata/oci';
import { createLeaseManager } from './leases.js';
import { publishingStore } from './publishing-store.js';
import { contentStoreSuite } from './testing/content-store-suite.js';
import { expectError } from './testing/expect-error.js';
import { createMemoryMetadataStore } from './testing/memory-metadata-store.js';
import { createMemoryStore } from './testing/memory-store.js';
import { readBlob } from './blob-bytes.js';
import { writeBlob } from './testing/write-blob.js';

interface Published {
  type: string;
  subject: string;
  data: unknown;
}

const recorder = () => {
  const events: Published[] = [];
  const sink: EventSink = { publish: (type, subject, data) => events.push({ type, subject, data }) };
  return { events, sink };
};

contentStoreSuite('memory, publishing events', async () => {
  const store = publishingStore(createMemoryStore(), recorder().sink);
  return { store, leases: createLeaseManager(createMemoryMetadataStore()), cleanup: () => store.close() };
});

describe('publishingStore', () => {
  it('publishes blob.stored for each commit, with size and labels', async () => {
    const { events, sink } = recorder();
    const store = publishingStore(createMemoryStore(), sink);
    const w = await store.writer({ ref: 'events', total: 5 });
    expect(w.ref).toBe('events');
    await w.write(Buffer.from('hel'));
    expect(w.offset).toBe(3);
    expect((await w.status()).offset).toBe(3);
    await w.truncate();
    await w.write(Buffer.from('hello'));
    expect(events).toEqual([]);
    const info = await w.commit({ labels: { a: 'b' } });
    expect(events).toEqual([{ type: 'blob.stored', subject: info.digest, data: { digest: info.digest, size: 5, labels: { a: 'b' } } }]);
    expect((await readBlob(store, info.digest)).toString()).toBe('hello');
  });

  it('publishes nothing for a commit that fails', async () => {
    const { events, sink } = recorder();
    const store = publishingStore(createMemoryStore(), sink);
    const stored = await writeBlob(store, Buffer.from('once'));
    events.length = 0;
    await expectError(writeBlob(store, Buffer.from('once'), { expected: false }), 'AlreadyExists');
    await expectError(writeBlob(store, Buffer.from('twice'), { expected: digestOf('other') }), 'FailedPrecondition');
    const w = await store.writer({ ref: 'closed-early' });
    await w.write(Buffer.from('x'));
    await w.close();
    expect(events).toEqual([]);
    expect((await store.info(stored.digest)).size).toBe(4);
  });

  it('publishes blob.deleted for each delete, and nothing when there was nothing to delete', async () => {
    const { events, sink } = recorder();
    const store = publishingStore(createMemoryStore(), sink);
    const info = await writeBlob(store, Buffer.from('to delete'));
    events.length = 0;
    await store.delete(info.digest);
    expect(events).toEqual([{ type: 'blob.deleted', subject: info.digest, data: { digest: info.digest, reason: 'delete' } }]);
    await expectError(store.delete(info.digest), 'NotFound');
    expect(events).toHaveLength(1);
  });
});
