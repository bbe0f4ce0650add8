import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LayerStatus, type PushResponse } from '@strata/api/images/v1';
import { createLeaseManager, putBlob, type Store } from '@strata/content';
import { createMemoryMetadataStore, createMemoryStore } from '@strata/content/testing';
import { createRegistryClient, type RegistryClient } from '@strata/distribution-client';
import { createMemoryTagStore } from '@strata/images/testing';
import type { TagStore } from '@strata/images';
import { buildImage, multiPlatformIndex, startDistributionRegistry, type BuiltArtifact, type BuiltImage, type BuiltIndex, type TestDistributionRegistry } from '@strata/image-fixtures';
import { isStrataError, silentLogger } from '@strata/kit';
import { tempDir } from '@strata/kit/testing';
import { createLocalBackend } from '@strata/registry-http';
import { createImages, type Images } from './images.js';
import { createRecordingEventSink, type RecordingEventSink } from './testing/index.js';

const run = promisify(execFile);
const MIRROR = '127.0.0.1:5050';
const logger = silentLogger();
const scratch = tempDir('strata-push-');
const closers: Array<() => unknown> = [];
let open: TestDistributionRegistry;
let locked: TestDistributionRegistry;
let store: Store;
let tags: TagStore;
let events: RecordingEventSink;
let registries: RegistryClient;
let images: Images;
let image: BuiltImage;
let index: BuiltIndex;

async function push(repository: string, tag: string, artifact: BuiltArtifact): Promise<void> {
  const repo = await createLocalBackend({ store, tags, logger }).repository(`local/${repository}`);
  const built = artifact.kind === 'index' ? artifact.images : [artifact];
  for (const one of built) {
    for (const blob of one.blobs) await putBlob(store, blob.digest, blob.bytes, {});
    if (artifact.kind === 'index') await repo.putManifest({ reference: { digest: one.manifest.digest }, bytes: one.manifest.bytes, contentType: one.manifest.mediaType });
  }
  const top = artifact.kind === 'index' ? artifact.index : artifact.manifest;
  await repo.putManifest({ reference: { tag }, bytes: top.bytes, contentType: top.mediaType });
}

async function pushed(ref: string, target: string): Promise<PushResponse[]> {
  const out: PushResponse[] = [];
  for await (const e of images.push({ ref, target })) out.push(e);
  return out;
}

/** Each blob's statuses in order (repeats collapsed), by blob index. */
function statuses(events: PushResponse[]): string[][] {
  const out: string[][] = [];
  for (const e of events) {
    if (e.event?.$case !== 'layer') continue;
    const list = (out[e.event.value.index] ??= []);
    const status = LayerStatus[e.event.value.status].replace('LAYER_STATUS_', '');
    if (list.at(-1) !== status) list.push(status);
  }
  return out;
}

/** Copies ref back with skopeo into an OCI layout; returns the layout directory. */
async function skopeoCopy(ref: string, name: string, creds?: { username: string; password: string }): Promise<string> {
  const dir = join(scratch.path, name);
  await run('skopeo', [
    'copy',
    '--all',
    '--preserve-digests',
    '--src-tls-verify=false',
    ...(creds === undefined ? [] : ['--src-creds', `${creds.username}:${creds.password}`]),
    `docker://${ref}`,
    `oci:${dir}:copied`,
  ]);
  return dir;
}

const blobOf = (dir: string, digest: string) => readFile(join(dir, 'blobs', 'sha256', digest.slice('sha256:'.length)));

beforeAll(async () => {
  [open, locked] = await Promise.all([startDistributionRegistry(), startDistributionRegistry({ auth: 'htpasswd' })]);
  closers.push(() => open.stop(), () => locked.stop());
  image = await buildImage({ layers: [{ items: [{ file: 'a', content: 'a\n'.repeat(50_000) }] }, { items: [{ file: 'b', content: 'b\n' }] }] });
  index = await multiPlatformIndex();
  store = createMemoryStore();
  tags = createMemoryTagStore();
  events = createRecordingEventSink();
  registries = createRegistryClient({ upstreams: [{ host: locked.host, credentials: locked.credentials! }], logger });
  closers.push(() => registries.close(), () => tags.close(), () => store.close());
  images = createImages({
    store,
    tags,
    leases: createLeaseManager(createMemoryMetadataStore()),
    backend: createLocalBackend({ store, tags, logger }),
    events,
    logger,
    registries,
    localDomains: [MIRROR],
    hostPlatform: { os: 'linux', architecture: 'amd64' },
  });
  await push('app', 'v1', image);
  await push('multi', '1', index);
}, 60_000);

afterAll(async () => {
  for (const close of closers.reverse()) await close();
  scratch.remove();
});

