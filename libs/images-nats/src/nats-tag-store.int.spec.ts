import { Kvm } from '@nats-io/kv';
import { connect } from '@nats-io/transport-node';
import { createNatsConnection } from '@strata/events-nats';
import { startNatsServer, type TestNatsServer } from '@strata/events-nats/testing';
import type { TagRecord, TagStore } from '@strata/images';
import { tagStoreSuite } from '@strata/images/testing';
import { isStrataError, silentLogger, type ErrorKind } from '@strata/kit';
import { freePort, waitFor } from '@strata/kit/testing';
import { digestOf, type Digest } from '@strata/oci';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createNatsTagStore, DEFAULT_IMAGES_BUCKET, type NatsTagStoreOptions } from './nats-tag-store.js';
import { encodeTagKey } from './tag-key.js';

let server: TestNatsServer;
let buckets = 0;
const stores: TagStore[] = [];

beforeAll(async () => {
  server = await startNatsServer();
});
afterAll(async () => {
  await server?.stop();
});
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
});

function newStore(overrides: Partial<NatsTagStoreOptions> = {}): TagStore {
  const store = createNatsTagStore({ servers: server.url, logger: silentLogger(), connectWaitMs: 5000, ...overrides });
  stores.push(store);
  return store;
}

function record(repository: string, tag: string, digest: Digest = digestOf(`${repository}:${tag}`)): TagRecord {
  return {
    domain: 'docker.io',
    repository,
    tag,
    digest,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    size: 1234,
    updatedAt: new Date('2024-05-01T12:00:00.123Z'),
  };
}

async function raised(action: () => Promise<unknown>): Promise<{ kind: ErrorKind; message: string }> {
  try {
    await action();
  } catch (err) {
    if (!isStrataError(err)) throw new Error(`expected a Strata error, got ${String(err)}`, { cause: err });
    return { kind: err.kind, message: err.message };
  }
  throw new Error('expected a Strata error, but the call succeeded');
}

tagStoreSuite('NATS KV', async () => createNatsTagStore({ servers: server.url, bucket: `suite_${++buckets}`, logger: silentLogger() }));

