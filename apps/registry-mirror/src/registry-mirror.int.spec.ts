import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { jetstream } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect as natsConnect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GC_ROOT_LABEL } from '@strata/content';
import { createGrpcStore, type GrpcStore } from '@strata/content-grpc';
import { startNatsServer, type TestNatsServer } from '@strata/events-nats/testing';
import { checkHealth } from '@strata/grpc-kit';
import {
  allBlobs,
  buildImage,
  busyboxImage,
  multiLayerImage,
  pushImage,
  startDistributionRegistry,
  topDocument,
  writeOciLayout,
  type BuiltArtifact,
  type TestDistributionRegistry,
} from '@strata/image-fixtures';
import { DEFAULT_IMAGES_BUCKET, encodeTagKey } from '@strata/images-nats';
import { silentLogger } from '@strata/kit';
import { freePort, startProcess, tempDir, waitFor, type TestProcess } from '@strata/kit/testing';
import { digestHex, type ImageIndex } from '@strata/oci';
import { LOCAL_DOMAIN } from '@strata/registry-http';
import { UPSTREAM_LABEL } from '@strata/registry-proxy';
import { processHealthy } from '@strata/grpc-kit/testing';

const run = promisify(execFile);
const mirrorBin = fileURLToPath(new URL('../bin/registry-mirror.mjs', import.meta.url));
const layerStoreBin = fileURLToPath(new URL('../../layer-store/bin/layer-store.mjs', import.meta.url));

const scratch = tempDir('strata-mirror-');
const state = join(scratch.path, 'state');
const runDir = join(scratch.path, 'run');
const mirrorSocket = join(runDir, 'registry-mirror.sock');
const layerStoreSocket = join(runDir, 'layer-store.sock');
// Every process a test started, stopped by pid in afterAll whatever happened.
const processes: TestProcess[] = [];
const closers: Array<() => unknown> = [];
let nats: TestNatsServer;
let upstream: TestDistributionRegistry;
let mirror: TestProcess;
let mirrorHost: string;
let layerStore: GrpcStore;
let dirs = 0;

/** What a failed start says to a person: the last line (the log before it is JSON). */
const lastLine = (p: TestProcess) => p.output().trimEnd().split('\n').at(-1);
const freshDir = () => join(scratch.path, `d${++dirs}`);

function startMirror(args: string[]): TestProcess {
  const p = startProcess(process.execPath, [mirrorBin, ...args]);
  processes.push(p);
  return p;
}

async function skopeo(...args: string[]): Promise<void> {
  await run('skopeo', ['--insecure-policy', 'copy', '--quiet', '--src-tls-verify=false', '--dest-tls-verify=false', ...args], { timeout: 60_000 });
}

/** Copies reference out of the mirror into an OCI layout and checks every blob is byte-identical to the artifact's. */
async function pullFromMirror(reference: string, artifact: BuiltArtifact, host = mirrorHost): Promise<void> {
  const target = freshDir();
  await skopeo(`docker://${host}/${reference}`, `oci:${target}:pulled`);
  for (const blob of allBlobs(artifact)) {
    const copied = await readFile(join(target, 'blobs', 'sha256', digestHex(blob.digest)));
    expect(Buffer.compare(copied, blob.bytes), `${blob.mediaType} ${blob.digest}`).toBe(0);
  }
  const index = JSON.parse(await readFile(join(target, 'index.json'), 'utf8')) as ImageIndex;
  expect(index.manifests.map((m) => m.digest)).toEqual([topDocument(artifact).digest]);
}

/** The record of a tag in the NATS KV bucket of the image index, read directly. */
async function tagInNats(domain: string, repository: string, tag: string): Promise<unknown> {
  const nc = await natsConnect({ servers: nats.url });
  try {
    const kv = await new Kvm(jetstream(nc)).open(DEFAULT_IMAGES_BUCKET);
    return (await kv.get(encodeTagKey(domain, repository, tag)))?.json();
  } finally {
    await nc.close();
  }
}

