import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ImportRootfsRequest } from '@strata/api/images/v1';
import { GC_ROOT_LABEL, createLeaseManager, putBlob, readBlob, type LeaseManager, type Store } from '@strata/content';
import { createMemoryMetadataStore, createMemoryStore } from '@strata/content/testing';
import { createMemoryTagStore } from '@strata/images/testing';
import type { TagStore } from '@strata/images';
import { buildImage, multiPlatformIndex, type BuiltArtifact, type BuiltImage, type BuiltIndex } from '@strata/image-fixtures';
import { isStrataError, silentLogger, type ErrorKind } from '@strata/kit';
import { digestOf, parseImageConfig } from '@strata/oci';
import { createLocalBackend } from '@strata/registry-http';
import { collectBytes, tarBytes, type TarItem } from '@strata/tar';
import { applyChanges } from '@strata/images';
import { createImages, type Images } from './images.js';
import { createRecordingEventSink, type RecordingEventSink } from './testing/index.js';

const MIRROR = '127.0.0.1:5050';
const host = { os: 'linux', architecture: 'amd64' };
const logger = silentLogger();

interface Stack {
  store: Store;
  tags: TagStore;
  leases: LeaseManager;
  events: RecordingEventSink;
  images: Images;
}

function stack(): Stack {
  const store = createMemoryStore();
  const tags = createMemoryTagStore();
  const leases = createLeaseManager(createMemoryMetadataStore());
  const events = createRecordingEventSink();
  const images = createImages({
    store,
    tags,
    leases,
    backend: createLocalBackend({ store, tags, logger }),
    events,
    logger,
    localDomains: [MIRROR, 'localhost:5050'],
    hostPlatform: host,
  });
  return { store, tags, leases, events, images };
}

let image: BuiltImage;
let uncompressed: BuiltImage;
let index: BuiltIndex;
let a: Stack;
let b: Stack;

/** Stores an artifact's blobs and manifests and tags it `local/<repository>:<tag>` in s. */
async function push(s: Stack, repository: string, tag: string, artifact: BuiltArtifact): Promise<void> {
  const repo = await createLocalBackend({ store: s.store, tags: s.tags, logger }).repository(`local/${repository}`);
  const built = artifact.kind === 'index' ? artifact.images : [artifact];
  for (const one of built) {
    for (const blob of one.blobs) await putBlob(s.store, blob.digest, blob.bytes, {});
    if (artifact.kind === 'index') await repo.putManifest({ reference: { digest: one.manifest.digest }, bytes: one.manifest.bytes, contentType: one.manifest.mediaType });
  }
  const top = artifact.kind === 'index' ? artifact.index : artifact.manifest;
  await repo.putManifest({ reference: { tag }, bytes: top.bytes, contentType: top.mediaType });
}

async function exported(s: Stack, refs: string[], format = ''): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const { data } of s.images.export({ refs, format })) parts.push(data);
  return Buffer.concat(parts);
}