describe('Push', () => {
  it('pushes to an unconfigured loopback registry over plain HTTP; skopeo copies it back byte-identical', async () => {
    const target = `${open.host}/team/app:v1`;
    const out = await pushed(`${MIRROR}/local/app:v1`, target);
    expect(out[0]?.event).toEqual({
      $case: 'resolved',
      value: expect.objectContaining({ ref: `${MIRROR}/local/app:v1`, target, blobs: [...image.layers, image.config].map((b) => expect.objectContaining({ digest: b.digest })) }),
    });
    expect(statuses(out)).toEqual([
      ['WAITING', 'PUSHING', 'PUSHED', 'DONE'],
      ['WAITING', 'PUSHING', 'PUSHED', 'DONE'],
      ['WAITING', 'PUSHING', 'PUSHED', 'DONE'],
    ]);
    const uploaded = image.blobs.reduce((n, b) => n + b.size, 0);
    expect(out.at(-1)?.event).toEqual({ $case: 'done', value: { target, digest: image.manifest.digest, size: image.manifest.size, uploaded } });
    expect(events.of('image.pushed').at(-1)).toEqual({
      type: 'image.pushed',
      subject: target,
      data: { ref: `${MIRROR}/local/app:v1`, target, digest: image.manifest.digest, mediaType: image.manifest.mediaType, uploaded },
    });

    const { stdout } = await run('skopeo', ['inspect', '--tls-verify=false', '--raw', `docker://${target}`]);
    expect(stdout).toBe(Buffer.from(image.manifest.bytes).toString());
    const dir = await skopeoCopy(target, 'app');
    for (const blob of [...image.blobs, image.manifest]) expect(Buffer.compare(await blobOf(dir, blob.digest), Buffer.from(blob.bytes))).toBe(0);

    const again = await pushed(`${MIRROR}/local/app:v1`, `${open.host}/team/app:v2`);
    expect(statuses(again)).toEqual([
      ['WAITING', 'EXISTS', 'DONE'],
      ['WAITING', 'EXISTS', 'DONE'],
      ['WAITING', 'EXISTS', 'DONE'],
    ]);
    expect(again.at(-1)?.event).toMatchObject({ $case: 'done', value: { uploaded: 0 } });
  }, 60_000);

  it('pushes a whole index with credentials to a configured upstream, and mounts across its repositories', async () => {
    const target = `${locked.host}/org/multi:1`;
    const out = await pushed(`${MIRROR}/local/multi:1`, target);
    expect(out.at(-1)?.event).toMatchObject({ $case: 'done', value: { digest: index.index.digest } });
    const dir = await skopeoCopy(target, 'multi', locked.credentials);
    for (const one of index.images) for (const blob of [...one.blobs, one.manifest]) expect(Buffer.compare(await blobOf(dir, blob.digest), Buffer.from(blob.bytes))).toBe(0);
    expect(Buffer.compare(await blobOf(dir, index.index.digest), Buffer.from(index.index.bytes))).toBe(0);

    await tags.put({ domain: locked.host, repository: 'org/multi', tag: '1', digest: index.index.digest, mediaType: index.index.mediaType, size: index.index.size, updatedAt: new Date() });
    locked.clearRequestLog();
    const mounted = await pushed(target, `${locked.host}/org/other:1`);
    expect(statuses(mounted).every((s) => s.includes('MOUNTED'))).toBe(true);
    await locked.settleRequestLog();
    expect(locked.requestLog().filter((r) => r.method === 'PUT' && r.path.includes('/blobs/uploads/'))).toEqual([]);
  }, 60_000);

  it.each([
    ['a host that is not configured nor loopback', `${MIRROR}/local/app:v1`, 'registry.example.com/app:1', 'FailedPrecondition', /^upstream registry "registry.example.com" is not configured; configured: 127\.0\.0\.1:\d+$/],
    ['a digest target', `${MIRROR}/local/app:v1`, `${'127.0.0.1:1'}/app@sha256:${'a'.repeat(64)}`, 'InvalidArgument', /^refusing to push to a digest reference; give the target a tag$/],
    ['an image that is not here', 'nothing:here', '127.0.0.1:1/app:1', 'NotFound', /^No such image: nothing:here$/],
    ['an image id without a target', `sha256:${'b'.repeat(64)}`, '', 'InvalidArgument', /needs a target repository:tag; give TARGET$/],
  ])('refuses %s', async (_what, ref, target, kind, message) => {
    let caught: unknown;
    try {
      await pushed(ref, target);
    } catch (err) {
      caught = err;
    }
    expect(isStrataError(caught) && caught.kind).toBe(kind);
    expect((caught as Error).message).toMatch(message);
  });
});
