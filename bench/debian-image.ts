/**
 * The Debian image of the registry-mirror benchmarks (issue #3): a bookworm
 * root file system made by `debootstrap --variant=minbase` with a few
 * packages added so its one layer is about 100 MB gzip-compressed, packed by
 * Strata's own image builder (@strata/image-fixtures buildImage over
 * @strata/tar) into an OCI image layout. Both the root file system and the
 * layout are cached (by default under /var/cache/strata-bench, or
 * $STRATA_BENCH_CACHE), so only the first run downloads and builds.
 * Run alone to build or show it: npx tsx bench/debian-image.ts
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildImage, writeOciLayout, type TestDistributionRegistry } from '@strata/image-fixtures';
import { digestHex, type Descriptor, type Digest, type ImageIndex, type ImageManifest } from '@strata/oci';
import { timed } from './lib.js';

/** Where debootstrap fetches packages: the machine's configured Debian mirror. */
export const DEBIAN_MIRROR = 'http://deb.debian.org/debian';
const SUITE = 'bookworm';
/** Added to minbase to reach ~100 MB compressed (minbase alone is ~30 MB). */
const INCLUDE = ['ca-certificates', 'curl', 'git', 'python3'];
/** The tag of the image in its layout and in the registries it is pushed to. */
export const DEBIAN_TAG = 'bookworm';
/** The repository the benchmarks push it to. */
export const DEBIAN_REPOSITORY = 'debian';

/** The cached image: its OCI layout and the descriptors the benchmarks check against. */
export interface DebianImage {
  /** The OCI image layout directory; skopeo reads it as `oci:<layout>:bookworm`. */
  layout: string;
  manifest: Descriptor;
  config: Descriptor;
  /** The one layer: the whole root file system, gzip. */
  layer: Descriptor;
  /** Size of the uncompressed layer tar. */
  uncompressedBytes: number;
}

/** The cache directory of the benchmarks. */
export function cacheDir(): string {
  return process.env['STRATA_BENCH_CACHE'] ?? '/var/cache/strata-bench';
}

/** Mount points at or under dir (debootstrap mounts /proc and more in its target while it runs), deepest first. */
function mountsUnder(dir: string): string[] {
  const decode = (field: string) => field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
  return readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((line) => decode(line.split(' ')[1] ?? ''))
    .filter((point) => point === dir || point.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
}

/** Removes dir after unmounting whatever a failed debootstrap left mounted in it, so rm never walks into /proc or /dev. */
function removeTree(dir: string): void {
  for (const point of mountsUnder(dir)) execFileSync('umount', ['--lazy', point]);
  rmSync(dir, { recursive: true, force: true });
}

function debootstrap(target: string, debs: string): void {
  if (spawnSync('debootstrap', ['--version']).error !== undefined) {
    throw new Error('debootstrap is not installed: apt-get install debootstrap (npm run bench -- mirror installs it)');
  }
  removeTree(target);
  mkdirSync(debs, { recursive: true });
  const log = `${target}.log`;
  console.log(`debian image: debootstrap --variant=minbase --include=${INCLUDE.join(',')} ${SUITE} (a minute or two; log ${log})`);
  const args = ['--variant=minbase', `--include=${INCLUDE.join(',')}`, `--cache-dir=${debs}`, SUITE, target, DEBIAN_MIRROR];
  const result = spawnSync('debootstrap', args, { stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 });
  writeFileSync(log, Buffer.concat([result.stdout ?? Buffer.alloc(0), result.stderr ?? Buffer.alloc(0)]));
  const leftMounted = mountsUnder(target);
  if (result.status !== 0 || leftMounted.length > 0) {
    for (const point of leftMounted) execFileSync('umount', ['--lazy', point]);
    const tail = readFileSync(log, 'utf8').trimEnd().split('\n').slice(-15).join('\n');
    throw new Error(`debootstrap failed (${result.status ?? result.signal}); the end of ${log}:\n${tail}`);
  }
  // What Debian's own container images leave out: downloaded packages and the package lists.
  for (const dir of ['var/cache/apt/archives', 'var/lib/apt/lists']) {
    execFileSync('find', [join(target, dir), '-mindepth', '1', '-maxdepth', '1', '-type', 'f', '-delete']);
  }
}

/**
 * The layout's directory in the cache. `oci-2`: /dev is empty, as in
 * Debian's own images (the runtime mounts it); debootstrap's device nodes
 * are refused by the snapshotter's apply (SECURITY.md, layer tarballs).
 */
const LAYOUT = 'oci-2';

/** Removes what debootstrap made in the root file system's /dev (device nodes, links), keeping the directory. */
function emptyDev(rootfs: string): void {
  execFileSync('find', [join(rootfs, 'dev'), '-mindepth', '1', '-delete']);
}

function readLayout(layout: string): DebianImage {
  const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as ImageIndex;
  const entry = index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === DEBIAN_TAG);
  if (entry === undefined) throw new Error(`${layout}/index.json has no ${DEBIAN_TAG} entry`);
  const blob = (digest: Digest) => join(layout, 'blobs', 'sha256', digestHex(digest));
  const manifest = JSON.parse(readFileSync(blob(entry.digest), 'utf8')) as ImageManifest;
  const [layer] = manifest.layers;
  if (layer === undefined || manifest.layers.length !== 1) throw new Error(`${layout}: expected an image of one layer`);
  const info = JSON.parse(readFileSync(join(layout, 'strata-bench.json'), 'utf8')) as { uncompressedBytes: number };
  return {
    layout,
    manifest: { mediaType: entry.mediaType, digest: entry.digest, size: entry.size },
    config: manifest.config,
    layer,
    uncompressedBytes: info.uncompressedBytes,
  };
}

