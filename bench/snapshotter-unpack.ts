/**
 * Unpack of the ~100 MB-compressed Debian image (bench/debian-image.ts) from
 * the layer-store into a committed snapshot (issue #4): `Diff.Unpack` of
 * its manifest on a fresh snapshotter process (overlay driver; the blob
 * read from a layer-store process over its socket, decompressed, hashed
 * into its diff_id, untarred, committed with a syncfs) against `tar -xzf`
 * of the same blob file into an empty directory on the same disk. The
 * snapshotter starts before each run (untimed); the time runs from the
 * Unpack request to the end of its stream. Beside the ratio: `tar -xzf`
 * followed by `sync -f` (a syncfs of the disk), since a commit makes the
 * layer durable and tar does not, and the CPU seconds of each (the
 * snapshotter process from /proc; tar and gzip from bash's `times`), which
 * a busy machine disturbs less than wall time. Runs alternate; medians of
 * N runs, each timed step after an untimed `sync` so no step pays for the
 * writeback of the one before. Every step writes into a directory of its
 * own, all removed at the end: on an ext4 without a journal (this
 * machine's), creating inodes within ~30 s of deleting many is slow (ext4
 * skips recently deleted inodes one by one), so a step timed right after
 * the previous step's tree was removed would pay for that removal.
 * Target: ≤ 1.3× tar.
 * Run: npm run bench -- snapshotter-unpack [runs] [--cpu-prof]
 *   --cpu-prof writes the snapshotter's V8 CPU profiles to bench/.work/profiles.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { putBlob } from '@strata/content';
import { createGrpcStore } from '@strata/content-grpc';
import { createGrpcDiffer } from '@strata/diff-service';
import { silentLogger } from '@strata/kit';
import { digestHex, type Descriptor } from '@strata/oci';
import { debianImage, describeDebianImage, type DebianImage } from './debian-image.js';
import { middle, reportSeconds, root, startLayerStore, timed, workDir } from './lib.js';
import { startSnapshotterProcess } from './snapshotter-process.js';

const args = process.argv.slice(2);
const profile = args.includes('--cpu-prof');
const runs = Number(args.find((a) => !a.startsWith('--')) ?? 5);
const dir = workDir('snapshotter-unpack');
const logger = silentLogger();

const blobPath = (image: DebianImage, d: Descriptor) => join(image.layout, 'blobs', 'sha256', digestHex(d.digest));

/** User + system CPU seconds of process pid so far (all its threads), from /proc. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Runs a shell script, returning the user + system CPU seconds of its children (bash's `times`). */
function childCpu(script: string): number {
  const out = execFileSync('bash', ['-c', `${script}; times`], { encoding: 'utf8' }).trim().split('\n');
  const seconds = (t: string) => {
    const m = /^(\d+)m([\d.]+)s$/.exec(t);
    return m === null ? 0 : Number(m[1]) * 60 + Number(m[2]);
  };
  return (out.at(-1) ?? '').split(' ').reduce((n, t) => n + seconds(t), 0);
}

const image = await debianImage();
console.log(`snapshotter unpack: ${describeDebianImage(image)}; median of ${runs} runs, work dir ${dir}`);
const layerStore = await startLayerStore(join(dir, 'layer-store'));
const profiles = join(root, 'bench', '.work', 'profiles');
try {
  const store = createGrpcStore({ unixSocket: layerStore.socket }, { logger });
  try {
    for (const d of [image.layer, image.config, image.manifest]) await putBlob(store, d.digest, readFileSync(blobPath(image, d)), {}, 'bench');
  } finally {
    await store.close();
  }
  if (profile) mkdirSync(profiles, { recursive: true });

  const cpu = { strata: [] as number[], tar: [] as number[] };

  /** Diff.Unpack on a fresh snapshotter; throws unless the one layer was committed by it. */
  const unpack = async (run: number): Promise<number> => {
    const snapshotter = await startSnapshotterProcess({
      stateDir: join(dir, `snapshotter-${run}`),
      runDir: join(dir, 'run'),
      layerStoreSocket: layerStore.socket,
      sameHost: layerStore.sameHost,
      keepState: true,
      ...(profile ? { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${profiles}`] } : {}),
    });
    const differ = createGrpcDiffer({ unixSocket: snapshotter.socket }, { logger });
    try {
      const before = cpuSeconds(snapshotter.pid);
      const seconds = await timed(async () => {
        const statuses: string[] = [];
        for await (const event of differ.unpack(image.manifest)) statuses.push(event.status);
        if (statuses.at(-1) !== 'COMMITTED') throw new Error(`unpack ended with ${statuses.join(', ')}, not COMMITTED`);
      });
      cpu.strata.push(cpuSeconds(snapshotter.pid) - before);
      return seconds;
    } finally {
      differ.close();
      await snapshotter.stop();
    }
  };

  const tar = (sync: boolean, run: number) => {
    const target = join(dir, `tar-${sync ? 'sync' : 'plain'}-${run}`);
    mkdirSync(target);
    return timed(() => {
      const used = childCpu(`tar -xzf '${blobPath(image, image.layer)}' -C '${target}'${sync ? ` && sync -f '${target}'` : ''}`);
      if (!sync) cpu.tar.push(used);
    });
  };

  const strata: number[] = [];
  const reference: number[] = [];
  const synced: number[] = [];
  // Each timed step starts with no dirty pages left by the one before (untimed sync).
  const settled = <T>(fn: () => Promise<T>) => {
    execFileSync('sync');
    return fn();
  };
  for (let i = 0; i < runs; i++) {
    reference.push(await settled(() => tar(false, i)));
    strata.push(await settled(() => unpack(i)));
    synced.push(await settled(() => tar(true, i)));
  }
  const fmt = (times: number[]) => times.map((t) => t.toFixed(2)).join(' ');
  console.log(`  runs (s): Diff.Unpack ${fmt(strata)}; tar -xzf ${fmt(reference)}; tar -xzf + sync ${fmt(synced)}`);
  reportSeconds('unpack vs tar -xzf', middle(strata), middle(reference), 1.3);
  reportSeconds('unpack vs tar -xzf + sync', middle(strata), middle(synced));
  const mb = image.uncompressedBytes / 1e6;
  console.log(
    `  CPU seconds (user + system): snapshotter ${middle(cpu.strata).toFixed(2)} s (runs ${fmt(cpu.strata)}), tar + gzip ${middle(cpu.tar).toFixed(2)} s (runs ${fmt(cpu.tar)}); ratio ${(middle(cpu.strata) / middle(cpu.tar)).toFixed(2)}×`,
  );
  console.log(`  tar bytes per second: Diff.Unpack ${(mb / middle(strata)).toFixed(1)} MB/s, tar -xzf ${(mb / middle(reference)).toFixed(1)} MB/s`);
  if (profile) console.log(`  CPU profiles of the snapshotter: ${profiles}`);
} finally {
  await layerStore.stop();
  rmSync(dir, { recursive: true, force: true });
}
