import { mkdir, rmdir } from 'node:fs/promises';
import type { Snapshotter } from '@strata/snapshots';
import { mountAll, mountPoints, unmountAll } from '../mount.js';

/** Timings of mountCycles, in milliseconds. */
export interface CycleTimings {
  samples: number[];
  median: number;
}

/**
 * The container-start path of issue 4's benchmark, n times: prepare an
 * active snapshot on parent, mount it on target (an empty directory made
 * here), unmount it and remove the snapshot. Returns each cycle's duration.
 * Always unmounts and removes what it made, even on failure.
 */
export async function mountCycles(snapshotter: Snapshotter, parent: string, target: string, n: number): Promise<CycleTimings> {
  const samples: number[] = [];
  await mkdir(target, { recursive: true });
  try {
    for (let i = 0; i < n; i++) {
      const key = `cycle-${process.pid}-${i}`;
      const start = performance.now();
      try {
        const mounts = await snapshotter.prepare(key, parent);
        await mountAll(mounts, target);
        await unmountAll(target);
        await snapshotter.remove(key);
      } catch (err) {
        await unmountAll(target).catch(() => undefined);
        await snapshotter.remove(key).catch(() => undefined);
        throw err;
      }
      samples.push(performance.now() - start);
    }
  } finally {
    await rmdir(target).catch(() => undefined);
  }
  const sorted = [...samples].sort((a, b) => a - b);
  return { samples, median: sorted[Math.floor(sorted.length / 2)] ?? 0 };
}

/** Detaches every mount point below dir, deepest first (a test's leftovers). */
export async function unmountBelow(dir: string): Promise<void> {
  for (const m of (await mountPoints()).filter((p) => p.startsWith(`${dir}/`)).reverse()) await unmountAll(m, { detach: true });
}
