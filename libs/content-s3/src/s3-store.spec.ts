import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { contentStoreSuite, expectError, randomBytesOf, readBlob, writeBlob } from '@strata/content/testing';
import type { Store } from '@strata/content';
import { silentLogger } from '@strata/kit';
import { freePort } from '@strata/kit/testing';
import { digestHex, digestOf } from '@strata/oci';
import { Client } from 'minio';
import { createS3Content, createS3Store, type S3StoreOptions } from './s3-store.js';
import { startS3rver, type S3rverHandle } from './testing/s3rver.js';

const MiB = 1024 * 1024;

let s3: S3rverHandle;
let raw: Client;
let buckets = 0;
const newBucket = () => `strata-test-${++buckets}`;
const options = (extra: Partial<S3StoreOptions> = {}): S3StoreOptions => ({
  endpoint: s3.endpoint,
  accessKey: s3.accessKey,
  secretKey: s3.secretKey,
  region: s3.region,
  bucket: newBucket(),
  logger: silentLogger(),
  ...extra,
});

async function keys(bucket: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for await (const item of raw.listObjectsV2(bucket, prefix, true)) if (item.name !== undefined) out.push(item.name);
  return out.sort();
}

beforeAll(async () => {
  s3 = await startS3rver();
  raw = new Client({ endPoint: '127.0.0.1', port: s3.port, useSSL: false, accessKey: s3.accessKey, secretKey: s3.secretKey });
});

afterAll(async () => {
  await s3?.stop();
});

contentStoreSuite('s3', async () => {
  const { store, leases } = await createS3Content(options());
  return { store, leases, cleanup: () => store.close() };
});

