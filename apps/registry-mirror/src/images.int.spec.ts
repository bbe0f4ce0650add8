import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { connect as natsConnect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImagesService, LayerStatus, type PullRequest, type PullResponse } from '@strata/api/images/v1';
import { createGrpcStore, type GrpcStore } from '@strata/content-grpc';
import { startNatsServer, type TestNatsServer } from '@strata/events-nats/testing';
import { createClient, waitForHealthy, type RpcClient } from '@strata/grpc-kit';
import {
  buildImage,
  busyboxImage,
  multiPlatformIndex,
  pushImage,
  startDistributionRegistry,
  writeOciLayout,
  type BuiltImage,
  type BuiltIndex,
  type TestDistributionRegistry,
} from '@strata/image-fixtures';
import { isStrataError, silentLogger, type CloudEvent, type ErrorKind } from '@strata/kit';
import { startProcess, tempDir, type TestProcess } from '@strata/kit/testing';
import { loadRegistryMirrorConfig } from './config.js';
import { startRegistryMirror, type RegistryMirror } from './registry-mirror.js';

const run = promisify(execFile);
const layerStoreBin = fileURLToPath(new URL('../../layer-store/bin/layer-store.mjs', import.meta.url));
const scratch = tempDir('strata-images-');
const runDir = join(scratch.path, 'run');
const processes: TestProcess[] = [];
const closers: Array<() => unknown> = [];
let nats: TestNatsServer;
let upstream: TestDistributionRegistry;
let mirror: RegistryMirror;
let client: RpcClient;
let layerStore: GrpcStore;
let eventsConnection: NatsConnection;
const received: CloudEvent[] = [];
let busybox: BuiltImage;
let index: BuiltIndex;
let local: string;

const up = (path: string) => `${upstream.host}/${path}`;

async function pull(request: Partial<PullRequest> & { ref: string }, onEvent?: (e: PullResponse) => Promise<void>): Promise<PullResponse[]> {
  const out: PullResponse[] = [];
  for await (const event of client.serverStream(ImagesService.pull, { platform: undefined, ...request })) {
    out.push(event);
    await onEvent?.(event);
  }
  return out;
}

async function failure(action: Promise<unknown>): Promise<{ kind: ErrorKind; message: string }> {
  try {
    await action;
  } catch (err) {
    if (isStrataError(err)) return { kind: err.kind, message: err.message };
    throw err;
  }
  throw new Error('expected a failure, but it succeeded');
}

/** The layer events of a pull as `index:STATUS` per layer, in the order they came. */
function layerStatuses(events: PullResponse[]): Map<number, string[]> {
  const out = new Map<number, string[]>();
  for (const e of events) {
    if (e.event?.$case !== 'layer') continue;
    const list = out.get(e.event.value.index) ?? [];
    const status = LayerStatus[e.event.value.status].replace('LAYER_STATUS_', '');
    if (list.at(-1) !== status) list.push(status);
    out.set(e.event.value.index, list);
  }
  return out;
}

async function blobGets(repository: string): Promise<string[]> {
  await upstream.settleRequestLog();
  return upstream
    .requestLog()
    .filter((r) => r.method === 'GET' && r.path.startsWith(`/v2/${repository}/blobs/`))
    .map((r) => r.path.slice(`/v2/${repository}/blobs/`.length));
}

/** An image no other test uses, with one layer of `bytes` random bytes (so it compresses to about that). */
function uniqueImage(bytes: number): Promise<BuiltImage> {
  return buildImage({ layers: [{ items: [{ file: 'data', content: randomBytes(bytes) }] }, { items: [{ file: 'more', content: randomBytes(1024) }] }] });
}

