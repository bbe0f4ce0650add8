import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { silentLogger } from '@strata/kit';
import { tempDir } from '@strata/kit/testing';
import type { Info, LocalSnapshotter } from '@strata/snapshots';
import { createLocalSnapshotter } from './local-snapshotter.js';
import { mountPoints, unmountAll } from './mount.js';
import { mountCycles } from './testing/mount-cycle.js';

let dir: ReturnType<typeof tempDir> | undefined;
let snapshotter: LocalSnapshotter | undefined;

afterEach(async () => {
  try {
    if (dir !== undefined) await unmountAll(join(dir.path, 'mnt'));
    await snapshotter?.close();
  } finally {
    snapshotter = undefined;
    dir?.remove();
    dir = undefined;
  }
});

it('runs the container-start cycle on a 5-layer image and leaves nothing behind', async () => {
  dir = tempDir('strata-snapshots-cycle-');
  snapshotter = await createLocalSnapshotter({ root: join(dir.path, 'root'), logger: silentLogger() });
  let parent: string | undefined;
  for (let i = 0; i < 5; i++) {
    await snapshotter.prepare(`k${i}`, parent);
    await snapshotter.commit(`l${i}`, `k${i}`);
    parent = `l${i}`;
  }
  const timings = await mountCycles(snapshotter, parent!, join(dir.path, 'mnt'), 10);
  expect(timings.samples).toHaveLength(10);
  expect(timings.median).toBeGreaterThan(0);
  const left: Info[] = [];
  for await (const info of snapshotter.list()) left.push(info);
  expect(left.map((i) => i.name).sort()).toEqual(['l0', 'l1', 'l2', 'l3', 'l4']);
  expect((await mountPoints()).filter((p) => p.startsWith(dir!.path))).toEqual([]);
});
