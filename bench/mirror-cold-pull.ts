/**
 * Cold pull through the registry-mirror (issue #3): the ~100 MB-compressed
 * Debian image (bench/debian-image.ts) sits in a local docker-registry; the
 * reference is `skopeo copy` of it from that registry straight into an OCI
 * layout, Strata is the same `skopeo copy` through a registry-mirror whose
 * upstream is that registry (what a docker/podman client does). Cold: the
 * mirror, its layer-store and NATS start on fresh state before every run
 * (untimed). Strata's own pull is measured the same way: the gRPC
 * `Images.Pull` on the mirror's unix socket, from the first request until
 * its DONE event (every blob stored in the layer-store, the tag set), on a
 * fresh stack too. Runs alternate; medians of N runs.
 * Target: ≤ 1.0× skopeo's wall time.
 * Run: npm run bench -- mirror-pull [runs]   (or: npx tsx bench/mirror-cold-pull.ts [runs])
 */
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ImagesService } from '@strata/api/images/v1';
import { createClient } from '@strata/grpc-kit';
import { startDistributionRegistry } from '@strata/image-fixtures';
import type { ImageIndex } from '@strata/oci';
import { DEBIAN_REPOSITORY, DEBIAN_TAG, debianImage, describeDebianImage, pushDebianImage, type DebianImage } from './debian-image.js';
import { middle, reportSeconds, timed, workDir } from './lib.js';
import { UPSTREAM_NAME, skopeoPull, startMirrorStack, type MirrorStack } from './mirror-stack.js';

const runs = Number(process.argv[2] ?? 5);
const dir = workDir('mirror-pull');
const target = join(dir, 'pulled');

/** Throws unless the layout at target names the image's manifest (skopeo has checked every digest). */
function checkPulled(image: DebianImage): void {
  const index = JSON.parse(readFileSync(join(target, 'index.json'), 'utf8')) as ImageIndex;
  const digests = index.manifests.map((m) => m.digest);
  if (digests.length !== 1 || digests[0] !== image.manifest.digest) throw new Error(`pulled ${digests.join(', ')}, not ${image.manifest.digest}`);
}

/** Images.Pull of ref on the mirror's socket until DONE; throws unless DONE came last and downloaded something. */
async function imagesPull(stack: MirrorStack, ref: string): Promise<void> {
  const client = createClient({ unixSocket: stack.socket });
  try {
    let last: string | undefined;
    let upToDate = true;
    for await (const message of client.serverStream(ImagesService.pull, { ref, platform: undefined })) {
      last = message.event?.$case;
      if (message.event?.$case === 'done') upToDate = message.event.value.upToDate;
    }
    if (last !== 'done') throw new Error(`Images.Pull of ${ref} ended with ${last ?? 'nothing'}, not DONE`);
    if (upToDate) throw new Error(`Images.Pull of ${ref} on a fresh mirror said the image was up to date`);
  } finally {
    client.close();
  }
}

const image = await debianImage();
console.log(`mirror cold pull: ${describeDebianImage(image)}; median of ${runs} runs, work dir ${dir}`);
const upstream = await startDistributionRegistry();
let stack: MirrorStack | undefined;
try {
  await pushDebianImage(image, upstream);
  const reference: number[] = [];
  const mirror: number[] = [];
  const pull: number[] = [];
  const ref = `${UPSTREAM_NAME}/${DEBIAN_REPOSITORY}:${DEBIAN_TAG}`;
  const blobs = [image.manifest.digest, image.config.digest, image.layer.digest];
  for (let i = 0; i < runs; i++) {
    reference.push(await timed(() => skopeoPull(`${upstream.host}/${DEBIAN_REPOSITORY}:${DEBIAN_TAG}`, target, DEBIAN_TAG)));
    checkPulled(image);

    await stack?.stop();
    stack = await startMirrorStack(join(dir, 'stack'), upstream);
    const through = stack;
    mirror.push(await timed(() => skopeoPull(`${through.host}/${ref}`, target, DEBIAN_TAG)));
    checkPulled(image);
    await through.waitCached(blobs);

    await stack.stop();
    stack = await startMirrorStack(join(dir, 'stack'), upstream);
    const pulling = stack;
    pull.push(await timed(() => imagesPull(pulling, ref)));
    await pulling.waitCached(blobs, 1000);
  }
  const fmt = (times: number[]) => times.map((t) => t.toFixed(2)).join(' ');
  console.log(`  runs (s): skopeo from the registry ${fmt(reference)}; skopeo through the mirror ${fmt(mirror)}; Images.Pull ${fmt(pull)}`);
  reportSeconds('cold pull: skopeo via mirror', middle(mirror), middle(reference), 1.0);
  reportSeconds('cold pull: Images.Pull (gRPC)', middle(pull), middle(reference), 1.0);
  const mb = image.layer.size / 1e6;
  const rate = (times: number[]) => `${(mb / middle(times)).toFixed(1)} MB/s`;
  console.log(`  layer throughput: skopeo via mirror ${rate(mirror)}, Images.Pull ${rate(pull)}, skopeo from the registry ${rate(reference)}`);
} finally {
  await stack?.stop();
  await upstream.stop();
  rmSync(dir, { recursive: true, force: true });
}