async function eventsOf(type: string, subject: string, count: number): Promise<CloudEvent[]> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const found = received.filter((e) => e.type === `io.strata.${type}` && e.subject === subject);
    if (found.length >= count || Date.now() > deadline) return found;
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(async () => {
  nats = await startNatsServer();
  closers.push(() => nats.stop());
  upstream = await startDistributionRegistry();
  closers.push(() => upstream.stop());
  busybox = await busyboxImage();
  index = await multiPlatformIndex();
  await pushImage(upstream.url, 'team/busybox', '1.36', busybox);
  await pushImage(upstream.url, 'team/multi-arch', 'latest', index);
  const ls = startProcess(process.execPath, [layerStoreBin, '--state-dir', join(scratch.path, 'state'), '--run-dir', runDir]);
  processes.push(ls);
  await Promise.race([
    waitForHealthy({ unixSocket: join(runDir, 'layer-store.sock') }, { timeoutMs: 30_000 }),
    ls.exited.then((code) => {
      throw new Error(`layer-store exited (${code}):\n${ls.output()}`);
    }),
  ]);
  layerStore = createGrpcStore({ unixSocket: join(runDir, 'layer-store.sock') }, { logger: silentLogger() });
  closers.push(() => layerStore.close());
  eventsConnection = await natsConnect({ servers: nats.url });
  closers.push(() => eventsConnection.close());
  const subscription = eventsConnection.subscribe('strata.events.image.>');
  void (async () => {
    for await (const message of subscription) received.push(message.json<CloudEvent>());
  })();
  await eventsConnection.flush();
  const config = loadRegistryMirrorConfig(
    ['--state-dir', join(scratch.path, 'state'), '--run-dir', runDir, '--nats-url', nats.url, '--listen', '127.0.0.1:0', '--upstream', upstream.host, '--node', 'test'],
    {},
  );
  mirror = await startRegistryMirror(config, silentLogger());
  closers.push(() => mirror.stop(1000));
  local = mirror.localDomains[0] as string;
  client = createClient({ unixSocket: mirror.socket });
  closers.push(() => client.close());
});

afterAll(async () => {
  for (const close of closers.reverse()) await close();
  for (const p of processes.reverse()) await p.stop('SIGTERM', 10_000);
  scratch.remove();
});