describe('createNatsTagStore', () => {
  it('shares tags between two replicas on one server', async () => {
    const bucket = `replicas_${++buckets}`;
    const shared = createNatsConnection({ servers: server.url, name: 'test', logger: silentLogger() });
    try {
      const a = newStore({ bucket });
      const b = newStore({ bucket, connection: shared });
      await a.put(record('library/busybox', 'latest'));
      expect(await b.get('docker.io', 'library/busybox', 'latest')).toEqual(record('library/busybox', 'latest'));
      const moved = record('library/busybox', 'latest', digestOf('moved'));
      await b.put(moved);
      await b.put(record('library/alpine', '3.19', moved.digest));
      expect(await a.get('docker.io', 'library/busybox', 'latest')).toEqual(moved);
      expect((await a.tagsOf(moved.digest)).map((r) => r.repository)).toEqual(['library/alpine', 'library/busybox']);
      await a.delete('docker.io', 'library/busybox', 'latest');
      expect(await raised(() => b.delete('docker.io', 'library/busybox', 'latest'))).toEqual({
        kind: 'NotFound',
        message: 'tag docker.io/library/busybox:latest not found',
      });
      expect((await b.list()).map((r) => r.tag)).toEqual(['3.19']);
      await b.close();
      expect(shared.current()).toBeDefined();
    } finally {
      await shared.close();
    }
  });

  it('keeps the index in the bucket strata_images by default', async () => {
    const store = newStore();
    await store.put(record('library/busybox', 'latest'));
    const nc = await connect({ servers: server.url });
    try {
      const kv = await new Kvm(nc).open(DEFAULT_IMAGES_BUCKET);
      const entry = await kv.get(encodeTagKey('docker.io', 'library/busybox', 'latest'));
      expect(entry?.json()).toEqual({ ...record('library/busybox', 'latest'), updatedAt: '2024-05-01T12:00:00.123Z' });
    } finally {
      await nc.close();
    }
  });

  it('opens its bucket as soon as it is connected, before any operation', async () => {
    const bucket = `eager_${++buckets}`;
    newStore({ bucket });
    const nc = await connect({ servers: server.url });
    try {
      const kvm = new Kvm(nc);
      await waitFor(
        async () => {
          for await (const status of kvm.list()) if (status.bucket === bucket) return true;
          return false;
        },
        () => `the bucket ${bucket} to be created`,
        5000,
      );
    } finally {
      await nc.close();
    }
  });

  it('makes its bucket again within the operation that found no stream answering (a stream removed, or not served yet)', async () => {
    const bucket = `remade_${++buckets}`;
    const store = newStore({ bucket });
    await store.put(record('library/busybox', 'latest'));
    const nc = await connect({ servers: server.url });
    try {
      // Behind the store's back: its put now reaches no stream, which JetStream reports as not enabled.
      await (await new Kvm(nc).open(bucket)).destroy();
      await store.put(record('library/alpine', '3.19'));
      expect((await store.list()).map((r) => r.repository)).toEqual(['library/alpine']);
    } finally {
      await nc.close();
    }
  });

  it('raises DataLoss from get and skips in list for a value that is not a tag record', async () => {
    const bucket = `corrupt_${++buckets}`;
    const store = newStore({ bucket });
    await store.put(record('library/busybox', 'latest'));
    const key = encodeTagKey('docker.io', 'library/busybox', 'broken');
    const nc = await connect({ servers: server.url });
    try {
      const kv = await new Kvm(nc).open(bucket);
      await kv.put(key, JSON.stringify({ digest: 'sha256:nope', mediaType: 'x', size: 1, updatedAt: '2024-05-01T12:00:00Z' }));
      await kv.put('unrelated.key', 'hello');
    } finally {
      await nc.close();
    }
    expect(await raised(() => store.get('docker.io', 'library/busybox', 'broken'))).toEqual({
      kind: 'DataLoss',
      message: `the image index (NATS KV bucket "${bucket}") holds a value under ${key} that is not a tag record: invalid digest "sha256:nope": not hexadecimal`,
    });
    expect((await store.list()).map((r) => r.tag)).toEqual(['latest']);
  });

  it.each<[string, Partial<NatsTagStoreOptions>, string]>([
    ['a bucket name with a dot', { bucket: 'a.b' }, 'invalid KV bucket name "a.b": use letters, digits, "-" and "_"'],
    ['no replicas', { replicas: 0 }, 'KV bucket replicas must be a whole number from 1 to 5; got 0'],
    ['no servers', { servers: [] }, 'NATS servers must be one or more non-empty URLs such as nats://127.0.0.1:4222'],
  ])('refuses %s', async (_, overrides, message) => {
    expect(await raised(async () => newStore(overrides))).toEqual({ kind: 'InvalidArgument', message });
  });

  it('raises FailedPrecondition after close', async () => {
    const store = newStore({ bucket: `closed_${++buckets}` });
    await store.close();
    expect(await raised(() => store.list())).toEqual({
      kind: 'FailedPrecondition',
      message: `the image index (NATS KV bucket "closed_${buckets}") was closed`,
    });
  });

  it('raises Unavailable naming the server when NATS never answered', async () => {
    const url = `nats://127.0.0.1:${await freePort()}`;
    const store = newStore({ servers: url, connectWaitMs: 200 });
    const started = Date.now();
    expect(await raised(() => store.get('docker.io', 'library/busybox', 'latest'))).toEqual({
      kind: 'Unavailable',
      message: `the image index (NATS KV bucket "strata_images") is unavailable: NATS at ${url} is not reachable; check that nats-server is running with JetStream`,
    });
    expect(Date.now() - started).toBeLessThan(2000);
  });
});

describe('createNatsTagStore when NATS stops and comes back', () => {
  let own: TestNatsServer;
  beforeAll(async () => {
    own = await startNatsServer();
  });
  afterAll(async () => {
    await own?.stop();
  });

  it('raises Unavailable while NATS is down and works again after it restarts', async () => {
    const store = newStore({ servers: own.url, connectWaitMs: 300 });
    const kept = record('library/busybox', 'latest');
    await store.put(kept);
    const message = `the image index (NATS KV bucket "strata_images") is unavailable: NATS at ${own.url} is not reachable; check that nats-server is running with JetStream`;
    await own.restart(async () => {
      // The client notices the closed socket within moments.
      await waitFor(
        async () => (await raised(() => store.get('docker.io', 'library/busybox', 'latest'))).kind === 'Unavailable',
        () => 'the store to notice that NATS stopped',
        5000,
      );
      const operations: Array<[string, () => Promise<unknown>]> = [
        ['get', () => store.get('docker.io', 'library/busybox', 'latest')],
        ['put', () => store.put(record('library/busybox', '1.36'))],
        ['delete', () => store.delete('docker.io', 'library/busybox', 'latest')],
        ['list', () => store.list()],
        ['tagsOf', () => store.tagsOf(kept.digest)],
      ];
      for (const [name, op] of operations) {
        expect({ name, ...(await raised(op)) }).toEqual({ name, kind: 'Unavailable', message });
      }
    });
    await waitFor(
      async () => (await store.get('docker.io', 'library/busybox', 'latest')) !== undefined,
      () => 'the store to reconnect',
      10_000,
    );
    expect(await store.get('docker.io', 'library/busybox', 'latest')).toEqual(kept);
    await store.put(record('library/busybox', '1.36'));
    expect((await store.list()).map((r) => r.tag)).toEqual(['1.36', 'latest']);
  });
});
