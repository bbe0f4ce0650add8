/**
 * Cold pull + unpack of the ~100 MB-compressed Debian image
 * (bench/debian-image.ts) from a local docker-registry (issue #4): Strata's
 * `strata pull` (the CLI process: Images.Pull through a registry-mirror
 * into its layer-store, then Diff.Unpack into this host's snapshotter,
 * overlay driver) against `ctr image pull` of Debian's containerd package
 * (fetch into containerd's content store and unpack into its overlayfs
 * snapshotter). Both start on fresh state before every run (untimed):
 * containerd as its own instance (own --config with root, state and
 * socket in a temp directory, CRI plugin off; started and stopped by pid,
 * so the machine's docker or containerd is never touched), Strata as NATS +
 * layer-store + registry-mirror (bench/mirror-stack.ts) + snapshotter.
 * Beside the CLI, the same two calls made over gRPC from this process
 * (no CLI start). Runs alternate; medians of N runs.
 * Target: ≤ 0.8× ctr.
 * Run: npm run bench -- snapshotter-pull [runs]
 */
import { execFile, execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { ImagesService } from '@strata/api/images/v1';
import { createGrpcDiffer } from '@strata/diff-service';
import { createClient } from '@strata/grpc-kit';
import { startDistributionRegistry, type TestDistributionRegistry } from '@strata/image-fixtures';
import { silentLogger } from '@strata/kit';
import { parseDigest } from '@strata/oci';
import { startContainerd } from './containerd-process.js';
import { DEBIAN_REPOSITORY, DEBIAN_TAG, debianImage, describeDebianImage, pushDebianImage } from './debian-image.js';
import { middle, reportSeconds, root, timed, workDir } from './lib.js';
import { UPSTREAM_NAME, startMirrorStack, type MirrorStack } from './mirror-stack.js';
import { startSnapshotterProcess, type SnapshotterProcess } from './snapshotter-process.js';

const execFileAsync = promisify(execFile);
const runs = Number(process.argv[2] ?? 3);
const dir = workDir('snapshotter-pull');
const logger = silentLogger();

/** `ctr image pull` (fetch + unpack into its overlayfs snapshotter). */
async function ctrPull(socket: string, ref: string): Promise<void> {
  await execFileAsync('ctr', ['-a', socket, 'image', 'pull', '--plain-http', ref], { timeout: 600_000 });
}

function ctrSnapshots(socket: string): string[] {
  return execFileSync('ctr', ['-a', socket, 'snapshots', 'ls'], { encoding: 'utf8' }).trim().split('\n').slice(1);
}

/** Strata's stack on fresh state: mirror stack plus a snapshotter whose socket sits in the mirror's run dir. */
async function startStrata(upstream: TestDistributionRegistry): Promise<{ stack: MirrorStack; snapshotter: SnapshotterProcess; runDir: string; stop: () => Promise<void> }> {
  const stack = await startMirrorStack(join(dir, 'stack'), upstream);
  const runDir = dirname(stack.socket);
  let snapshotter: SnapshotterProcess;
  try {
    snapshotter = await startSnapshotterProcess({ stateDir: join(dir, 'snapshotter'), runDir, layerStoreSocket: stack.layerStoreSocket });
  } catch (err) {
    await stack.stop();
    throw err;
  }
  return {
    stack,
    snapshotter,
    runDir,
    stop: async () => {
      await snapshotter.stop();
      await stack.stop();
    },
  };
}

/** `strata pull` as a process; throws unless it extracted the layer. */
async function strataPull(runDir: string, ref: string): Promise<void> {
  const { stdout, stderr } = await execFileAsync(join(root, 'apps/cli/bin/strata'), ['pull', ref, '--run-dir', runDir], {
    timeout: 600_000,
  });
  if (stderr !== '' || !stdout.includes(': Pull complete\n') || !stdout.includes(': Extracting\n')) {
    throw new Error(`strata pull did not unpack:\n${stdout}${stderr}`);
  }
}

/** Images.Pull until DONE, then Diff.Unpack of the pulled manifest, from this process. */
async function grpcPull(stack: MirrorStack, snapshotterSocket: string, ref: string): Promise<void> {
  const client = createClient({ unixSocket: stack.socket });
  const differ = createGrpcDiffer({ unixSocket: snapshotterSocket }, { logger });
  try {
    let manifest: { mediaType: string; digest: string; size: number } | undefined;
    for await (const message of client.serverStream(ImagesService.pull, { ref, platform: undefined })) {
      if (message.event?.$case === 'resolved') manifest = message.event.value.manifest;
    }
    if (manifest === undefined) throw new Error(`Images.Pull of ${ref} named no manifest`);
    const statuses: string[] = [];
    for await (const event of differ.unpack({ mediaType: manifest.mediaType, digest: parseDigest(manifest.digest), size: manifest.size })) {
      statuses.push(event.status);
    }
    if (statuses.at(-1) !== 'COMMITTED') throw new Error(`unpack ended with ${statuses.join(', ')}`);
  } finally {
    differ.close();
    client.close();
  }
}

const image = await debianImage();
console.log(`snapshotter cold pull + unpack: ${describeDebianImage(image)}; median of ${runs} runs, work dir ${dir}`);
const upstream = await startDistributionRegistry();
try {
  await pushDebianImage(image, upstream);
  const ctr: number[] = [];
  const cli: number[] = [];
  const grpc: number[] = [];
  const upstreamRef = `${upstream.host}/${DEBIAN_REPOSITORY}:${DEBIAN_TAG}`;
  const mirrorRef = `${UPSTREAM_NAME}/${DEBIAN_REPOSITORY}:${DEBIAN_TAG}`;
  for (let i = 0; i < runs; i++) {
    const containerd = await startContainerd(join(dir, 'containerd'));
    try {
      ctr.push(await timed(() => ctrPull(containerd.socket, upstreamRef)));
      if (ctrSnapshots(containerd.socket).length !== 1) throw new Error(`ctr pull left snapshots ${ctrSnapshots(containerd.socket).join('; ')}`);
    } finally {
      await containerd.stop();
    }

    const viaCli = await startStrata(upstream);
    try {
      cli.push(await timed(() => strataPull(viaCli.runDir, mirrorRef)));
    } finally {
      await viaCli.stop();
    }

    const viaGrpc = await startStrata(upstream);
    try {
      grpc.push(await timed(() => grpcPull(viaGrpc.stack, viaGrpc.snapshotter.socket, mirrorRef)));
    } finally {
      await viaGrpc.stop();
    }
  }
  const fmt = (times: number[]) => times.map((t) => t.toFixed(2)).join(' ');
  console.log(`  runs (s): ctr image pull ${fmt(ctr)}; strata pull ${fmt(cli)}; Images.Pull + Diff.Unpack ${fmt(grpc)}`);
  reportSeconds('pull + unpack: strata pull (CLI)', middle(cli), middle(ctr), 0.8);
  reportSeconds('pull + unpack: gRPC calls', middle(grpc), middle(ctr), 0.8);
} finally {
  await upstream.stop();
  rmSync(dir, { recursive: true, force: true });
}
