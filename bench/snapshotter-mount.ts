/**
 * The container-start path of the snapshotter (issue #4): Prepare an active
 * snapshot on the top chain ID of a 5-layer image, mount what it returns
 * (overlay, five lowerdirs), unmount it and Remove the snapshot — through
 * the Snapshots gRPC API of a snapshotter process, as the node-agent does
 * it, and on a local snapshotter in this process (no gRPC) as the bound.
 * The image (five small layers, @strata/image-fixtures buildImage) is
 * written to a layer-store process and unpacked by Diff.Unpack first.
 * Mounts go through @strata/snapshots-local mountAll/unmountAll
 * (mountCycles of its testing entry). Median of N cycles after 5 warm-up
 * cycles. No reference tool: the issue's target is absolute.
 * Target: median ≤ 10 ms.
 * Run: npm run bench -- snapshotter-mount [cycles]
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createGrpcStore } from '@strata/content-grpc';
import { createGrpcDiffer } from '@strata/diff-service';
import { storeImage } from '@strata/diff-service/testing';
import { buildImage, type BuiltImage } from '@strata/image-fixtures';
import { silentLogger } from '@strata/kit';
import { chainIds } from '@strata/oci';
import type { Snapshotter } from '@strata/snapshots';
import { createGrpcSnapshotter } from '@strata/snapshots-grpc';
import { createLocalSnapshotter, mountAll, unmountAll } from '@strata/snapshots-local';
import { mountCycles } from '@strata/snapshots-local/testing';
import { middle, startLayerStore, workDir } from './lib.js';
import { startSnapshotterProcess } from './snapshotter-process.js';

const cycles = Number(process.argv[2] ?? 100);
const WARMUP = 5;
const TARGET_MS = 10;
const dir = workDir('snapshotter-mount');
const logger = silentLogger();

/** Five layers of a few files each, the upper ones replacing and adding files. */
function fiveLayers(): Promise<BuiltImage> {
  return buildImage({
    layers: Array.from({ length: 5 }, (_, n) => ({
      items: [
        { file: `etc/layer-${n}`, content: `layer ${n}\n` },
        { file: 'etc/top', content: `written by layer ${n}\n` },
        { file: `usr/lib/l${n}/data.bin`, content: 'x'.repeat(64 * 1024) },
      ],
      createdBy: `RUN layer ${n}`,
    })),
    config: { Cmd: ['sh'] },
  });
}

/** Median and spread of mountCycles after a warm-up, in ms. */
async function measure(snapshotter: Snapshotter, parent: string, target: string): Promise<{ median: number; p90: number; min: number }> {
  await mountCycles(snapshotter, parent, target, WARMUP);
  const { samples, median } = await mountCycles(snapshotter, parent, target, cycles);
  const sorted = [...samples].sort((a, b) => a - b);
  return { median, p90: sorted[Math.floor(sorted.length * 0.9)] ?? 0, min: sorted[0] ?? 0 };
}

/** Median ms of each step of the cycle (prepare, mount, umount, remove), to show where a cycle's time goes. */
async function phases(snapshotter: Snapshotter, parent: string, target: string, n: number): Promise<string> {
  const steps = { prepare: [] as number[], mount: [] as number[], umount: [] as number[], remove: [] as number[] };
  mkdirSync(target, { recursive: true });
  try {
    for (let i = 0; i < n; i++) {
      const key = `phases-${i}`;
      let t = performance.now();
      const lap = (into: number[]) => {
        const now = performance.now();
        into.push(now - t);
        t = now;
      };
      try {
        const mounts = await snapshotter.prepare(key, parent);
        lap(steps.prepare);
        await mountAll(mounts, target);
        lap(steps.mount);
        await unmountAll(target);
        lap(steps.umount);
        await snapshotter.remove(key);
        lap(steps.remove);
      } catch (err) {
        await unmountAll(target).catch(() => undefined);
        await snapshotter.remove(key).catch(() => undefined);
        throw err;
      }
    }
  } finally {
    rmSync(target, { recursive: true, force: true });
  }
  return Object.entries(steps)
    .map(([name, samples]) => `${name} ${middle(samples).toFixed(2)} ms`)
    .join(', ');
}

function line(name: string, t: { median: number; p90: number; min: number }, target?: number): void {
  const verdict = target === undefined ? '' : t.median <= target ? `  (target ≤ ${target} ms: met)` : `  (target ≤ ${target} ms: MISSED)`;
  console.log(`${name.padEnd(34)} median ${t.median.toFixed(2)} ms   p90 ${t.p90.toFixed(2)} ms   min ${t.min.toFixed(2)} ms${verdict}`);
}

console.log(`snapshotter mount cycle: prepare + mount + umount + remove on a 5-layer image; median of ${cycles} cycles, work dir ${dir}`);
const image = await fiveLayers();
const top = chainIds(image.configDocument.rootfs.diff_ids).at(-1)!;
const layerStore = await startLayerStore(join(dir, 'layer-store'));
try {
  const store = createGrpcStore({ unixSocket: layerStore.socket }, { logger });
  const snapshotter = await startSnapshotterProcess({ stateDir: join(dir, 'snapshotter'), runDir: join(dir, 'run'), layerStoreSocket: layerStore.socket, sameHost: layerStore.sameHost });
  const differ = createGrpcDiffer({ unixSocket: snapshotter.socket }, { logger });
  const remote = createGrpcSnapshotter({ unixSocket: snapshotter.socket }, { logger });
  try {
    await storeImage(store, image);
    for await (const event of differ.unpack(image.manifest)) void event;
    const mounts = await remote.prepare('bench-probe', top);
    console.log(`  mounts: ${mounts.map((m) => `${m.type} ${m.options.join(',')}`).join('; ')}`);
    await remote.remove('bench-probe');
    line('through gRPC (snapshotter process)', await measure(remote, top, join(dir, 'mnt-grpc')), TARGET_MS);
    console.log(`  medians of each step through gRPC: ${await phases(remote, top, join(dir, 'mnt-phases'), Math.min(cycles, 50))}`);
  } finally {
    await remote.close();
    differ.close();
    await snapshotter.stop();
    await store.close();
  }

  // The same cycle without gRPC: a local overlay snapshotter in this process with the same five layers.
  const local = await createLocalSnapshotter({ root: join(dir, 'local'), logger });
  try {
    let parent: string | undefined;
    for (const [n, chain] of chainIds(image.configDocument.rootfs.diff_ids).entries()) {
      const key = `layer-${n}`;
      await local.prepare(key, parent);
      await local.commit(chain, key);
      parent = chain;
    }
    line('in process (no gRPC)', await measure(local, top, join(dir, 'mnt-local')));
    console.log(`  medians of each step in process: ${await phases(local, top, join(dir, 'mnt-phases'), Math.min(cycles, 50))}`);
  } finally {
    await local.close();
  }
} finally {
  await layerStore.stop();
  rmSync(dir, { recursive: true, force: true });
}