async function* chunksOf(bytes: Uint8Array, size = 7000): AsyncGenerator<{ data: Buffer }> {
  for (let at = 0; at < bytes.length; at += size) yield { data: Buffer.from(bytes.subarray(at, at + size)) };
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

/** The names of the entries of a tar, in order. */
async function entryNames(bytes: Uint8Array): Promise<string[]> {
  const { readTar } = await import('@strata/layer-diff');
  const names: string[] = [];
  for await (const entry of readTar((async function* () { yield bytes; })())) names.push(entry.header.name);
  return names;
}

const file = (name: string, content: string | Uint8Array): TarItem => ({ entry: { name, type: 'file', size: Buffer.byteLength(content) }, data: Buffer.from(content) });
const blobItem = (b: { digest: string; bytes: Uint8Array }): TarItem => file(`blobs/sha256/${b.digest.slice(7)}`, b.bytes);

beforeAll(async () => {
  image = await buildImage({
    layers: [{ items: [{ file: 'etc/hello', content: 'hello\n' }] }, { items: [{ file: 'bin/tool', content: 'tool\n', mode: 0o755 }] }],
    config: { Cmd: ['/bin/tool'] },
  });
  uncompressed = await buildImage({ layers: [{ items: [{ file: 'plain', content: 'plain\n' }], compression: 'none' }] });
  index = await multiPlatformIndex();
});

beforeEach(() => {
  a = stack();
  b = stack();
});

afterEach(async () => {
  for (const s of [a, b]) {
    await s.tags.close();
    await s.store.close();
  }
});

describe('Export then Import', () => {
  it('keeps every digest of an image and tags its name in a fresh store (oci-archive)', async () => {
    await push(a, 'app', 'v1', image);
    const archive = await exported(a, [`${MIRROR}/local/app:v1`]);
    const names = await entryNames(archive);
    expect(names).toEqual(expect.arrayContaining(['oci-layout', 'index.json', 'manifest.json', `blobs/sha256/${image.manifest.digest.slice(7)}`]));

    const response = await b.images.import(chunksOf(archive));
    expect(response.images).toEqual([
      { id: image.config.digest, repoTags: [`${MIRROR}/local/app:v1`], target: expect.objectContaining({ digest: image.manifest.digest, size: image.manifest.size }) },
    ]);
    const inspected = (await b.images.inspect({ ref: `${MIRROR}/local/app:v1`, platform: undefined })).image;
    expect(inspected?.id).toBe(image.config.digest);
    expect(inspected?.layers.map((l) => l.digest)).toEqual(image.layers.map((l) => l.digest));
    for (const blob of [...image.blobs, image.manifest]) expect(Buffer.compare(await readBlob(b.store, blob.digest), Buffer.from(blob.bytes))).toBe(0);
    expect((await b.store.info(image.manifest.digest)).labels[GC_ROOT_LABEL]).toBeDefined();
    expect(b.events.of('image.loaded')).toEqual([
      { type: 'image.loaded', subject: `${MIRROR}/local/app:v1`, data: { ref: `${MIRROR}/local/app:v1`, digest: image.manifest.digest, imageId: image.config.digest, source: 'archive' } },
    ]);
    expect(await b.leases.list()).toEqual([]);
  });

  it('keeps a whole multi-platform index and names several images of one archive', async () => {
    await push(a, 'multi', '1', index);
    await push(a, 'app', 'v1', image);
    const archive = await exported(a, [`${MIRROR}/local/multi:1`, `${MIRROR}/local/app:v1`]);
    const response = await b.images.import(chunksOf(archive, 100_000));
    expect(response.images.map((i) => [i.target?.digest, i.repoTags])).toEqual([
      [index.index.digest, [`${MIRROR}/local/multi:1`]],
      [image.manifest.digest, [`${MIRROR}/local/app:v1`]],
    ]);
    for (const one of index.images) expect((await b.store.info(one.manifest.digest)).size).toBe(one.manifest.size);
  });

  it('round-trips a docker-archive: same image id and diff_ids, uncompressed layers', async () => {
    await push(a, 'app', 'v1', image);
    const archive = await exported(a, [`${MIRROR}/local/app:v1`], 'docker-archive');
    const names = await entryNames(archive);
    const diffIds = image.configDocument.rootfs.diff_ids;
    expect(names.sort()).toEqual([`${image.config.digest.slice(7)}.json`, ...diffIds.map((d) => `${d.slice(7)}.tar`), 'manifest.json', 'repositories'].sort());
    const response = await b.images.import(chunksOf(archive));
    expect(response.images[0]?.id).toBe(image.config.digest);
    const inspected = (await b.images.inspect({ ref: `${MIRROR}/local/app:v1`, platform: undefined })).image;
    expect(inspected?.rootfs?.layers).toEqual(diffIds);
    expect(inspected?.layers.map((l) => l.digest)).toEqual(diffIds);
  });

  it('refuses an unknown format and unknown images before any byte', async () => {
    expect(await failure(exported(a, ['nothing:here']))).toEqual({ kind: 'NotFound', message: 'No such image: nothing:here' });
    await push(a, 'app', 'v1', image);
    expect(await failure(exported(a, [`${MIRROR}/local/app:v1`], 'tarball'))).toEqual({
      kind: 'InvalidArgument',
      message: 'unknown archive format "tarball"; use oci-archive or docker-archive',
    });
  });
});

describe('Import of archives made elsewhere', () => {
  it('loads a docker-archive with legacy symlinked layer directories and gzip around it', async () => {
    const layer = uncompressed.layers[0]!;
    const manifest = [{ Config: 'cfg.json', RepoTags: ['example.com/team/plain:2'], Layers: ['abc/layer.tar'] }];
    const tar = await tarBytes([
      file('cfg.json', uncompressed.config.bytes),
      file(`${layer.digest.slice(7)}.tar`, layer.bytes),
      { entry: { name: 'abc/', type: 'directory' } },
      { entry: { name: 'abc/layer.tar', type: 'symlink', linkname: `../${layer.digest.slice(7)}.tar` } },
      file('manifest.json', JSON.stringify(manifest)),
    ]);
    const response = await b.images.import(chunksOf(gzipSync(tar)));
    expect(response.images.map((i) => [i.id, i.repoTags])).toEqual([[uncompressed.config.digest, ['example.com/team/plain:2']]]);
    expect((await b.images.inspect({ ref: 'example.com/team/plain:2', platform: undefined })).image?.rootfs?.layers).toEqual([layer.digest]);
  });

  it('reads names from index.json annotations and leaves a bare tag unnamed', async () => {
    const entry = (annotations: Record<string, string>) => ({ mediaType: image.manifest.mediaType, digest: image.manifest.digest, size: image.manifest.size, annotations });
    const indexJson = { schemaVersion: 2, manifests: [entry({ 'org.opencontainers.image.ref.name': 'only-a-tag' }), entry({ 'io.containerd.image.name': 'docker.io/library/named:1' })] };
    const tar = await tarBytes([...image.blobs.map(blobItem), blobItem(image.manifest), file('index.json', JSON.stringify(indexJson))]);
    const response = await b.images.import(chunksOf(tar));
    expect(response.images.map((i) => i.repoTags)).toEqual([['docker.io/library/named:1']]);
  });

  const huge = 'x'.repeat(4 * 1024 * 1024 + 1);
  const cases: Array<[string, () => Promise<Uint8Array>, ErrorKind, string | RegExp | (() => string)]> = [
    ['an entry named ../x', async () => tarBytes([file('../x', 'x'), file('manifest.json', '[]')]), 'InvalidArgument', 'archive entry "../x" points outside the archive; refusing the archive'],
    ['an absolute entry', async () => tarBytes([file('/etc/passwd', 'x')]), 'InvalidArgument', 'archive entry "/etc/passwd" points outside the archive; refusing the archive'],
    [
      'a symlink out of the archive',
      async () => tarBytes([{ entry: { name: 'l', type: 'symlink', linkname: '../../etc/passwd' } }]),
      'InvalidArgument',
      'archive entry "l" links to "../../etc/passwd", outside the archive; refusing the archive',
    ],
    [
      'a blob whose bytes are not its digest',
      async () => tarBytes([file(`blobs/sha256/${'a'.repeat(64)}`, 'not it')]),
      'FailedPrecondition',
      /^archive file "blobs\/sha256\/a{64}" does not match its digest sha256:a{64} /,
    ],
    ['a huge manifest.json', async () => tarBytes([file('manifest.json', huge)]), 'ResourceExhausted', 'archive file manifest.json is 4194305 bytes, over the limit of 4194304 bytes; refusing the archive'],
    ['no index.json nor manifest.json', async () => tarBytes([file('hello', 'x')]), 'InvalidArgument', 'archive is not an image archive: it has neither index.json (OCI image layout) nor manifest.json (docker save)'],
    ['not a tar', async () => Buffer.from('definitely not a tar archive'.repeat(40)), 'InvalidArgument', /^tar entry/],
    [
      'a manifest.json naming a missing layer',
      async () => tarBytes([file('c.json', image.config.bytes), file('manifest.json', JSON.stringify([{ Config: 'c.json', RepoTags: ['x:1'], Layers: ['gone.tar', 'gone2.tar'] }]))]),
      'InvalidArgument',
      'archive layer 0 of manifest.json entry 0 "gone.tar" is not in the archive; refusing the archive',
    ],
    [
      'an uncompressed layer that is not its diff_id',
      async () => tarBytes([
        file('c.json', uncompressed.config.bytes),
        file('l.tar', await tarBytes([file('other', 'other')])),
        file('manifest.json', JSON.stringify([{ Config: 'c.json', RepoTags: ['x:1'], Layers: ['l.tar'] }])),
      ]),
      'FailedPrecondition',
      /^archive manifest.json entry 0: layer "l.tar" has digest sha256:[a-f0-9]{64}, not its diff_id /,
    ],
    [
      'an index.json naming a blob that is not there',
      async () => tarBytes([file('index.json', JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: image.manifest.mediaType, digest: image.manifest.digest, size: image.manifest.size, annotations: { 'io.containerd.image.name': 'x:1' } }] }))]),
      'InvalidArgument',
      () => `archive is missing manifest ${image.manifest.digest}; refusing the archive`,
    ],
  ];

  it.each(cases)('refuses %s, tagging nothing', async (_what, make, kind, message) => {
    const bytes = await make();
    const error = await failure(b.images.import(chunksOf(bytes)));
    expect(error.kind).toBe(kind);
    if (typeof message === 'function') expect(error.message).toBe(message());
    else if (typeof message === 'string') expect(error.message).toBe(message);
    else expect(error.message).toMatch(message);
    expect(await b.tags.list()).toEqual([]);
    expect(b.events.of('image.loaded')).toEqual([]);
    expect(await b.leases.list()).toEqual([]);
  });
});

