import { chmod, lstat, mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDir } from '@strata/kit/testing';
import { DirFlusher, removeTree } from './fs-io.js';

const dirs: Array<ReturnType<typeof tempDir>> = [];
afterEach(() => {
  for (const d of dirs.splice(0)) d.remove();
});

function scratch(): string {
  const d = tempDir('strata-remove-tree-');
  dirs.push(d);
  return d.path;
}

const gone = (path: string) => lstat(path).then(
  () => false,
  (err: NodeJS.ErrnoException) => err.code === 'ENOENT',
);

describe('removeTree', () => {
  it('deletes a snapshot-like tree: nested directories, files, a mode-000 directory, and symlinks without following them', async () => {
    const root = scratch();
    const outside = join(root, 'outside');
    await mkdir(outside);
    await writeFile(join(outside, 'keep'), 'kept');
    const tree = join(root, '7');
    await mkdir(join(tree, 'fs/etc/deep/er'), { recursive: true });
    await mkdir(join(tree, 'work/work'), { recursive: true });
    await writeFile(join(tree, 'fs/etc/deep/er/file'), 'x');
    await writeFile(join(tree, 'fs/top'), 'y');
    await symlink(outside, join(tree, 'fs/link-to-dir'));
    await symlink(join(outside, 'keep'), join(tree, 'fs/link-to-file'));
    await symlink('missing', join(tree, 'fs/dangling'));
    await chmod(join(tree, 'work/work'), 0o000);
    await removeTree(tree);
    expect(await gone(tree)).toBe(true);
    expect(await readFile(join(outside, 'keep'), 'utf8')).toBe('kept');
  });

  it.each<[string, (root: string) => Promise<string>]>([
    ['a path that does not exist', async (root) => join(root, 'missing')],
    ['a file', async (root) => {
      await writeFile(join(root, 'file'), 'x');
      return join(root, 'file');
    }],
    ['an empty directory', async (root) => {
      await mkdir(join(root, 'empty'));
      return join(root, 'empty');
    }],
  ])('leaves nothing at %s', async (_, make) => {
    const path = await make(scratch());
    await removeTree(path);
    expect(await gone(path)).toBe(true);
  });
});

describe('DirFlusher', () => {
  it('flushes with the directory kept open, opens it again after close, and retries an open that failed', async () => {
    const root = scratch();
    const dir = join(root, 'metadata');
    const flusher = new DirFlusher(dir);
    try {
      await expect(flusher.flush()).rejects.toThrow(/ENOENT/);
      await mkdir(dir);
      await writeFile(join(dir, 'a'), 'x');
      await Promise.all([flusher.flush(), flusher.flush(), flusher.flush()]);
      await flusher.close();
      await writeFile(join(dir, 'b'), 'y');
      await flusher.flush();
    } finally {
      await flusher.close();
    }
  });
});