/**
 * The Debian image, built on first use: the debootstrap root file system
 * (kept in the cache, with the downloaded packages) and its OCI layout.
 * Throws with debootstrap's output when it fails.
 */
export async function debianImage(): Promise<DebianImage> {
  const dir = join(cacheDir(), `debian-${SUITE}-minbase-${INCLUDE.join('-')}`);
  const rootfs = join(dir, 'rootfs');
  const layout = join(dir, LAYOUT);
  if (existsSync(join(layout, 'strata-bench.json'))) return readLayout(layout);

  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (!existsSync(join(dir, 'rootfs.done'))) {
    debootstrap(rootfs, join(dir, 'debs'));
    writeFileSync(join(dir, 'rootfs.done'), '');
  }
  emptyDev(rootfs);
  rmSync(layout, { recursive: true, force: true });
  let uncompressedBytes = 0;
  const seconds = await timed(async () => {
    const image = await buildImage({
      layers: [{ directory: rootfs, createdBy: `debootstrap --variant=minbase --include=${INCLUDE.join(',')} ${SUITE}` }],
      config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['bash'] },
    });
    uncompressedBytes = image.layers[0]!.tar.length;
    await writeOciLayout(layout, image, { tag: DEBIAN_TAG });
  });
  writeFileSync(join(layout, 'strata-bench.json'), JSON.stringify({ uncompressedBytes }));
  const built = readLayout(layout);
  console.log(`debian image: packed by buildImage in ${seconds.toFixed(1)} s`);
  return built;
}

/**
 * Pushes the image into a registry (`repository:bookworm`) with skopeo from
 * its OCI layout, keeping every digest. Throws when the registry's manifest
 * digest is not the layout's.
 */
export async function pushDebianImage(image: DebianImage, registry: TestDistributionRegistry): Promise<void> {
  execFileSync('skopeo', [
    ...['--insecure-policy', 'copy', '--quiet', '--preserve-digests', '--dest-tls-verify=false'],
    `oci:${image.layout}:${DEBIAN_TAG}`,
    `docker://${registry.host}/${DEBIAN_REPOSITORY}:${DEBIAN_TAG}`,
  ]);
  const head = await fetch(`${registry.url}/v2/${DEBIAN_REPOSITORY}/manifests/${DEBIAN_TAG}`, {
    method: 'HEAD',
    headers: { accept: image.manifest.mediaType },
  });
  const digest = head.headers.get('docker-content-digest');
  if (digest !== image.manifest.digest) throw new Error(`the registry has ${DEBIAN_REPOSITORY}:${DEBIAN_TAG} as ${digest}, not ${image.manifest.digest}`);
}

/** One line describing the image. */
export function describeDebianImage(image: DebianImage): string {
  const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;
  return `debian ${SUITE} minbase+${INCLUDE.join(',')}: layer ${mb(image.layer.size)} gzip (${mb(image.uncompressedBytes)} tar), manifest ${image.manifest.digest.slice(0, 19)}…, cached in ${image.layout}`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) console.log(describeDebianImage(await debianImage()));
