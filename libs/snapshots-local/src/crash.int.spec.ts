import { readdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '@strata/kit';
import { startProcess, tempDir, waitFor, type TestProcess } from '@strata/kit/testing';
import type { Info } from '@strata/snapshots';
import { createLocalSnapshotter } from './local-snapshotter.js';

const script = fileURLToPath(new URL('./testing/commit-loop.ts', import.meta.url));
const FILES = 20;
const tsx = createRequire(import.meta.url).resolve('tsx');

describe.each(['overlay', 'native'] as const)('a snapshotter killed while committing (%s)', (driver) => {
  let dir: ReturnType<typeof tempDir> | undefined;
  let child: TestProcess | undefined;

  afterEach(async () => {
    await child?.stop('SIGKILL');
    child = undefined;
    dir?.remove();
    dir = undefined;
  });

  it('leaves only complete committed snapshots, and its leftovers are cleaned on the next start', async () => {
    dir = tempDir('strata-snapshots-crash-');
    const root = join(dir.path, 'root');
    for (const [round, after] of [
      [0, 2],
      [1, 4],
      [2, 3],
    ] as const) {
      child = startProcess(process.execPath, ['--import', tsx, script, root, driver, `r${round}`, String(FILES)]);
      await waitFor(
        () => child!.output().includes(`committed ${after}\n`),
        () => `round ${round} to commit ${after} layers: ${child!.output()}`,
        30_000,
        5,
      );
      await new Promise((r) => setTimeout(r, round * 7));
      await child.stop('SIGKILL');
      child = undefined;
    }
    const snapshotter = await createLocalSnapshotter({ root, driver, logger: silentLogger() });
    try {
      const infos: Info[] = [];
      for await (const info of snapshotter.list()) infos.push(info);
      const committed = infos.filter((i) => i.kind === 'committed');
      expect(committed.length).toBeGreaterThanOrEqual(3 + 5 + 4);
      for (const info of committed) {
        const [, prefix, n] = /^(r\d)-layer-(\d+)$/.exec(info.name)!;
        expect(info.parent).toBe(n === '0' ? undefined : `${prefix}-layer-${Number(n) - 1}`);
        const upper = (await snapshotter.directories(info.name)).upper!;
        expect(await readFile(join(upper, `${prefix}-${n}-complete`), 'utf8')).toBe(String(FILES));
        for (let f = 0; f < FILES; f++) {
          expect((await readFile(join(upper, `${prefix}-${n}-${f}`), 'utf8')).startsWith(`${n}:${f}:`)).toBe(true);
        }
      }
      for (const info of infos.filter((i) => i.kind !== 'committed')) expect(info.name).toMatch(/^r\d-active-\d+$/);
      const ids = new Set<string>();
      for (const info of infos) ids.add((await snapshotter.directories(info.name)).upper!.split('/').at(-2)!);
      expect((await readdir(join(root, 'snapshots'))).sort()).toEqual([...ids].sort());
      expect((await readdir(join(root, 'metadata'))).filter((f) => !f.endsWith('.json'))).toEqual([]);
    } finally {
      await snapshotter.close();
    }
    // Three child processes start through tsx: seconds each on a loaded machine, not vitest's 5 s default for all.
  }, 60_000);
});
