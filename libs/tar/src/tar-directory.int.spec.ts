import { execFileSync } from 'node:child_process';
import { chownSync, linkSync, mkdirSync, readFileSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorKind } from '@strata/kit';
import { tempDir } from '@strata/kit/testing';
import type { TarEntry } from './tar-entry.js';
import { createDirectoryTar, tarDirectory, type DirectoryTarOptions } from './tar-directory.js';
import { collectBytes, createTarWriter } from './tar-writer.js';
import { gnuTar } from './testing/gnu-tar.js';

const MTIME = 1_600_000_000;
const scratch = tempDir('strata-tar-dir-');
const root = join(scratch.path, 'root');
let socket: Server | undefined;

beforeAll(async () => {
  mkdirSync(join(root, 'a/b'), { recursive: true });
  mkdirSync(join(root, 'z'));
  mkdirSync(join(root, 'opaque'));
  writeFileSync(join(root, 'a/file'), 'shared content\n');
  writeFileSync(join(root, 'a/b/deep'), 'deep\n', { mode: 0o600 });
  writeFileSync(join(root, 'top'), Buffer.alloc(70_000, 7));
  writeFileSync(join(root, 'a-b'), 'sorts after a/ and before b\n');
  writeFileSync(join(root, 'B'), 'upper case sorts first\n');
  chownSync(join(root, 'a/b/deep'), 1234, 5678);
  symlinkSync('file', join(root, 'a/link'));
  symlinkSync('/nonexistent/absolute', join(root, 'z/dangling'));
  linkSync(join(root, 'a/file'), join(root, 'z/same'));
  linkSync(join(root, 'a/file'), join(root, 'a/other'));
  execFileSync('mkfifo', [join(root, 'a/pipe')]);
  execFileSync('mknod', [join(root, 'z/gone'), 'c', '0', '0']);
  socket = createServer();
  await new Promise<void>((resolve) => socket!.listen(join(root, 'z/socket'), resolve));
});

afterAll(async () => {
  await new Promise((resolve) => (socket === undefined ? resolve(undefined) : socket.close(resolve)));
  scratch.remove();
});

async function archiveOf(dir: string, options: DirectoryTarOptions = {}): Promise<Uint8Array> {
  return collectBytes(createDirectoryTar(dir, options));
}

async function verboseList(archive: Uint8Array): Promise<string[]> {
  const result = await gnuTar(['-tvf', '-', '--numeric-owner', '--full-time'], archive);
  expect(result.code).toBe(0);
  return result.stdout.trimEnd().split('\n');
}

describe('tarDirectory', () => {
  it('writes the tree depth first in byte order, like GNU tar --sort=name, with hardlinks by inode', async () => {
    const ours = await verboseList(await archiveOf(root, { mtime: MTIME }));
    const reference = join(scratch.path, 'reference.tar');
    const made = await gnuTar(['--sort=name', '--numeric-owner', `--mtime=@${MTIME}`, '-cf', reference, '-C', root, '.']);
    expect(made.stderr).toContain('socket ignored');
    const theirs = (await verboseList(readFileSync(reference)))
      .filter((line) => !line.endsWith(' ./'))
      .map((line) => line.replace(/ \.\//g, ' '));
    expect(ours).toEqual(theirs);
    expect(ours.map((line) => line.replace(/^.* \d{4}-\d\d-\d\d \d\d:\d\d:\d\d /, ''))).toEqual([
      'B',
      'a/',
      'a/b/',
      'a/b/deep',
      'a/file',
      'a/link -> file',
      'a/other link to a/file',
      'a/pipe',
      'a-b',
      'opaque/',
      'top',
      'z/',
      'z/dangling -> /nonexistent/absolute',
      'z/gone',
      'z/same link to a/file',
    ]);
  });

  it('round-trips through GNU tar extraction', async () => {
    const out = join(scratch.path, 'extracted');
    mkdirSync(out);
    const result = await gnuTar(['-xpf', '-', '-C', out], await archiveOf(root));
    expect(result.stderr).toBe('');
    const again = await verboseList(await archiveOf(out));
    expect(again).toEqual(await verboseList(await archiveOf(root)));
  });

  it('gives the same bytes for the same tree when mtime and owner are fixed', async () => {
    const options = { mtime: MTIME, owner: { uid: 0, gid: 0 } };
    const first = await archiveOf(root, options);
    utimesSync(join(root, 'top'), new Date(), new Date());
    const second = await archiveOf(root, options);
    expect(Buffer.compare(first, second)).toBe(0);
    expect((await verboseList(first)).every((line) => line.includes(' 0/0 '))).toBe(true);
  });

  it('lets rewrite turn overlay whiteouts and marked directories into OCI entries', async () => {
    const rewrite: DirectoryTarOptions['rewrite'] = (entry, { stats }) => {
      const slash = entry.name.lastIndexOf('/') + 1;
      if (entry.type === 'char-device' && stats.rdev === 0n) {
        return { name: `${entry.name.slice(0, slash)}.wh.${entry.name.slice(slash)}`, type: 'file', mtime: 0 };
      }
      if (entry.name === 'opaque') return [entry, { name: 'opaque/.wh..wh..opq', type: 'file' }];
      if (entry.name === 'a-b') return null;
      return entry;
    };
    const writer = createTarWriter();
    const collected = collectBytes(writer.stream);
    const { entries } = await tarDirectory(root, writer, { mtime: MTIME, rewrite, readXattrs: async ({ stats }) => (stats.isDirectory() ? { 'user.dir': Buffer.from('yes') } : undefined) });
    await writer.finish();
    const list = await gnuTar(['-tf', '-'], await collected);
    const names = list.stdout.trimEnd().split('\n');
    expect(names).toContain('z/.wh.gone');
    expect(names).toContain('opaque/.wh..wh..opq');
    expect(names).not.toContain('a-b');
    expect(names).toContain('top');
    expect(entries).toBe(names.length);
    const xattrs = await gnuTar(['-tvvf', '-', '--xattrs', '--xattrs-include=*'], await collected);
    expect(xattrs.stdout.split('\n').filter((l) => l === '  x: 3 user.dir').length).toBe(4);
  });

  it('keeps file content of a rewritten entry that keeps its name', async () => {
    const rewrite = (entry: TarEntry): TarEntry => ({ ...entry, uid: 42 });
    const archive = await archiveOf(join(root, 'a'), { rewrite });
    const out = join(scratch.path, 'rewritten');
    mkdirSync(out);
    await gnuTar(['-xf', '-', '-C', out], archive);
    expect(readFileSync(join(out, 'file'), 'utf8')).toBe('shared content\n');
    expect((await verboseList(archive)).every((line) => line.includes(' 42/'))).toBe(true);
  });

  it.each([
    ['a missing root', 'missing', 'NotFound', (dir: string) => `directory ${dir} does not exist`],
    ['a root that is a file', 'top', 'InvalidArgument', (dir: string) => `${dir} is not a directory`],
  ])('refuses %s', async (_case, name, kind, message) => {
    const dir = join(root, name);
    const writer = createTarWriter();
    let caught: unknown;
    try {
      await tarDirectory(dir, writer);
    } catch (err) {
      caught = err;
    }
    expect({ kind: errorKind(caught), message: (caught as Error).message }).toEqual({ kind, message: message(dir) });
    const stream = createDirectoryTar(dir);
    await expect(collectBytes(stream)).rejects.toThrow(message(dir));
  });
});