describe('S3 store', () => {
  let stores: Store[] = [];
  const open = async (extra: Partial<S3StoreOptions> = {}) => {
    const opts = options(extra);
    const store = await createS3Store(opts);
    stores.push(store);
    return { store, bucket: opts.bucket };
  };

  afterEach(async () => {
    for (const store of stores) await store.close();
    stores = [];
  });

  it('uploads a blob of more than two parts as a multipart upload, visible only after commit', async () => {
    const { store, bucket } = await open({ partSize: 5 * MiB });
    const data = randomBytesOf(12 * MiB + 12_345);
    const digest = digestOf(data);
    const w = await store.writer({ ref: 'multipart', total: data.length, expected: digest });
    try {
      await w.write(data.subarray(0, 11 * MiB));
      expect(s3.multipartUploads(bucket)).toHaveLength(1);
      expect(await keys(bucket, 'blobs/')).toEqual([]);
      await expectError(store.info(digest), 'NotFound');
      expect((await store.status('multipart')).offset).toBe(11 * MiB);
      await w.write(data.subarray(11 * MiB));
      expect(await w.commit()).toMatchObject({ digest, size: data.length });
    } finally {
      await w.close();
    }
    expect(await keys(bucket)).toEqual([`blobs/sha256/${digestHex(digest)}`, `metadata/labels/sha256/${digestHex(digest)}`]);
    expect(s3.multipartUploads(bucket)).toEqual([]);
    const back = await readBlob(store, digest);
    expect(digestOf(back)).toBe(digest);
    expect((await readBlob(store, digest, { offset: 5 * MiB - 3, length: 5 * MiB + 6 })).equals(data.subarray(5 * MiB - 3, 10 * MiB + 3))).toBe(true);
  });

  it('stages a multipart blob whose digest was not announced, and copies it to its key once verified', async () => {
    const { store, bucket } = await open({ partSize: 5 * MiB });
    const data = randomBytesOf(11 * MiB);
    const info = await writeBlob(store, data, { expected: false, total: false, chunks: [3 * MiB] });
    expect(info.digest).toBe(digestOf(data));
    expect(await keys(bucket)).toEqual([`blobs/sha256/${digestHex(info.digest)}`, `metadata/labels/sha256/${digestHex(info.digest)}`]);
    expect(s3.multipartUploads(bucket)).toEqual([]);
    expect(digestOf(await readBlob(store, info.digest))).toBe(info.digest);
  });

  it.each([
    ['announced when opening', true],
    ['given to commit', false],
  ])('a wrong digest %s leaves no blob, no multipart upload and no ingest state', async (_name, atOpen) => {
    const { store, bucket } = await open({ partSize: 5 * MiB });
    const data = randomBytesOf(11 * MiB);
    const wrong = digestOf('something else');
    const w = await store.writer(atOpen ? { ref: 'wrong', expected: wrong } : { ref: 'wrong' });
    try {
      await w.write(data);
      expect(s3.multipartUploads(bucket)).toHaveLength(1);
      await expectError(
        w.commit(atOpen ? {} : { expected: wrong }),
        'FailedPrecondition',
        `unexpected commit digest ${digestOf(data)}, expected ${wrong}`,
      );
    } finally {
      await w.close();
    }
    expect(s3.multipartUploads(bucket)).toEqual([]);
    expect(await keys(bucket)).toEqual([]);
  });

  it('abort removes the multipart upload and the ingest state', async () => {
    const { store, bucket } = await open({ partSize: 5 * MiB });
    const w = await store.writer({ ref: 'to-abort' });
    await w.write(randomBytesOf(6 * MiB));
    await w.close();
    expect(s3.multipartUploads(bucket)).toHaveLength(1);
    expect(await keys(bucket)).toHaveLength(1);
    await store.abort('to-abort');
    expect(s3.multipartUploads(bucket)).toEqual([]);
    expect(await keys(bucket)).toEqual([]);
  });

  it('truncate abandons the uploaded parts', async () => {
    const { store, bucket } = await open({ partSize: 5 * MiB });
    const w = await store.writer({ ref: 'truncated' });
    try {
      await w.write(randomBytesOf(6 * MiB));
      expect(s3.multipartUploads(bucket)).toHaveLength(1);
      await w.truncate();
      expect(s3.multipartUploads(bucket)).toEqual([]);
      expect((await store.status('truncated')).offset).toBe(0);
      const kept = randomBytesOf(100);
      await w.write(kept);
      expect((await w.commit()).digest).toBe(digestOf(kept));
    } finally {
      await w.close();
    }
  });

  it('after a restart, reports an ingest at its uploaded offset and restarts it from 0 when reopened', async () => {
    const { store, bucket } = await open({ partSize: 5 * MiB });
    const data = randomBytesOf(7 * MiB);
    const digest = digestOf(data);
    const w = await store.writer({ ref: 'survivor', total: data.length, expected: digest });
    await w.write(data.subarray(0, 6 * MiB));
    await w.close();
    expect((await store.status('survivor')).offset).toBe(6 * MiB);

    const restarted = await createS3Store({ ...options(), bucket });
    stores.push(restarted);
    expect(await restarted.status('survivor')).toMatchObject({ offset: 5 * MiB, total: data.length, expected: digest });
    expect((await restarted.listStatuses()).map((s) => [s.ref, s.offset])).toEqual([['survivor', 5 * MiB]]);
    const again = await restarted.writer({ ref: 'survivor' });
    try {
      expect(again.offset).toBe(0);
      expect(await again.status()).toMatchObject({ offset: 0, total: data.length, expected: digest });
      expect(s3.multipartUploads(bucket)).toEqual([]);
      await again.write(data);
      expect((await again.commit()).digest).toBe(digest);
    } finally {
      await again.close();
    }
    expect(digestOf(await readBlob(restarted, digest))).toBe(digest);
  });

  it('keeps stores with different prefixes of one bucket apart', async () => {
    const bucket = newBucket();
    const { store: a } = await open({ bucket, prefix: 'tenant-a' });
    const { store: b } = await open({ bucket, prefix: 'tenant-b/' });
    const info = await writeBlob(a, Buffer.from('only in a'), { labels: { who: 'a' } });
    const ingest = await b.writer({ ref: 'only-in-b' });
    await ingest.write(Buffer.from('pending'));
    await ingest.close();
    await expectError(b.info(info.digest), 'NotFound');
    expect(await a.listStatuses()).toEqual([]);
    expect((await b.listStatuses()).map((s) => s.ref)).toEqual(['only-in-b']);
    const hex = digestHex(info.digest);
    expect((await keys(bucket)).filter((k) => !k.startsWith('tenant-b/ingests/'))).toEqual([
      `tenant-a/blobs/sha256/${hex}`,
      `tenant-a/metadata/labels/sha256/${hex}`,
    ]);
    expect(await keys(bucket, 'tenant-b/')).toHaveLength(1);
  });

  it('creates the bucket when it is missing, and uses it when it exists', async () => {
    const bucket = newBucket();
    expect(await raw.bucketExists(bucket)).toBe(false);
    const { store } = await open({ bucket });
    expect(await raw.bucketExists(bucket)).toBe(true);
    const info = await writeBlob(store, Buffer.from('kept across opens'));
    const { store: reopened } = await open({ bucket });
    expect((await readBlob(reopened, info.digest)).toString()).toBe('kept across opens');
  });

  it('an endpoint where nothing listens is Unavailable, naming the endpoint', async () => {
    const port = await freePort();
    const endpoint = `http://127.0.0.1:${port}`;
    await expectError(
      createS3Store(options({ endpoint })),
      'Unavailable',
      `S3 endpoint ${endpoint} is unreachable (ECONNREFUSED) while opening bucket strata-test-${buckets}: check that the object store runs and that the endpoint setting is right`,
    );
  });

  it('an unknown access key is PermissionDenied', async () => {
    const opts = options({ accessKey: 'nobody' });
    await expectError(
      createS3Store(opts),
      'PermissionDenied',
      `S3 endpoint ${s3.endpoint} refused the credentials for bucket ${opts.bucket} (AccessDenied) while opening bucket ${opts.bucket}: check the access key, secret key and bucket policy`,
    );
  });

  it.each([
    ['an endpoint that is not a URL', { endpoint: '127.0.0.1:9000' }, 'invalid S3 endpoint "127.0.0.1:9000": expected a URL such as http://127.0.0.1:9000'],
    ['an endpoint of another scheme', { endpoint: 'ftp://127.0.0.1' }, 'invalid S3 endpoint "ftp://127.0.0.1": the scheme must be http or https'],
    [
      'an endpoint with a path',
      { endpoint: 'http://127.0.0.1:9000/bucket' },
      'invalid S3 endpoint "http://127.0.0.1:9000/bucket": give only scheme, host and port; the bucket and credentials are separate settings',
    ],
    [
      'an upper-case bucket',
      { bucket: 'Blobs' },
      'invalid S3 bucket name "Blobs": use 3 to 63 of a-z 0-9 . -, starting and ending with a letter or digit',
    ],
    [
      'a prefix escaping upwards',
      { prefix: '../other' },
      'invalid S3 key prefix "../other": use path segments of A-Z a-z 0-9 . _ - separated by "/", without "." or ".." segments',
    ],
    [
      'a prefix starting with a slash',
      { prefix: '/abs' },
      'invalid S3 key prefix "/abs": use path segments of A-Z a-z 0-9 . _ - separated by "/", without "." or ".." segments',
    ],
    ['a part size under 5 MiB', { partSize: MiB }, 'invalid S3 part size 1048576: use 5242880 (5 MiB) to 5368709120 (5 GiB) bytes'],
  ])('%s is InvalidArgument', async (_name, extra, message) => {
    await expectError(createS3Store(options(extra)), 'InvalidArgument', message);
  });

  it('a store whose endpoint went away is Unavailable', async () => {
    const own = await startS3rver();
    let stopped = false;
    try {
      const store = await createS3Store({ ...options(), endpoint: own.endpoint, partSize: 5 * MiB });
      stores.push(store);
      const info = await writeBlob(store, Buffer.from('then the server stops'));
      const w = await store.writer({ ref: 'cut-off' });
      await w.write(Buffer.from('buffered'));
      await own.stop();
      stopped = true;
      await expectError(store.info(info.digest), 'Unavailable', new RegExp(`^S3 endpoint ${own.endpoint} is unreachable`));
      await expectError(store.writer({ ref: 'no-server' }), 'Unavailable', /while reading the state of ingest no-server/);
      await expectError(w.write(randomBytesOf(5 * MiB)), 'Unavailable', /while starting the upload of ingest cut-off/);
      expect(w.offset).toBe(8);
      await w.close();
    } finally {
      if (!stopped) await own.stop();
    }
  });
});