describe('Images.Pull through the registry-mirror', () => {
  it('streams RESOLVING, RESOLVED, each layer WAITING → DONE and DONE; a second pull finds every layer and is up to date', async () => {
    const ref = up('team/busybox:1.36');
    const first = await pull({ ref });
    expect(first[0]?.event).toEqual({ $case: 'resolving', value: { ref } });
    expect(first[1]?.event?.$case).toBe('resolved');
    expect(first.filter((e) => e.event?.$case === 'resolved')).toHaveLength(1);
    const done = first.at(-1)?.event;
    expect(done?.$case).toBe('done');
    if (done?.$case !== 'done') return;
    expect(done.value.upToDate).toBe(false);
    expect(done.value.image).toMatchObject({ id: busybox.config.digest, repoTags: [ref], repoDigests: [`${up('team/busybox')}@${busybox.manifest.digest}`] });
    const statuses = layerStatuses(first);
    expect(statuses.get(0)).toEqual(['WAITING', 'DOWNLOADING', 'VERIFYING', 'STORED', 'DONE']);
    const downloading = first.filter((e) => e.event?.$case === 'layer' && e.event.value.status === LayerStatus.LAYER_STATUS_DOWNLOADING);
    const offsets = downloading.map((e) => (e.event?.$case === 'layer' ? e.event.value.offset : -1));
    expect(offsets).toEqual([...offsets].sort((a, b) => a - b));
    for (const blob of [...busybox.blobs, busybox.manifest]) expect((await layerStore.info(blob.digest)).size).toBe(blob.size);

    upstream.clearRequestLog();
    const second = await pull({ ref });
    expect(layerStatuses(second).get(0)).toEqual(['EXISTS', 'DONE']);
    const again = second.at(-1)?.event;
    expect(again?.$case === 'done' && again.value.upToDate).toBe(true);
    expect(await blobGets('team/busybox')).toEqual([]);

    const pulled = await eventsOf('image.pulled', ref, 2);
    expect(pulled.map((e) => e.data)).toEqual([
      expect.objectContaining({ ref, digest: busybox.manifest.digest, imageId: busybox.config.digest, platform: 'linux/amd64', downloaded: expect.any(Number) }),
      { ref, digest: busybox.manifest.digest, mediaType: busybox.manifest.mediaType, imageId: busybox.config.digest, platform: 'linux/amd64' },
    ]);
    expect(pulled[0]?.source).toBe('strata/registry-mirror/test');
    expect((await eventsOf('image.tagged', ref, 1)).map((e) => e.data)).toEqual([{ ref, digest: busybox.manifest.digest, mediaType: busybox.manifest.mediaType }]);
  });

  it('fetches a cold blob from the upstream once for concurrent gRPC pulls and HTTP GETs', async () => {
    const image = await uniqueImage(4 << 20);
    await pushImage(upstream.url, 'team/cold', 'v1', image);
    upstream.clearRequestLog();
    const big = image.layers[0]!.digest;
    const http = Array.from({ length: 3 }, () =>
      fetch(`${mirror.url}/v2/team/cold/blobs/${big}?ns=${upstream.host}`).then(async (r) => Buffer.from(await r.arrayBuffer())),
    );
    const pulls = Array.from({ length: 3 }, () => pull({ ref: up('team/cold:v1') }));
    const bodies = await Promise.all(http);
    for (const body of bodies) expect(Buffer.compare(body, image.layers[0]!.bytes)).toBe(0);
    for (const events of await Promise.all(pulls)) expect(events.at(-1)?.event?.$case).toBe('done');
    const gets = await blobGets('team/cold');
    for (const blob of image.blobs) expect(gets.filter((d) => d === blob.digest), blob.digest).toHaveLength(1);
  });

  it('picks the platform asked for from an index, and the host platform by default', async () => {
    const arm = await pull({ ref: up('team/multi-arch:latest'), platform: { os: 'linux', architecture: 'arm64', variant: '' } });
    const resolved = arm[1]?.event?.$case === 'resolved' ? arm[1].event.value : undefined;
    expect(resolved).toMatchObject({
      target: { digest: index.index.digest, mediaType: index.index.mediaType },
      manifest: { digest: index.images[1]!.manifest.digest },
      platform: { os: 'linux', architecture: 'arm64', variant: 'v8' },
      config: { digest: index.images[1]!.config.digest },
    });
    const inspected = await client.unary(ImagesService.inspect, { ref: up('team/multi-arch'), platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } });
    expect(inspected.image).toMatchObject({ id: index.images[1]!.config.digest, architecture: 'arm64' });
  });

  it.each([
    ['Busybox', 'InvalidArgument', 'invalid reference format: repository name must be lowercase'],
    ['team/Busybox:1', 'InvalidArgument', 'invalid reference format: repository name must be lowercase'],
    ['busybox:', 'InvalidArgument', 'invalid reference format'],
    [`${'127.0.0.1:1'}/team/absent:1`, 'NotFound', /^repository team\/absent not known: ns=127\.0\.0\.1:1 is not an upstream of this mirror/],
  ] as const)('refuses %s with %s', async (ref, kind, message) => {
    const got = await failure(pull({ ref }));
    expect(got.kind).toBe(kind);
    if (typeof message === 'string') expect(got.message).toBe(message);
    else expect(got.message).toMatch(message);
  });

  it('is NOT_FOUND for a tag or platform the upstream lacks, and UNAVAILABLE with nothing cached while it is down, tagging nothing', async () => {
    expect(await failure(pull({ ref: up('team/busybox:absent') }))).toEqual({ kind: 'NotFound', message: `manifest unknown: upstream ${upstream.host} has no team/busybox:absent` });
    expect(await failure(pull({ ref: up('team/multi-arch:latest'), platform: { os: 'linux', architecture: 's390x', variant: '' } }))).toEqual({
      kind: 'NotFound',
      message: 'no matching manifest for linux/s390x in the manifest list entries',
    });
    const image = await uniqueImage(1024);
    await pushImage(upstream.url, 'team/later', 'v1', image);
    await upstream.restart(async () => {
      const got = await failure(pull({ ref: up('team/later:v1') }));
      expect(got.kind).toBe('Unavailable');
      expect(got.message).toMatch(new RegExp(`^manifest team/later:v1 is not cached and upstream ${upstream.host.replace(/\./g, '\\.')} cannot serve it now`));
    });
    const listed = await client.unary(ImagesService.list, { filters: [`reference=${up('team/later')}`] });
    expect(listed.images).toEqual([]);
  });

  it('holds a pull with a lease so garbage collection during it removes nothing, and the pulled image stays until deleted', async () => {
    const image = await uniqueImage(64 << 10);
    await pushImage(upstream.url, 'team/gc', 'v1', image);
    const ref = up(`team/gc@${image.manifest.digest}`);
    await pull({ ref }, async (event) => {
      if (event.event?.$case !== 'resolved') return;
      const leases = await layerStore.leases.list();
      expect(leases.some((l) => l.id.startsWith('images-pull-'))).toBe(true);
      await layerStore.garbageCollect();
    });
    await layerStore.garbageCollect();
    for (const blob of [...image.blobs, image.manifest]) expect((await layerStore.info(blob.digest)).size).toBe(blob.size);
    expect((await client.unary(ImagesService.inspect, { ref })).image?.id).toBe(image.config.digest);

    const listed = await client.unary(ImagesService.list, { filters: [`reference=${up('team/gc')}`] });
    expect(listed.images.map((i) => [i.id, i.repoTags, i.repoDigests])).toEqual([[image.config.digest, [], [ref]]]);
    const shortId = image.config.digest.slice(7, 19);
    expect((await client.unary(ImagesService.inspect, { ref: shortId })).image).toMatchObject({ id: image.config.digest, repoTags: [], repoDigests: [ref] });
    expect((await client.unary(ImagesService.history, { ref: shortId })).history).toHaveLength(image.layers.length);

    expect(await client.unary(ImagesService.delete, { ref, force: false })).toEqual({ untagged: [ref], deleted: [image.config.digest, image.manifest.digest].sort() });
    expect((await eventsOf('image.deleted', ref, 1)).map((e) => e.data)).toEqual([{ ref, digest: image.manifest.digest, imageDeleted: true }]);
    expect((await client.unary(ImagesService.list, { filters: [`reference=${up('team/gc')}`] })).images).toEqual([]);
    expect(await failure(client.unary(ImagesService.inspect, { ref: shortId }))).toEqual({ kind: 'NotFound', message: `No such image: ${shortId}:latest` });
    const collected = await layerStore.garbageCollect();
    expect(collected.deleted).toEqual(expect.arrayContaining([image.manifest.digest, ...image.blobs.map((b) => b.digest)]));
  });
});

