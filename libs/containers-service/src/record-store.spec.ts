import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { recordFixture } from '@strata/containers/testing';
import { silentLogger } from '@strata/kit';
import { tempDir, waitFor } from '@strata/kit/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { RecordStore } from './record-store.js';

const scratch: Array<{ remove: () => void }> = [];
afterEach(() => {
  for (const s of scratch.splice(0)) s.remove();
});

function storeIn(): { store: RecordStore; dir: string } {
  const t = tempDir('strata-records-');
  scratch.push(t);
  return { store: new RecordStore(t.path, silentLogger()), dir: t.path };
}

describe('RecordStore', () => {
  it('saves and loads records, and remove takes the directory away at once, its files in the background', async () => {
    const { store, dir } = storeIn();
    const kept = recordFixture({ id: '1'.repeat(64), name: 'kept' });
    const removed = recordFixture({ id: '2'.repeat(64), name: 'removed' });
    await store.save(kept);
    await store.save(removed);
    writeFileSync(join(store.containerDir(removed.id), 'log.json'), 'x'.repeat(1 << 16));
    await store.remove(removed.id);
    expect(existsSync(store.containerDir(removed.id))).toBe(false);
    expect((await store.loadAll()).map((r) => r.name)).toEqual(['kept']);
    await waitFor(() => readdirSync(dir).length === 1, () => `only the kept directory left: ${readdirSync(dir).join(', ')}`);
    await store.remove(removed.id);
  });

  it('leaves out and deletes the files of a removal that an earlier process did not finish', async () => {
    const { store, dir } = storeIn();
    const half = join(dir, `.removed-${'3'.repeat(64)}-0a1b2c3d`);
    mkdirSync(join(half, 'rootfs'), { recursive: true });
    writeFileSync(join(half, 'record.json'), JSON.stringify({ version: 2, ...recordFixture({ id: '3'.repeat(64) }) }));
    expect(await store.loadAll()).toEqual([]);
    await waitFor(() => !existsSync(half), () => 'the half-removed directory deleted');
  });
});