describe('ImportRootfs', () => {
  async function* requests(header: { ref: string; changes?: string[]; message?: string }, data: Uint8Array): AsyncGenerator<ImportRootfsRequest> {
    yield { part: { $case: 'header', value: { ref: header.ref, changes: header.changes ?? [], message: header.message ?? '' } } };
    for await (const { data: chunk } of chunksOf(data, 3000)) yield { part: { $case: 'data', value: chunk } };
  }

  it('makes a single-layer image whose diff_id is the digest of the tar, gzipped, with changes and history', async () => {
    const tar = await tarBytes([{ entry: { name: 'bin/', type: 'directory' } }, file('bin/sh', '#!fake\n'), file('etc/motd', 'hi\n')]);
    const made = await b.images.importRootfs(requests({ ref: 'rootfs/app:1', changes: ['CMD ["/bin/sh"]', 'ENV A=1 B="two words"', 'EXPOSE 8080'], message: 'from a dir' }, tar));
    const diffId = `sha256:${createHash('sha256').update(tar).digest('hex')}`;
    expect(made).toMatchObject({ ref: 'docker.io/rootfs/app:1', diffId, layer: { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip' } });
    const config = parseImageConfig(await readBlob(b.store, made.id as never), { expectedDigest: made.id as never });
    expect(config.rootfs.diff_ids).toEqual([diffId]);
    expect(config.config).toEqual({ Cmd: ['/bin/sh'], Env: ['A=1', 'B=two words'], ExposedPorts: { '8080/tcp': {} } });
    expect(config.history).toEqual([{ created: config.created, created_by: 'strata image import', comment: 'from a dir' }]);
    expect(config).toMatchObject({ os: 'linux', architecture: 'amd64' });
    const layer = await readBlob(b.store, made.layer!.digest as never);
    expect(digestOf(layer)).toBe(made.layer!.digest);
    const inspected = (await b.images.inspect({ ref: 'rootfs/app:1', platform: undefined })).image;
    expect(inspected?.rootfs?.layers).toEqual([diffId]);
    expect(b.events.of('image.loaded').map((e) => e.data)).toEqual([{ ref: 'docker.io/rootfs/app:1', digest: made.manifest!.digest, imageId: made.id, source: 'rootfs' }]);

    const again = await b.images.importRootfs(requests({ ref: 'rootfs/app:gz' }, gzipSync(tar)));
    expect(again.diffId).toBe(diffId);
  });

  it.each([
    ['a change that is no instruction', { ref: 'x:1', changes: ['RUN rm -rf /'] }, 'RUN is not a valid change command; use one of CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR'],
    ['an upper-case name', { ref: 'Bad:1' }, 'invalid reference format: repository name must be lowercase'],
    ['a digest reference', { ref: `x@sha256:${'a'.repeat(64)}` }, 'refusing to create a tag with a digest reference'],
  ])('refuses %s', async (_what, header, message) => {
    const tar = await tarBytes([file('a', 'a')]);
    expect(await failure(b.images.importRootfs(requests(header, tar)))).toEqual({ kind: 'InvalidArgument', message });
    expect(await b.tags.list()).toEqual([]);
  });

  it('refuses data that is not a tar', async () => {
    expect(await failure(b.images.importRootfs(requests({ ref: 'x:1' }, Buffer.from('hello world, not a tar'.repeat(100)))))).toEqual({
      kind: 'InvalidArgument',
      message: 'the root filesystem data is not a tar archive (nor a gzipped one); give a tar of the root filesystem or a directory',
    });
    expect(await b.tags.list()).toEqual([]);
  });
});

describe('applyChanges', () => {
  it.each([
    [['CMD echo hi'], { Cmd: ['/bin/sh', '-c', 'echo hi'] }],
    [['ENTRYPOINT ["/app"]', 'CMD ["--flag"]'], { Entrypoint: ['/app'], Cmd: ['--flag'] }],
    [['ENV PATH /usr/bin', 'ENV PATH=/bin'], { Env: ['PATH=/bin'] }],
    [['LABEL a=1 "b c"=2'], { Labels: { a: '1', 'b c': '2' } }],
    [['EXPOSE 80 53/udp'], { ExposedPorts: { '80/tcp': {}, '53/udp': {} } }],
    [['WORKDIR /app', 'WORKDIR sub'], { WorkingDir: '/app/sub' }],
    [['USER nobody', 'STOPSIGNAL SIGINT', 'VOLUME ["/data"]', 'onbuild RUN x'], { User: 'nobody', StopSignal: 'SIGINT', Volumes: { '/data': {} }, OnBuild: ['RUN x'] }],
  ])('applies %j', (changes, expected) => {
    expect(applyChanges({}, changes)).toEqual(expected);
  });

  it.each([
    ['FROM busybox', 'FROM is not a valid change command; use one of CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR'],
    ['EXPOSE http', 'invalid change "EXPOSE http": invalid port "http"; expected PORT[/PROTO], e.g. 80 or 53/udp'],
    ['ENV', 'invalid change "ENV": ENV needs at least one argument'],
    ['CMD', 'invalid change "CMD": CMD needs an argument'],
    ['ENV A="open', 'invalid change "ENV A=\\"open": unterminated quote'],
  ])('refuses %j', (change, message) => {
    let caught: unknown;
    try {
      applyChanges({}, [change]);
    } catch (err) {
      caught = err;
    }
    expect(isStrataError(caught) && { kind: caught.kind, message: caught.message }).toEqual({ kind: 'InvalidArgument', message });
  });
});

it('exports the same bytes for the same images', async () => {
  await push(a, 'app', 'v1', image);
  const whole = await exported(a, [`${MIRROR}/local/app:v1`]);
  const again = await collectBytes((async function* () { for await (const { data } of a.images.export({ refs: [`${MIRROR}/local/app:v1`], format: '' })) yield data; })());
  expect(Buffer.compare(Buffer.from(again), whole)).toBe(0);
});
