import { createNatsConnection } from '@strata/events-nats';
import { startNatsServer, type TestNatsServer } from '@strata/events-nats/testing';
import type { TagRecord, TagStore } from '@strata/images';
import { silentLogger } from '@strata/kit';
import { freePort, waitFor } from '@strata/kit/testing';
import { digestOf } from '@strata/oci';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createImageIndexRevision, type ImageIndexRevision } from './image-index-revision.js';
import { createNatsTagStore } from './nats-tag-store.js';

let server: TestNatsServer;
let buckets = 0;
const closing: Array<TagStore | ImageIndexRevision> = [];

beforeAll(async () => {
  server = await startNatsServer();
});
afterAll(async () => {
  await server?.stop();
});
afterEach(async () => {
  await Promise.all(closing.splice(0).map((c) => c.close()));
});

const record = (tag: string, content = tag): TagRecord => ({
  domain: 'docker.io',
  repository: 'library/busybox',
  tag,
  digest: digestOf(content),
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  size: 100,
  updatedAt: new Date(),
});

/** A tag store and a revision reader of one new bucket, the bucket made. */
async function pair(url = server.url): Promise<{ tags: TagStore; revision: ImageIndexRevision }> {
  const bucket = `revision_${++buckets}`;
  const tags = createNatsTagStore({ servers: url, bucket, logger: silentLogger(), connectWaitMs: 5000 });
  const revision = createImageIndexRevision({ servers: url, bucket, logger: silentLogger() });
  closing.push(tags, revision);
  await tags.list();
  await waitFor(async () => (await revision.current()) !== undefined, () => 'the revision to be readable', 5000);
  return { tags, revision };
}

describe('createImageIndexRevision', () => {
  it('moves with every put and delete of a tag and stays put without them', async () => {
    const { tags, revision } = await pair();
    const empty = await revision.current();
    expect(await revision.current()).toBe(empty);
    await tags.put(record('1'));
    const afterPut = (await revision.current())!;
    expect(afterPut).toBeGreaterThan(empty!);
    await tags.get('docker.io', 'library/busybox', '1');
    await tags.list();
    expect(await revision.current()).toBe(afterPut);
    await tags.put(record('1', 'moved'));
    const afterMove = (await revision.current())!;
    expect(afterMove).toBeGreaterThan(afterPut);
    await tags.delete('docker.io', 'library/busybox', '1');
    expect(await revision.current()).toBeGreaterThan(afterMove);
  });

  it('sees a change made through another connection at once', async () => {
    const { revision } = await pair();
    const bucket = `revision_${buckets}`;
    const shared = createNatsConnection({ servers: server.url, name: 'other', logger: silentLogger() });
    const other = createNatsTagStore({ servers: server.url, connection: shared, bucket, logger: silentLogger(), connectWaitMs: 5000 });
    try {
      for (let i = 0; i < 5; i++) {
        const before = await revision.current();
        await other.put(record(`t${i}`));
        expect(await revision.current()).toBeGreaterThan(before!);
      }
    } finally {
      await other.close();
      await shared.close();
    }
  });

  it('answers undefined without the bucket, without NATS and once closed', async () => {
    const shared = createNatsConnection({ servers: server.url, name: 'missing', logger: silentLogger() });
    try {
      await shared.connected();
      const missing = createImageIndexRevision({ servers: server.url, connection: shared, bucket: 'never_made', logger: silentLogger() });
      expect(await missing.current()).toBeUndefined();
      await missing.close();
      expect(shared.current()).toBeDefined();
    } finally {
      await shared.close();
    }

    const nowhere = createImageIndexRevision({ servers: `nats://127.0.0.1:${await freePort()}`, logger: silentLogger() });
    closing.push(nowhere);
    expect(await nowhere.current()).toBeUndefined();

    const { revision } = await pair();
    expect(await revision.current()).toBeTypeOf('number');
    await revision.close();
    await revision.close();
    expect(await revision.current()).toBeUndefined();
  });

  it('refuses a bucket name NATS cannot hold', () => {
    expect(() => createImageIndexRevision({ servers: server.url, bucket: 'a.b', logger: silentLogger() })).toThrow('invalid KV bucket name "a.b"');
  });
});
