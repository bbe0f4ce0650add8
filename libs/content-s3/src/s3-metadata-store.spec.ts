import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MetadataStore } from '@strata/content';
import { expectError } from '@strata/content/testing';
import { silentLogger } from '@strata/kit';
import { Client } from 'minio';
import { createS3MetadataStore } from './s3-metadata-store.js';
import { startS3rver, type S3rverHandle } from './testing/s3rver.js';

describe('S3 metadata store', () => {
  let s3: S3rverHandle;
  let meta: MetadataStore;

  beforeAll(async () => {
    s3 = await startS3rver();
    const { endpoint, accessKey, secretKey, region } = s3;
    meta = await createS3MetadataStore({ endpoint, accessKey, secretKey, region, bucket: 'strata-meta', prefix: 'site/a', logger: silentLogger() });
  });

  afterAll(async () => {
    await s3?.stop();
  });

  it('puts, gets, lists and deletes JSON values under <prefix>metadata/', async () => {
    expect(await meta.get('leases/absent')).toBeUndefined();
    await meta.put('leases/one', { id: 'one', n: 1 });
    await meta.put('leases/two', { id: 'two' });
    await meta.put('labels/sha256/abc', { labels: { a: 'b' } });
    await meta.put('leases/one', { id: 'one', n: 2 });
    expect(await meta.get('leases/one')).toEqual({ id: 'one', n: 2 });
    expect((await meta.list('leases/')).sort()).toEqual(['leases/one', 'leases/two']);
    expect((await meta.list('')).sort()).toEqual(['labels/sha256/abc', 'leases/one', 'leases/two']);
    const raw = new Client({ endPoint: '127.0.0.1', port: s3.port, useSSL: false, accessKey: s3.accessKey, secretKey: s3.secretKey });
    const names: string[] = [];
    for await (const item of raw.listObjectsV2('strata-meta', '', true)) if (item.name !== undefined) names.push(item.name);
    expect(names.sort()).toEqual(['site/a/metadata/labels/sha256/abc', 'site/a/metadata/leases/one', 'site/a/metadata/leases/two']);
    await meta.delete('leases/one');
    await meta.delete('leases/one');
    expect(await meta.get('leases/one')).toBeUndefined();
    expect(await meta.list('leases/')).toEqual(['leases/two']);
  });

  const keyMessage = (key: string) => `invalid metadata key ${JSON.stringify(key)}: use "/"-separated segments of A-Z a-z 0-9 . _ -`;
  it.each([
    ['a parent segment', 'leases/../../escape'],
    ['a leading slash', '/leases/x'],
    ['an empty segment', 'leases//x'],
    ['a space', 'leases/a b'],
    ['an empty key', ''],
  ])('a key with %s is InvalidArgument', async (_name, key) => {
    await expectError(meta.get(key), 'InvalidArgument', keyMessage(key));
    await expectError(meta.put(key, {}), 'InvalidArgument', keyMessage(key));
    await expectError(meta.delete(key), 'InvalidArgument', keyMessage(key));
  });

  it.each([
    ['a parent segment', '../'],
    ['a leading slash', '/leases/'],
  ])('listing a prefix with %s is InvalidArgument', async (_name, prefix) => {
    await expectError(meta.list(prefix), 'InvalidArgument', keyMessage(prefix));
  });
});