beforeAll(async () => {
  nats = await startNatsServer();
  closers.push(() => nats.stop());
  upstream = await startDistributionRegistry();
  closers.push(() => upstream.stop());
  const ls = startProcess(process.execPath, [layerStoreBin, '--state-dir', state, '--run-dir', runDir, '--nats-url', nats.url]);
  processes.push(ls);
  await processHealthy(ls, layerStoreSocket, 'layer-store');
  mirrorHost = `127.0.0.1:${await freePort()}`;
  mirror = startMirror([
    ...['--state-dir', state, '--run-dir', runDir, '--nats-url', nats.url, '--listen', mirrorHost],
    ...['--upstream', `upstream.test=${upstream.url}`, '--upstream', 'docker.io'],
  ]);
  await processHealthy(mirror, mirrorSocket, 'registry-mirror');
  layerStore = createGrpcStore({ unixSocket: layerStoreSocket }, { logger: silentLogger() });
  closers.push(() => layerStore.close());
});

afterAll(async () => {
  for (const p of processes.reverse()) await p.stop('SIGTERM', 10_000);
  for (const close of closers.reverse()) await close();
  scratch.remove();
});

describe('registry-mirror process', () => {
  it('serves gRPC health on a 0600 socket and the Distribution API on its HTTP address', async () => {
    expect(statSync(mirrorSocket).mode & 0o777).toBe(0o600);
    expect(await checkHealth({ unixSocket: mirrorSocket })).toBe('SERVING');
    const response = await fetch(`http://${mirrorHost}/v2/`);
    expect(response.status).toBe(200);
    expect(response.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
  });

  it('takes an image pushed with skopeo into a local repository, keeps it in the layer-store and NATS, and gives it back byte for byte', async () => {
    const image = await busyboxImage();
    const source = freshDir();
    await writeOciLayout(source, image, { tag: '1.36' });
    await skopeo(`oci:${source}:1.36`, `docker://${mirrorHost}/local/team/busybox:1.36`);

    const stored = new Map<string, number>();
    for await (const info of layerStore.walk()) stored.set(info.digest, info.size);
    for (const blob of allBlobs(image)) expect(stored.get(blob.digest), `${blob.mediaType} ${blob.digest}`).toBe(blob.bytes.length);
    expect((await layerStore.info(image.manifest.digest)).labels).toMatchObject({ [GC_ROOT_LABEL]: expect.any(String) });
    expect(await tagInNats(LOCAL_DOMAIN, 'local/team/busybox', '1.36')).toMatchObject({
      digest: image.manifest.digest,
      mediaType: image.manifest.mediaType,
      size: image.manifest.size,
    });

    await pullFromMirror('local/team/busybox:1.36', image);
  });

  it('pulls through from an upstream into the layer-store and NATS, then serves it while the upstream is down', async () => {
    const image = await multiLayerImage();
    await pushImage(upstream.url, 'team/app', '1.0', image);
    upstream.clearRequestLog();
    await pullFromMirror('upstream.test/team/app:1.0', image);
    await upstream.settleRequestLog();
    const blobGets = upstream.requestLog().filter((r) => r.method === 'GET' && r.path.startsWith('/v2/team/app/blobs/'));
    expect(blobGets.map((r) => r.path).sort()).toEqual(image.blobs.map((b) => `/v2/team/app/blobs/${b.digest}`).sort());

    for (const blob of [...image.blobs, image.manifest]) {
      // A fetched blob is committed just after its last byte reaches the client.
      await waitFor(
        async () => (await layerStore.info(blob.digest)).size === blob.bytes.length,
        () => `blob ${blob.digest} to be committed to the layer-store`,
      );
      const info = await layerStore.info(blob.digest);
      expect(info.size).toBe(blob.bytes.length);
      expect(info.labels[UPSTREAM_LABEL]).toBe('upstream.test');
    }
    expect(await tagInNats('upstream.test', 'team/app', '1.0')).toMatchObject({ digest: image.manifest.digest });

    await upstream.restart(() => pullFromMirror('upstream.test/team/app:1.0', image));
  });

  it.each([
    {
      args: ['--upstream', 'registry.lan:5000=http://registry.lan:5000'],
      message:
        'registry-mirror: config upstream: upstream registry.lan:5000: plain HTTP to registry.lan:5000 refused; only loopback upstreams may use http:// without "insecure: true" in their configuration\n',
    },
    { args: ['--listen', 'localhost'], message: 'registry-mirror: config listen: expected host:port (e.g. 127.0.0.1:5050 or [::1]:5050), got "localhost"\n' },
  ])('exits 2 with one sentence for $args', async ({ args, message }) => {
    const p = startMirror(['--state-dir', state, '--run-dir', runDir, ...args]);
    expect(await p.exited).toBe(2);
    expect(p.output()).toBe(message);
  });

  it('exits 1 with one sentence when its HTTP address is taken, and leaves the running mirror alone', async () => {
    const taken: Server = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    closers.push(() => new Promise<void>((resolve) => taken.close(() => resolve())));
    const port = (taken.address() as { port: number }).port;
    const other = tempDir('strata-mirror-other-');
    closers.push(() => other.remove());
    const p = startMirror(['--state-dir', state, '--run-dir', other.path, '--nats-url', nats.url, '--listen', `127.0.0.1:${port}`]);
    expect(await p.exited).toBe(1);
    expect(lastLine(p)).toBe(`registry-mirror: cannot listen on 127.0.0.1:${port}: the address is already in use; stop what listens there or pass --listen`);
    expect(existsSync(join(other.path, 'registry-mirror.sock'))).toBe(false);

    const twin = startMirror(['--state-dir', state, '--run-dir', runDir, '--nats-url', nats.url, '--listen', `127.0.0.1:${await freePort()}`]);
    expect(await twin.exited).toBe(1);
    expect(lastLine(twin)).toBe(`registry-mirror: unix socket ${mirrorSocket} is already in use by another server; stop it or choose another socket path`);
    expect(await checkHealth({ unixSocket: mirrorSocket })).toBe('SERVING');
  });

  it("beside a layer-store on this host, has it import the cold blobs it spooled into its imports directory, and clears what a crashed mirror left there", async () => {
    const root = join(state, 'layer-store');
    const imports = join(root, 'imports');
    const gone = startProcess('true', []);
    await gone.exited;
    const stale = join(imports, `proxy-0123456789abcdef.${gone.pid}.${'ab'.repeat(8)}.tmp`);
    writeFileSync(stale, 'left by a mirror that crashed');
    const own = tempDir('strata-mirror-same-host-');
    closers.push(() => own.remove());
    const host = `127.0.0.1:${await freePort()}`;
    const sameHost = startMirror([
      ...['--state-dir', state, '--run-dir', own.path, '--nats-url', nats.url, '--listen', host, '--upstream', `upstream.test=${upstream.url}`],
      ...['--layer-store-socket', layerStoreSocket, '--layer-store-data-socket', join(runDir, 'layer-store.data.sock'), '--layer-store-root', root],
    ]);
    await processHealthy(sameHost, join(own.path, 'registry-mirror.sock'), 'registry-mirror');
    expect(existsSync(stale)).toBe(false);

    const image = await buildImage({ layers: [{ items: [{ file: 'a.bin', content: randomBytes(3_000_000) }] }, { items: [{ file: 'b.bin', content: randomBytes(1_000_000) }] }] });
    await pushImage(upstream.url, 'team/imported', '1.0', image);
    upstream.clearRequestLog();
    await pullFromMirror('upstream.test/team/imported:1.0', image, host);
    for (const blob of image.blobs) {
      await waitFor(
        async () => (await layerStore.find(blob.digest))?.size === blob.bytes.length,
        () => `blob ${blob.digest} to be imported into the layer-store`,
      );
      expect((await layerStore.info(blob.digest)).labels[UPSTREAM_LABEL]).toBe('upstream.test');
    }
    expect(readdirSync(imports)).toEqual([]);
    await upstream.settleRequestLog();
    const blobGets = upstream.requestLog().filter((r) => r.method === 'GET' && r.path.startsWith('/v2/team/imported/blobs/'));
    expect(blobGets.map((r) => r.path).sort()).toEqual(image.blobs.map((b) => `/v2/team/imported/blobs/${b.digest}`).sort());
  });

  it('on SIGTERM exits 0 silently and removes its socket', async () => {
    process.kill(mirror.pid, 'SIGTERM');
    expect(await mirror.exited).toBe(0);
    expect(mirror.output()).toBe('');
    await waitFor(
      () => !existsSync(mirrorSocket),
      () => `${mirrorSocket} to be removed`,
      5_000,
    );
  });
});
