import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '@strata/kit';
import { GC_ROOT_LABEL, createLeaseManager, putBlob, type LeaseManager, type Store } from '@strata/content';
import { createMemoryMetadataStore, createMemoryStore, expectError, randomBytesOf, writeBlob } from '@strata/content/testing';
import type { TagStore } from '@strata/images';
import { createMemoryTagStore } from '@strata/images/testing';
import { multiPlatformIndex, type BuiltImage, type BuiltIndex } from '@strata/image-fixtures';
import { digestOf, type Digest } from '@strata/oci';
import { LOCAL_DOMAIN, createLocalBackend, type LocalBackend, type ReferenceChange } from './local-backend.js';
import { addDigestRef, digestRefsOf, releaseUnreferencedRoot, removeDigestRef } from './digest-refs.js';
import type { Repository } from './registry-backend.js';
import { toRegistryErrorResponse } from './registry-error.js';

const index: BuiltIndex = await multiPlatformIndex();
let store: Store;
let tags: TagStore;
let leases: LeaseManager;
let backend: LocalBackend;
let repo: Repository;

beforeEach(async () => {
  store = createMemoryStore();
  tags = createMemoryTagStore();
  leases = createLeaseManager(createMemoryMetadataStore());
  backend = createLocalBackend({ store, tags, leases, logger: silentLogger() });
  repo = await backend.repository('lib/multi');
});
afterEach(async () => {
  await store.close();
  await tags.close();
});

async function* bodyOf(...parts: Uint8Array[]): AsyncGenerator<Uint8Array> {
  for (const part of parts) yield part;
}

async function pushImageBlobs(image: BuiltImage): Promise<void> {
  for (const blob of image.blobs) await writeBlob(store, blob.bytes);
}

async function pushChild(image: BuiltImage): Promise<void> {
  await pushImageBlobs(image);
  await repo.putManifest({ reference: { digest: image.manifest.digest }, bytes: image.manifest.bytes, contentType: image.manifest.mediaType });
}

/** Asserts action fails with the registry code and message. */
async function expectCode(action: Promise<unknown>, code: string, message: string | RegExp): Promise<void> {
  const err = await expectError(action, toKind(code), message);
  expect(toRegistryErrorResponse(err).code).toBe(code);
}

function toKind(code: string) {
  return ({ MANIFEST_BLOB_UNKNOWN: 'FailedPrecondition', SIZE_INVALID: 'InvalidArgument', DIGEST_INVALID: 'InvalidArgument', MANIFEST_UNKNOWN: 'NotFound' } as const)[
    code as 'SIZE_INVALID'
  ];
}

describe('local backend: indexes', () => {
  it('refuses an index whose child manifest is not stored, or is a blob, with MANIFEST_BLOB_UNKNOWN', async () => {
    const [amd64, arm64] = index.images as [BuiltImage, BuiltImage];
    await pushChild(amd64);
    const put = () => repo.putManifest({ reference: { tag: 'latest' }, bytes: index.index.bytes, contentType: index.index.mediaType });
    await expectCode(put(), 'MANIFEST_BLOB_UNKNOWN', `manifest references manifest ${arm64.manifest.digest}, which is not stored; push it first`);
    await writeBlob(store, arm64.manifest.bytes);
    await expectCode(
      put(),
      'MANIFEST_BLOB_UNKNOWN',
      `image index lists ${arm64.manifest.digest}, which is a blob, not a manifest; push the manifest first`,
    );
  });

  it('stores a tagged index with references to its children, which stay served by digest', async () => {
    for (const image of index.images) await pushChild(image);
    const result = await repo.putManifest({ reference: { tag: 'latest' }, bytes: index.index.bytes, contentType: index.index.mediaType });
    expect(result).toEqual({ digest: index.index.digest, mediaType: index.index.mediaType, size: index.index.size });
    const labels = (await store.info(index.index.digest)).labels;
    expect(labels).toMatchObject({
      'strata.gc.ref.content.m.0': index.images[0]!.manifest.digest,
      'strata.gc.ref.content.m.1': index.images[1]!.manifest.digest,
      [GC_ROOT_LABEL]: expect.any(String),
    });
    expect((await store.info(index.images[0]!.manifest.digest)).labels[GC_ROOT_LABEL]).toBeUndefined();
    const child = await (await backend.repository('another/name')).getManifest({ digest: index.images[1]!.manifest.digest });
    expect(Buffer.compare(Buffer.from(child.bytes), index.images[1]!.manifest.bytes)).toBe(0);
  });

  it('deletes a manifest by digest but keeps its bytes while another repository tags it', async () => {
    const image = index.images[0]!;
    await pushImageBlobs(image);
    const put = { bytes: image.manifest.bytes, contentType: image.manifest.mediaType };
    await repo.putManifest({ reference: { tag: 'mine' }, ...put });
    const other = await backend.repository('other/repo');
    await other.putManifest({ reference: { tag: 'theirs' }, ...put });
    await repo.deleteManifest({ digest: image.manifest.digest });
    expect(await tags.get(LOCAL_DOMAIN, 'lib/multi', 'mine')).toBeUndefined();
    expect((await other.getManifest({ tag: 'theirs' })).digest).toBe(image.manifest.digest);
    await other.deleteManifest({ digest: image.manifest.digest });
    await expectCode(other.resolveManifest({ digest: image.manifest.digest }), 'MANIFEST_UNKNOWN', `manifest unknown: ${image.manifest.digest} not found`);
  });
});

