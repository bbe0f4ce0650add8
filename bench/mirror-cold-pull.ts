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
 * fresh stack too, and so is `strata pull --no-unpack` (the CLI, a process
 * of its own like skopeo, through Images.Pull into the layer-store: what
 * skopeo copy does, without unpacking). Runs alternate; medians of N runs.
 * Target: ≤ 1.0× skopeo's wall time. Beside the wall times it prints CPU
 * seconds (user + system), which a busy machine disturbs less: skopeo's
 * (children's times of this process, from /proc/self/stat) and the mirror's
 * plus the layer-store's during Images.Pull (from /proc/<pid>/stat).
 * Run: npm run bench -- mirror-pull [runs] [--cpu-prof]
 *   (or: npx tsx bench/mirror-cold-pull.ts [runs] [--cpu-prof])
 *   --cpu-prof writes V8 CPU profiles of the mirror and the layer-store of
 *   the Images.Pull stacks to bench/.work/mirror-pull-profiles (kept).
 */
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { promisify } from 'node:util';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { ImagesService } from '@strata/api/images/v1';
import { createClient } from '@strata/grpc-kit';
import { startDistributionRegistry } from '@strata/image-fixtures';
import type { ImageIndex } from '@strata/oci';
import { DEBIAN_REPOSITORY, DEBIAN_TAG, debianImage, describeDebianImage, pushDebianImage, type DebianImage } from './debian-image.js';
import { middle, reportSeconds, root, timed, workDir } from './lib.js';
import { UPSTREAM_NAME, skopeoPull, startMirrorStack, type MirrorStack } from './mirror-stack.js';

const args = process.argv.slice(2);
const runs = Number(args.find((a) => !a.startsWith('--')) ?? 5);
const profiles = args.includes('--cpu-prof') ? join(root, 'bench', '.work', 'mirror-pull-profiles') : undefined;
const dir = workDir('mirror-pull');
const target = join(dir, 'pulled');
/** The `strata` command as npm installs it (the package's bin, a shell launcher of bin/strata.mjs). */
const strataBin = join(root, 'apps/cli/bin/strata');
const execFileAsync = promisify(execFile);

/** The stat fields after the command name of /proc/<pid>/stat: utime is [11], stime [12], cutime [13], cstime [14] (clock ticks of 10 ms). */
const statFields = (pid: number | 'self') => readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ').map(Number);
/** User + system CPU seconds of process pid so far (all its threads). */
const cpuSeconds = (pid: number) => {
  const f = statFields(pid);
  return ((f[11] ?? 0) + (f[12] ?? 0)) / 100;
};
/** User + system CPU seconds of this process's waited-for children so far. */
const childrenCpuSeconds = () => {
  const f = statFields('self');
  return ((f[13] ?? 0) + (f[14] ?? 0)) / 100;
};

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
  const cli: number[] = [];
  const cpu = { skopeo: [] as number[], pull: [] as number[], through: [] as number[] };
  const ref = `${UPSTREAM_NAME}/${DEBIAN_REPOSITORY}:${DEBIAN_TAG}`;
  const blobs = [image.manifest.digest, image.config.digest, image.layer.digest];
  for (let i = 0; i < runs; i++) {
    const skopeoBefore = childrenCpuSeconds();
    reference.push(await timed(() => skopeoPull(`${upstream.host}/${DEBIAN_REPOSITORY}:${DEBIAN_TAG}`, target, DEBIAN_TAG)));
    cpu.skopeo.push(childrenCpuSeconds() - skopeoBefore);
    checkPulled(image);

    await stack?.stop();
    stack = await startMirrorStack(join(dir, 'stack'), upstream);
    const through = stack;
    const servicesCpu = () => cpuSeconds(through.pids.mirror) + cpuSeconds(through.pids.layerStore);
    const throughBefore = childrenCpuSeconds() + servicesCpu();
    mirror.push(await timed(() => skopeoPull(`${through.host}/${ref}`, target, DEBIAN_TAG)));
    checkPulled(image);
    await through.waitCached(blobs);
    cpu.through.push(childrenCpuSeconds() + servicesCpu() - throughBefore);

    await stack.stop();
    if (profiles !== undefined) mkdirSync(profiles, { recursive: true });
    stack = await startMirrorStack(join(dir, 'stack'), upstream, profiles === undefined ? {} : { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${profiles}`] });
    const pulling = stack;
    const used = () => cpuSeconds(pulling.pids.mirror) + cpuSeconds(pulling.pids.layerStore);
    const pullBefore = used();
    pull.push(await timed(() => imagesPull(pulling, ref)));
    cpu.pull.push(used() - pullBefore);
    await pulling.waitCached(blobs, 1000);

    await stack.stop();
    stack = await startMirrorStack(join(dir, 'stack'), upstream);
    const runDir = join(dir, 'stack', 'run');
    const cliStack = stack;
    cli.push(await timed(() => execFileAsync(strataBin, ['pull', '--no-unpack', '--quiet', '--run-dir', runDir, ref])));
    await cliStack.waitCached(blobs, 1000);
  }
  const fmt = (times: number[]) => times.map((t) => t.toFixed(2)).join(' ');
  console.log(`  runs (s): skopeo from the registry ${fmt(reference)}; skopeo through the mirror ${fmt(mirror)}; Images.Pull ${fmt(pull)}; strata pull ${fmt(cli)}`);
  console.log(
    `  CPU seconds (user + system): Images.Pull (mirror + layer-store) ${middle(cpu.pull).toFixed(2)} s (runs ${fmt(cpu.pull)}), skopeo from the registry ${middle(cpu.skopeo).toFixed(2)} s (runs ${fmt(cpu.skopeo)}); ratio ${(middle(cpu.pull) / middle(cpu.skopeo)).toFixed(2)}×`,
  );
  // Both skopeo runs also have the docker-registry's CPU; on this machine's cores, the CPU seconds over the core count bound the wall time from below.
  console.log(
    `  CPU seconds of skopeo through the mirror (skopeo + mirror + layer-store): ${middle(cpu.through).toFixed(2)} s (runs ${fmt(cpu.through)}); over ${availableParallelism()} cores at least ${(middle(cpu.through) / availableParallelism()).toFixed(2)} s of wall time`,
  );
  if (profiles !== undefined) console.log(`  CPU profiles of the Images.Pull stacks' mirror and layer-store: ${profiles}`);
  reportSeconds('cold pull: skopeo via mirror', middle(mirror), middle(reference), 1.0);
  reportSeconds('cold pull: Images.Pull (gRPC)', middle(pull), middle(reference), 1.0);
  reportSeconds('cold pull: strata pull (CLI)', middle(cli), middle(reference), 1.0);
  const mb = image.layer.size / 1e6;
  const rate = (times: number[]) => `${(mb / middle(times)).toFixed(1)} MB/s`;
  console.log(`  layer throughput: skopeo via mirror ${rate(mirror)}, Images.Pull ${rate(pull)}, skopeo from the registry ${rate(reference)}`);
} finally {
  await stack?.stop();
  await upstream.stop();
  rmSync(dir, { recursive: true, force: true });
}
