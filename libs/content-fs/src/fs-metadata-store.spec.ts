import { readdirSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tempDir } from '@strata/kit/testing';
import { expectError } from '@strata/content/testing';
import type { MetadataStore } from '@strata/content';
import { createFsMetadataStore } from './fs-metadata-store.js';

describe('fs metadata store', () => {
  let dir: { path: string; remove: () => void };
  let meta: MetadataStore;

  beforeEach(() => {
    dir = tempDir('strata-fs-meta-');
    meta = createFsMetadataStore(join(dir.path, 'metadata'));
  });

  afterEach(() => dir.remove());

  it('puts, gets, replaces and deletes JSON values', async () => {
    expect(await meta.get('leases/a')).toBeUndefined();
    await meta.put('leases/a', { id: 'a', n: 1 });
    expect(await meta.get('leases/a')).toEqual({ id: 'a', n: 1 });
    await meta.put('leases/a', { id: 'a', n: 2 });
    expect(await meta.get('leases/a')).toEqual({ id: 'a', n: 2 });
    await meta.delete('leases/a');
    await meta.delete('leases/a');
    expect(await meta.get('leases/a')).toBeUndefined();
  });

  it('keeps each value in a private file, leaving no temp files', async () => {
    await meta.put('labels/sha256/abc', { labels: { a: 'b' } });
    const file = join(dir.path, 'metadata', 'labels', 'sha256', 'abc.json');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    for (const d of ['metadata', 'metadata/labels', 'metadata/labels/sha256']) expect(statSync(join(dir.path, d)).mode & 0o777).toBe(0o700);
    expect(readdirSync(join(dir.path, 'metadata', 'labels', 'sha256'))).toEqual(['abc.json']);
  });

  it('lists keys under a prefix, whole names or not, skipping temp files', async () => {
    for (const k of ['leases/a', 'leases/ab', 'leases/Upper', 'labels/sha256/x', 'top']) await meta.put(k, k);
    writeFileSync(join(dir.path, 'metadata', 'leases', `c.json.1.${'0'.repeat(16)}.tmp`), '{}');
    expect((await meta.list('leases/')).sort()).toEqual(['leases/Upper', 'leases/a', 'leases/ab']);
    expect((await meta.list('leases/a')).sort()).toEqual(['leases/a', 'leases/ab']);
    expect((await meta.list('')).sort()).toEqual(['labels/sha256/x', 'leases/Upper', 'leases/a', 'leases/ab', 'top']);
    expect(await meta.list('nothing/')).toEqual([]);
    expect(await meta.list('to')).toEqual(['top']);
  });

  it.each([
    ['an empty key', ''],
    ['a parent part', 'leases/../escape'],
    ['a dot part', './x'],
    ['an empty part', 'a//b'],
    ['a leading slash', '/abs'],
    ['a space', 'a b'],
    ['a part ending in .json', 'a.json/b'],
    ['a part ending in .tmp', 'x.tmp'],
  ])('refuses a key with %s (InvalidArgument)', async (_name, key) => {
    const message = `invalid metadata key ${JSON.stringify(key)}: use / separated names of A-Z a-z 0-9 . _ -, without . or .. parts or names ending in .json or .tmp`;
    await expectError(meta.put(key, 1), 'InvalidArgument', message);
    await expectError(meta.get(key), 'InvalidArgument', message);
    await expectError(meta.delete(key), 'InvalidArgument', message);
  });

  it('refuses a prefix that leaves the directory', async () => {
    await expectError(meta.list('../'), 'InvalidArgument', /invalid metadata prefix/);
  });

  it('reports a value that is not JSON as DataLoss', async () => {
    mkdirSync(join(dir.path, 'metadata', 'leases'), { recursive: true });
    writeFileSync(join(dir.path, 'metadata', 'leases', 'bad.json'), '{"cut');
    await expectError(meta.get('leases/bad'), 'DataLoss', /metadata leases\/bad is corrupt/);
  });
});
