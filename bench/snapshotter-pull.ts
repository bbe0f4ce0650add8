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
 * (no CLI start), with the time until the Pull's DONE: the Unpack started
 * as the Pull resolved the image (as the CLI does), and, for scale, the
 * Unpack after the Pull's DONE. Runs alternate; medians of N
 * runs. The snapshotter gets the layer-store's data socket and blob root,
 * as `strata up` gives them. Each timed step starts after an untimed
 * `sync` and writes into directories of its own, all removed at the end
 * (on this machine's ext4, creating inodes within ~30 s of deleting many
 * is slow, so a step right after the previous step's removal paid for
 * it). Beside the wall times: CPU seconds (user + system) of each side,
 * which a busy machine disturbs less: containerd + ctr; the layer-store,
 * mirror and snapshotter processes + the strata CLI process.
 * Target: ≤ 0.8× ctr.
 * Run: npm run bench -- snapshotter-pull [runs]
 */
import { execFile, execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { ImagesService } from '@strata/api/images/v1';
import { createGrpcDiffer } from '@strata/diff-service';
import { createClient } from '@strata/grpc-kit';
import { startDistributionRegistry, type TestDistributionRegistry } from '@strata/image-fixtures';
import { silentLogger } from '@strata/kit';
import { parseDigest, type Digest } from '@strata/oci';
import { startContainerd } from './containerd-process.js';
import { DEBIAN_REPOSITORY, DEBIAN_TAG, debianImage, describeDebianImage, pushDebianImage } from './debian-image.js';
import { middle, reportSeconds, root, timed, workDir } from './lib.js';
import { UPSTREAM_NAME, startMirrorStack, type MirrorStack } from './mirror-stack.js';
import { startSnapshotterProcess, type SnapshotterProcess } from './snapshotter-process.js';

const execFileAsync = promisify(execFile);
const runs = Number(process.argv[2] ?? 3);
const dir = workDir('snapshotter-pull');
const logger = silentLogger();

function ctrSnapshots(socket: string): string[] {
  return execFileSync('ctr', ['-a', socket, 'snapshots', 'ls'], { encoding: 'utf8' }).trim().split('\n').slice(1);
}

/** User + system CPU seconds of process pid so far (all its threads), from /proc. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Runs command with args under bash, resolving with the user + system CPU seconds of its children (bash's `times`). */
async function childCpu(command: string, args: readonly string[]): Promise<{ cpu: number; stdout: string; stderr: string }> {
  const quoted = [command, ...args].map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ');
  const { stdout, stderr } = await execFileAsync('bash', ['-c', `${quoted}; code=$?; times >&2; exit $code`], { timeout: 600_000 });
  const lines = stderr.trimEnd().split('\n');
  const seconds = (t: string) => {
    const m = /^(\d+)m([\d.]+)s$/.exec(t);
    return m === null ? 0 : Number(m[1]) * 60 + Number(m[2]);
  };
  const cpu = (lines.at(-1) ?? '').split(' ').reduce((n, t) => n + seconds(t), 0);
  return { cpu, stdout, stderr: lines.slice(0, -2).join('\n') };
}

interface Strata {
  stack: MirrorStack;
  snapshotter: SnapshotterProcess;
  runDir: string;
  /** CPU seconds of the layer-store, mirror and snapshotter processes so far. */
  cpu(): number;
  stop: () => Promise<void>;
}

/** Strata's stack on fresh state under base: mirror stack plus a snapshotter whose socket sits in the mirror's run dir; the state stays until the end. */
async function startStrata(upstream: TestDistributionRegistry, base: string): Promise<Strata> {
  const stack = await startMirrorStack(join(base, 'stack'), upstream, { keepState: true });
  const runDir = dirname(stack.socket);
  let snapshotter: SnapshotterProcess;
  try {
    snapshotter = await startSnapshotterProcess({
      stateDir: join(base, 'snapshotter'),
      runDir,
      layerStoreSocket: stack.layerStoreSocket,
      sameHost: stack.sameHost,
      keepState: true,
    });
  } catch (err) {
    await stack.stop();
    throw err;
  }
  return {
    stack,
    snapshotter,
    runDir,
    cpu: () => cpuSeconds(stack.pids.layerStore) + cpuSeconds(stack.pids.mirror) + cpuSeconds(snapshotter.pid),
    stop: async () => {
      await snapshotter.stop();
      await stack.stop();
    },
  };
}

/** `strata pull` as a process; throws unless it extracted the layer. Resolves with the CLI's CPU seconds. */
async function strataPull(runDir: string, ref: string): Promise<number> {
  const { cpu, stdout, stderr } = await childCpu(join(root, 'apps/cli/bin/strata'), ['pull', ref, '--run-dir', runDir]);
  if (stderr !== '' || !stdout.includes(': Pull complete\n') || !stdout.includes(': Extracting\n')) {
    throw new Error(`strata pull did not unpack:\n${stdout}${stderr}`);
  }
  return cpu;
}

/**
 * Images.Pull until DONE and Diff.Unpack of the pulled manifest, from this
 * process: started as the pull resolved the image (early, as `strata pull`
 * does; when that unpack fails, once more after DONE, as the CLI does), or
 * after DONE. Resolves with the seconds until DONE of the pull.
 */
async function grpcPull(stack: MirrorStack, snapshotterSocket: string, ref: string, early: boolean): Promise<number> {
  const client = createClient({ unixSocket: stack.socket });
  const differ = createGrpcDiffer({ unixSocket: snapshotterSocket }, { logger });
  const start = process.hrtime.bigint();
  let manifest: { mediaType: string; digest: Digest; size: number } | undefined;
  const unpack = async () => {
    const statuses: string[] = [];
    for await (const event of differ.unpack(manifest!)) statuses.push(event.status);
    return statuses;
  };
  let unpacking: Promise<string[]> | undefined;
  try {
    for await (const message of client.serverStream(ImagesService.pull, { ref, platform: undefined })) {
      if (message.event?.$case !== 'resolved' || message.event.value.manifest === undefined) continue;
      const { mediaType, digest, size } = message.event.value.manifest;
      manifest = { mediaType, digest: parseDigest(digest), size };
      if (early) {
        unpacking = unpack();
        unpacking.catch(() => undefined);
      }
    }
    const pulled = Number(process.hrtime.bigint() - start) / 1e9;
    if (manifest === undefined) throw new Error(`Images.Pull of ${ref} named no manifest`);
    const statuses = await (unpacking?.catch(() => unpack()) ?? unpack());
    if (statuses.at(-1) !== 'COMMITTED') throw new Error(`unpack ended with ${statuses.join(', ')}`);
    return pulled;
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
  const grpcPulled: number[] = [];
  const grpcAfter: number[] = [];
  const grpcAfterPulled: number[] = [];
  const cpu = { ctr: [] as number[], cli: [] as number[], grpc: [] as number[], grpcAfter: [] as number[] };
  const upstreamRef = `${upstream.host}/${DEBIAN_REPOSITORY}:${DEBIAN_TAG}`;
  const mirrorRef = `${UPSTREAM_NAME}/${DEBIAN_REPOSITORY}:${DEBIAN_TAG}`;
  // Each timed step starts with no dirty pages left by the one before (untimed sync).
  const settled = <T>(fn: () => Promise<T>) => {
    execFileSync('sync');
    return fn();
  };
  for (let i = 0; i < runs; i++) {
    const containerd = await startContainerd(join(dir, `containerd-${i}`), { keepState: true });
    try {
      const before = cpuSeconds(containerd.pid);
      let client = 0;
      ctr.push(
        await settled(() =>
          timed(async () => {
            client = (await childCpu('ctr', ['-a', containerd.socket, 'image', 'pull', '--plain-http', upstreamRef])).cpu;
          }),
        ),
      );
      cpu.ctr.push(cpuSeconds(containerd.pid) - before + client);
      if (ctrSnapshots(containerd.socket).length !== 1) throw new Error(`ctr pull left snapshots ${ctrSnapshots(containerd.socket).join('; ')}`);
    } finally {
      await containerd.stop();
    }

    const viaCli = await startStrata(upstream, join(dir, `cli-${i}`));
    try {
      const before = viaCli.cpu();
      let client = 0;
      cli.push(await settled(() => timed(async () => (client = await strataPull(viaCli.runDir, mirrorRef)))));
      cpu.cli.push(viaCli.cpu() - before + client);
    } finally {
      await viaCli.stop();
    }

    for (const early of [true, false]) {
      const viaGrpc = await startStrata(upstream, join(dir, `grpc-${early ? 'early' : 'after'}-${i}`));
      try {
        const before = viaGrpc.cpu();
        const seconds = await settled(() => timed(async () => (early ? grpcPulled : grpcAfterPulled).push(await grpcPull(viaGrpc.stack, viaGrpc.snapshotter.socket, mirrorRef, early))));
        (early ? grpc : grpcAfter).push(seconds);
        (early ? cpu.grpc : cpu.grpcAfter).push(viaGrpc.cpu() - before);
      } finally {
        await viaGrpc.stop();
      }
    }
  }
  const fmt = (times: number[]) => times.map((t) => t.toFixed(2)).join(' ');
  console.log(
    `  runs (s): ctr image pull ${fmt(ctr)}; strata pull ${fmt(cli)}; Images.Pull + Diff.Unpack ${fmt(grpc)} (DONE of the pull at ${fmt(grpcPulled)}); ` +
      `Diff.Unpack after Images.Pull ${fmt(grpcAfter)} (DONE at ${fmt(grpcAfterPulled)})`,
  );
  reportSeconds('pull + unpack: strata pull (CLI)', middle(cli), middle(ctr), 0.8);
  reportSeconds('pull + unpack: gRPC calls', middle(grpc), middle(ctr), 0.8);
  reportSeconds('gRPC calls, unpack after the pull', middle(grpcAfter), middle(ctr));
  console.log(
    `  CPU seconds (user + system): containerd + ctr ${middle(cpu.ctr).toFixed(2)} (runs ${fmt(cpu.ctr)}); ` +
      `strata services + CLI ${middle(cpu.cli).toFixed(2)} (runs ${fmt(cpu.cli)}); services for the gRPC calls ${middle(cpu.grpc).toFixed(2)} (runs ${fmt(cpu.grpc)}), unpack after the pull ${middle(cpu.grpcAfter).toFixed(2)} (runs ${fmt(cpu.grpcAfter)})`,
  );
} finally {
  await upstream.stop();
  rmSync(dir, { recursive: true, force: true });
}