describe('Images List, Inspect, History, Tag and Delete through the registry-mirror', () => {
  it('tags a pulled image into a local repository that the HTTP API serves, lists, inspects and deletes it as docker does', async () => {
    const source = up('team/busybox:1.36');
    await pull({ ref: source });
    const target = `${local}/local/tools/bb:v1`;
    expect(await client.unary(ImagesService.tag, { source: busybox.config.digest.slice(7, 19), target })).toEqual({ target, digest: busybox.manifest.digest });
    const served = await fetch(`${mirror.url}/v2/local/tools/bb/manifests/v1`, { headers: { accept: busybox.manifest.mediaType } });
    expect(served.headers.get('docker-content-digest')).toBe(busybox.manifest.digest);
    expect((await eventsOf('image.tagged', target, 1)).map((e) => e.data)).toEqual([{ ref: target, digest: busybox.manifest.digest, mediaType: busybox.manifest.mediaType }]);

    const listed = await client.unary(ImagesService.list, { filters: ['reference=*/local/tools/*'] });
    expect(listed.images.map((i) => [i.id, i.repoTags])).toEqual([[busybox.config.digest, [target]]]);
    const all = await client.unary(ImagesService.list, { filters: [`reference=${up('team/busybox')}`] });
    expect(all.images[0]).toMatchObject({ id: busybox.config.digest, repoTags: [source], size: busybox.manifest.size + busybox.config.size + busybox.layers[0]!.size });

    const { image } = await client.unary(ImagesService.inspect, { ref: target });
    expect(image).toMatchObject({
      id: busybox.config.digest,
      repoTags: [source, target].sort(),
      rootfs: { type: 'layers', layers: [busybox.layers[0]!.diffId] },
      config: { cmd: ['sh'], env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'] },
      created: new Date('2024-01-01T00:00:00Z'),
    });
    const { history } = await client.unary(ImagesService.history, { ref: target });
    expect(history.map((h) => [h.createdBy, h.size])).toEqual([['ADD busybox-static /bin/busybox', busybox.layers[0]!.size]]);

    expect(await failure(client.unary(ImagesService.delete, { ref: busybox.config.digest, force: false }))).toEqual({
      kind: 'FailedPrecondition',
      message: `conflict: unable to delete ${busybox.config.digest.slice(7, 19)} (must be forced) - image is referenced in multiple repositories`,
    });
    expect(await client.unary(ImagesService.delete, { ref: target, force: false })).toEqual({ untagged: [target], deleted: [] });
    expect((await eventsOf('image.deleted', target, 1)).map((e) => e.data)).toEqual([{ ref: target, digest: busybox.manifest.digest }]);
    expect(await failure(client.unary(ImagesService.inspect, { ref: target }))).toEqual({ kind: 'NotFound', message: `No such image: ${target}` });
    expect(await failure(client.unary(ImagesService.tag, { source: 'absent', target: 'x' }))).toEqual({ kind: 'NotFound', message: 'No such image: absent:latest' });
  });
});

describe('Events of pushes into local repositories over HTTP', () => {
  it('publishes image.tagged for a skopeo push and a moved tag, and image.deleted for a manifest DELETE, as the Images API does', async () => {
    const first = await uniqueImage(2048);
    const second = await uniqueImage(2048);
    const ref = `${local}/local/pushed/app:v1`;
    const host = new URL(mirror.url).host;
    for (const [i, image] of [first, second].entries()) {
      const layout = join(scratch.path, `layout-${i}`);
      await writeOciLayout(layout, image, { tag: 'v1' });
      await run('skopeo', ['--insecure-policy', 'copy', '--quiet', '--dest-tls-verify=false', `oci:${layout}:v1`, `docker://${host}/local/pushed/app:v1`], { timeout: 60_000 });
    }
    const tagged = await eventsOf('image.tagged', ref, 2);
    expect(tagged.map((e) => [e.source, e.data])).toEqual([
      ['strata/registry-mirror/test', { ref, digest: first.manifest.digest, mediaType: first.manifest.mediaType }],
      ['strata/registry-mirror/test', { ref, digest: second.manifest.digest, mediaType: second.manifest.mediaType, previousDigest: first.manifest.digest }],
    ]);
    const listed = await client.unary(ImagesService.list, { filters: ['reference=*/local/pushed/app'] });
    expect(listed.images.map((i) => [i.id, i.repoTags])).toEqual([[second.config.digest, [ref]]]);

    const deleted = await fetch(`${mirror.url}/v2/local/pushed/app/manifests/${second.manifest.digest}`, { method: 'DELETE' });
    expect(deleted.status).toBe(202);
    expect((await eventsOf('image.deleted', ref, 1)).map((e) => [e.source, e.data])).toEqual([
      ['strata/registry-mirror/test', { ref, digest: second.manifest.digest, imageDeleted: true }],
    ]);
    expect((await client.unary(ImagesService.list, { filters: ['reference=*/local/pushed/app'] })).images).toEqual([]);
  });
});
