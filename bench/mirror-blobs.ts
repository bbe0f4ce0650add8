/**
 * Concurrent downloads of a cached blob (issue #3): 16 clients (`curl` in
 * their own processes, writing to /dev/null) fetch the Debian image's ~100 MB
 * layer at the same time, from the registry-mirror (the blob cached in its
 * layer-store beforehand) and from the docker-registry directly. Aggregate
 * throughput, median of N runs each, runs alternating. Target: mirror ÷
 * registry ≥ 1.0. For reading a miss, two bounds of the mirror's path are
 * printed: the layer-store's gRPC read with the same 16-way concurrency in one
 * node process (what the mirror does before HTTP), and one client alone.
 * Run: npm run bench -- mirror-blobs [runs] [clients]
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { createGrpcStore } from '@strata/content-grpc';
import { startDistributionRegistry } from '@strata/image-fixtures';
import { silentLogger } from '@strata/kit';
import { DEBIAN_REPOSITORY, DEBIAN_TAG, debianImage, describeDebianImage, pushDebianImage } from './debian-image.js';
import { middle, timed, workDir } from './lib.js';
import { UPSTREAM_NAME, skopeoPull, startMirrorStack, type MirrorStack } from './mirror-stack.js';

const runs = Number(process.argv[2] ?? 3);
const clients = Number(process.argv[3] ?? 16);
const dir = workDir('mirror-blobs');

/** One `curl` download of url to /dev/null; throws unless it answered 200 with size bytes. */
async function curl(url: string, size: number): Promise<void> {
  const child = spawn('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code} %{size_download}', url], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  const [code] = (await once(child, 'close')) as [number | null];
  if (code !== 0 || out !== `200 ${size}`) throw new Error(`curl ${url}: exit ${code}, got "${out}", expected "200 ${size}"`);
}

/** MB/s (10^6 bytes) of n concurrent downloads of url. */
async function download(url: string, size: number, n: number): Promise<number> {
  const seconds = await timed(() => Promise.all(Array.from({ length: n }, () => curl(url, size))));
  return (n * size) / 1e6 / seconds;
}

const image = await debianImage();
const { digest, size } = image.layer;
console.log(`mirror cached blob: ${clients} concurrent curl clients, ${(size / 1e6).toFixed(1)} MB layer, median of ${runs} runs`);
console.log(`  ${describeDebianImage(image)}`);
const upstream = await startDistributionRegistry();
let stack: MirrorStack | undefined;
try {
  await pushDebianImage(image, upstream);
  stack = await startMirrorStack(join(dir, 'stack'), upstream);
  await skopeoPull(`${stack.host}/${UPSTREAM_NAME}/${DEBIAN_REPOSITORY}:${DEBIAN_TAG}`, join(dir, 'warm'), DEBIAN_TAG);
  await stack.waitCached([image.manifest.digest, image.config.digest, digest]);
  rmSync(join(dir, 'warm'), { recursive: true, force: true });

  const registryUrl = `${upstream.url}/v2/${DEBIAN_REPOSITORY}/blobs/${digest}`;
  const mirrorUrl = `${stack.url}/v2/${UPSTREAM_NAME}/${DEBIAN_REPOSITORY}/blobs/${digest}`;
  const registry: number[] = [];
  const mirror: number[] = [];
  for (let i = 0; i < runs; i++) {
    registry.push(await download(registryUrl, size, clients));
    mirror.push(await download(mirrorUrl, size, clients));
  }
  const ratio = middle(mirror) / middle(registry);
  console.log(
    `${`${clients} clients, cached blob (MB/s)`.padEnd(34)} strata ${middle(mirror).toFixed(1)} MB/s   reference ${middle(registry).toFixed(1)} MB/s   ratio ${ratio.toFixed(2)}×  (target ≥ 1×: ${ratio >= 1 ? 'met' : 'MISSED'})`,
  );
  console.log(`  runs (MB/s): registry ${registry.map((r) => r.toFixed(0)).join(' ')}; mirror ${mirror.map((r) => r.toFixed(0)).join(' ')}`);

  const single = { registry: await download(registryUrl, size, 1), mirror: await download(mirrorUrl, size, 1) };
  console.log(`  1 client alone: registry ${single.registry.toFixed(1)} MB/s, mirror ${single.mirror.toFixed(1)} MB/s`);

  const store = createGrpcStore({ unixSocket: stack.layerStoreSocket }, { logger: silentLogger() });
  try {
    const grpcSeconds = await timed(() =>
      Promise.all(
        Array.from({ length: clients }, async () => {
          let got = 0;
          for await (const chunk of (await store.read(digest)).chunks) got += chunk.length;
          if (got !== size) throw new Error(`layer-store read ${got} bytes of ${size}`);
        }),
      ),
    );
    console.log(`  bound: layer-store gRPC read, ${clients} at once in one node process: ${((clients * size) / 1e6 / grpcSeconds).toFixed(1)} MB/s`);
  } finally {
    await store.close();
  }
} finally {
  await stack?.stop();
  await upstream.stop();
  rmSync(dir, { recursive: true, force: true });
}