describe('local backend: uploads', () => {
  it.each([
    ['longer', [randomBytesOf(6)], 'chunk of blob upload ID is longer than the 5 bytes it declared'],
    ['shorter', [randomBytesOf(4)], 'chunk of blob upload ID has 4 bytes, not the 5 it declared'],
  ])('refuses a chunk %s than it declared with SIZE_INVALID', async (_what, parts, message) => {
    const { id } = await repo.startUpload();
    await expectCode(repo.appendUpload(id, { body: bodyOf(...parts), start: 0, length: 5 }), 'SIZE_INVALID', message.replace('ID', id));
  });

  it('holds a completed upload with a lease, so garbage collection keeps it until a manifest references it', async () => {
    const bytes = randomBytesOf(2000);
    const digest = digestOf(bytes);
    const { id } = await repo.startUpload();
    await repo.appendUpload(id, { body: bodyOf(bytes.subarray(0, 1000)) });
    const head = await repo.completeUpload(id, digest, { body: bodyOf(bytes.subarray(1000)), start: 1000, length: 1000 });
    expect(head).toEqual({ digest, size: 2000 });
    expect(await leases.held()).toEqual(new Set<Digest>([digest]));
    const [lease] = await leases.list();
    expect(lease!.id).toBe(`registry-upload-${id}`);
    expect(lease!.expiresAt!.getTime() - Date.now()).toBeGreaterThan(3500_000);
  });

  it('completes an upload of a blob that is already stored', async () => {
    const bytes = randomBytesOf(10);
    await writeBlob(store, bytes);
    const { id } = await repo.startUpload();
    expect(await repo.completeUpload(id, digestOf(bytes), { body: bodyOf(bytes) })).toEqual({ digest: digestOf(bytes), size: 10 });
    expect(await store.listStatuses()).toEqual([]);
  });

  it('aborts uploads not written to for a while', async () => {
    const stale = await repo.startUpload();
    const fresh = await repo.startUpload();
    await repo.appendUpload(fresh.id, { body: bodyOf(randomBytesOf(3)) });
    const later = new Date(Date.now() + 60_000);
    expect(await backend.abortStaleUploads(120_000, later)).toBe(0);
    expect(await backend.abortStaleUploads(30_000, later)).toBe(2);
    await expectError(repo.uploadStatus(stale.id), 'NotFound', `blob upload ${stale.id} unknown: it was completed, cancelled or never started`);
  });
});

describe('local backend: reference changes and digest references', () => {
  const changes: ReferenceChange[] = [];
  let reporting: LocalBackend;
  beforeEach(() => {
    changes.splice(0);
    reporting = createLocalBackend({ store, tags, logger: silentLogger(), onReferenceChange: (change) => changes.push(change) });
  });

  async function putTagged(r: Repository, image: BuiltImage, tag: string): Promise<void> {
    for (const blob of image.blobs) await putBlob(store, blob.digest, blob.bytes, {});
    await r.putManifest({ reference: { tag }, bytes: image.manifest.bytes, contentType: image.manifest.mediaType });
  }

  it('reports a new tag, a moved tag with its previous digest, and nothing when a PUT leaves the tag where it was', async () => {
    const [amd64, arm64] = index.images as [BuiltImage, BuiltImage];
    const r = await reporting.repository('lib/app');
    await putTagged(r, amd64, 'v1');
    await putTagged(r, amd64, 'v1');
    await putTagged(r, arm64, 'v1');
    await r.putManifest({ reference: { digest: amd64.manifest.digest }, bytes: amd64.manifest.bytes, contentType: amd64.manifest.mediaType });
    expect(changes).toEqual([
      { kind: 'tagged', record: expect.objectContaining({ domain: LOCAL_DOMAIN, repository: 'lib/app', tag: 'v1', digest: amd64.manifest.digest, mediaType: amd64.manifest.mediaType }) },
      {
        kind: 'tagged',
        record: expect.objectContaining({ domain: LOCAL_DOMAIN, repository: 'lib/app', tag: 'v1', digest: arm64.manifest.digest }),
        previousDigest: amd64.manifest.digest,
      },
    ]);
  });

  it('reports a deleted tag, with imageDeleted only when nothing references the manifest any more', async () => {
    const [amd64] = index.images as [BuiltImage, BuiltImage];
    const r = await reporting.repository('lib/app');
    await putTagged(r, amd64, 'v1');
    await putTagged(r, amd64, 'v2');
    changes.splice(0);
    await r.deleteManifest({ tag: 'v1' });
    await r.deleteManifest({ tag: 'v2' });
    expect(changes).toEqual([
      { kind: 'deleted', domain: LOCAL_DOMAIN, repository: 'lib/app', tag: 'v1', digest: amd64.manifest.digest, imageDeleted: false },
      { kind: 'deleted', domain: LOCAL_DOMAIN, repository: 'lib/app', tag: 'v2', digest: amd64.manifest.digest, imageDeleted: true },
    ]);
    expect((await store.info(amd64.manifest.digest)).labels[GC_ROOT_LABEL]).toBeUndefined();
  });

  it("deletes by digest this repository's tags and digest reference, and keeps the bytes while another repository references them", async () => {
    const [amd64] = index.images as [BuiltImage, BuiltImage];
    const r = await reporting.repository('lib/app');
    await putTagged(r, amd64, 'v1');
    await putTagged(r, amd64, 'v2');
    expect(await addDigestRef(store, amd64.manifest.digest, LOCAL_DOMAIN, 'lib/app')).toBe(true);
    expect(await addDigestRef(store, amd64.manifest.digest, 'docker.io', 'library/app')).toBe(true);
    changes.splice(0);
    await r.deleteManifest({ digest: amd64.manifest.digest });
    const deleted = (tag?: string) => ({ kind: 'deleted', domain: LOCAL_DOMAIN, repository: 'lib/app', digest: amd64.manifest.digest, imageDeleted: false, ...(tag === undefined ? {} : { tag }) });
    expect(changes).toEqual([deleted('v1'), deleted('v2'), deleted()]);
    const info = await store.info(amd64.manifest.digest);
    expect(digestRefsOf(info)).toEqual([{ domain: 'docker.io', repository: 'library/app', digest: amd64.manifest.digest, since: expect.any(String) }]);
    expect(info.labels[GC_ROOT_LABEL]).toBeDefined();

    expect(await removeDigestRef(store, amd64.manifest.digest, 'docker.io', 'library/app')).toBe(true);
    await putTagged(r, amd64, 'v3');
    changes.splice(0);
    await r.deleteManifest({ digest: amd64.manifest.digest });
    expect(changes).toEqual([{ ...deleted('v3'), imageDeleted: true }]);
    await expectCode(r.getManifest({ digest: amd64.manifest.digest }), 'MANIFEST_UNKNOWN', `manifest unknown: ${amd64.manifest.digest} not found`);
  });

  it('keeps the root of a manifest a moved tag left while a digest reference names it', async () => {
    const [amd64, arm64] = index.images as [BuiltImage, BuiltImage];
    const r = await reporting.repository('lib/app');
    await putTagged(r, amd64, 'v1');
    await addDigestRef(store, amd64.manifest.digest, LOCAL_DOMAIN, 'lib/app');
    await putTagged(r, arm64, 'v1');
    expect((await store.info(amd64.manifest.digest)).labels[GC_ROOT_LABEL]).toBeDefined();
    expect(await releaseUnreferencedRoot(store, tags, amd64.manifest.digest)).toBe(false);
    await removeDigestRef(store, amd64.manifest.digest, LOCAL_DOMAIN, 'lib/app');
    expect(await releaseUnreferencedRoot(store, tags, amd64.manifest.digest)).toBe(true);
    expect((await store.info(amd64.manifest.digest)).labels[GC_ROOT_LABEL]).toBeUndefined();
  });

  it('logs and goes on when the hook throws', async () => {
    const [amd64] = index.images as [BuiltImage, BuiltImage];
    const throwing = createLocalBackend({
      store,
      tags,
      logger: silentLogger(),
      onReferenceChange: () => {
        throw new Error('hook broke');
      },
    });
    const r = await throwing.repository('lib/app');
    await putTagged(r, amd64, 'v1');
    expect((await tags.get(LOCAL_DOMAIN, 'lib/app', 'v1'))?.digest).toBe(amd64.manifest.digest);
  });
});
