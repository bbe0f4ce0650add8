import { existsSync, mkdirSync, readFileSync, readlinkSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorKind } from '@strata/kit';
import { tempDir } from '@strata/kit/testing';
import { tarBytes } from '@strata/tar';
import { rawEntry } from '@strata/tar/testing';
import { extractIntoRoot, readTar, resolveRootedPath, statRootedPath, tarRootedPath, type ExtractOptions } from '@strata/layer-diff';
import { stoppedContainerFiles, type HostPathOf } from './container-paths.js';

/** The entries of a tar stream: name, type, link target and text. */
async function entriesOf(stream: AsyncIterable<Uint8Array>): Promise<Array<{ name: string; type: string; linkname: string; data: string }>> {
  const out = [];
  for await (const entry of readTar(stream)) {
    const chunks: Buffer[] = [];
    for await (const chunk of entry.data()) chunks.push(chunk);
    out.push({ name: entry.header.name, type: entry.header.type, linkname: entry.header.linkname, data: Buffer.concat(chunks).toString() });
  }
  return out;
}

describe('a container path, resolved inside the container', () => {
  let dir: ReturnType<typeof tempDir>;
  let files: HostPathOf;
  let host: string;

  beforeAll(() => {
    dir = tempDir('strata-container-paths-');
    const root = join(dir.path, 'rootfs');
    host = join(dir.path, 'host');
    mkdirSync(join(root, 'etc'), { recursive: true });
    mkdirSync(join(root, 'data/sub'), { recursive: true });
    mkdirSync(join(root, 'vol'), { recursive: true });
    mkdirSync(join(host, 'etc'), { recursive: true });
    mkdirSync(join(dir.path, 'volume'), { recursive: true });
    writeFileSync(join(root, 'etc/passwd'), 'root:x:0:0::/root:/bin/sh\n');
    writeFileSync(join(host, 'etc/passwd'), 'the node\'s own\n');
    writeFileSync(join(root, 'data/sub/file'), 'data\n');
    writeFileSync(join(dir.path, 'volume/in-volume'), 'volume\n');
    writeFileSync(join(dir.path, 'hosts'), '127.0.0.1 localhost\n');
    writeFileSync(join(root, 'etc/hosts'), ''); // the mount point runc makes
    symlinkSync('/etc', join(root, 'abs-etc'));
    symlinkSync('../../../../etc/passwd', join(root, 'data/climb'));
    symlinkSync(host, join(root, 'to-host'));
    symlinkSync('loop-b', join(root, 'loop-a'));
    symlinkSync('loop-a', join(root, 'loop-b'));
    symlinkSync('sub', join(root, 'data/rel'));
    files = stoppedContainerFiles(root, [
      { source: join(dir.path, 'volume'), destination: '/vol' },
      { source: join(dir.path, 'hosts'), destination: '/etc/hosts' },
    ]);
  });
  afterAll(() => dir?.remove());

  const failure = (p: Promise<unknown>) =>
    p.then(
      () => undefined,
      (err: unknown) => ({ kind: errorKind(err), message: (err as Error).message }),
    );

  it.each([
    ['/etc/passwd', false, '/etc/passwd'],
    ['etc/passwd', false, '/etc/passwd'],
    ['/abs-etc/passwd', false, '/etc/passwd'],
    ['/data/climb', true, '/etc/passwd'],
    ['/data/climb', false, '/data/climb'],
    ['/abs-etc', false, '/abs-etc'],
    ['/abs-etc/', false, '/etc'],
    ['/abs-etc/.', false, '/etc'],
    ['/data/rel/file', false, '/data/sub/file'],
    ['/data/../../etc/passwd', false, '/etc/passwd'],
  ])('%s (followLast %s) is %s', async (path, followLast, expected) => {
    expect(await resolveRootedPath(files, path, { followLast })).toBe(expected);
  });

  it("never reads the node's files through a link", async () => {
    expect(await failure(resolveRootedPath(files, '/to-host/etc/passwd', { followLast: true }))).toMatchObject({ kind: 'NotFound' });
    const tar = await entriesOf(tarRootedPath(files, await resolveRootedPath(files, '/abs-etc/passwd', { followLast: false }), 'passwd'));
    expect(tar.map((e) => [e.name, e.data])).toEqual([['passwd', 'root:x:0:0::/root:/bin/sh\n']]);
  });

  it('reads binds (volumes, /etc/hosts) over the root file system', async () => {
    expect(await resolveRootedPath(files, '/vol/in-volume', { followLast: false })).toBe('/vol/in-volume');
    expect((await statRootedPath(files, '/vol/in-volume')).size).toBe(7);
    expect((await statRootedPath(files, '/etc/hosts')).size).toBe(20);
    // A directory holding a bind is read with the bind's files, as the container sees it.
    const entries = await entriesOf(tarRootedPath(files, '/', '.'));
    expect(entries.find((e) => e.name === './vol/in-volume')?.data).toBe('volume\n');
    expect(entries.find((e) => e.name === './etc/hosts')?.data).toBe('127.0.0.1 localhost\n');
  });

  it('refuses a missing path, a link loop and a file used as a directory', async () => {
    expect(await failure(resolveRootedPath(files, '/nope/x', { followLast: false }))).toEqual({ kind: 'NotFound', message: 'no such file or directory: /nope/x' });
    expect(await failure(resolveRootedPath(files, '/loop-a', { followLast: true }))).toEqual({ kind: 'InvalidArgument', message: 'path /loop-a: too many levels of symbolic links' });
    expect(await failure(resolveRootedPath(files, '/etc/passwd/x', { followLast: false }))).toEqual({ kind: 'InvalidArgument', message: 'path /etc/passwd/x: /etc/passwd is not a directory' });
  });

  it("states a link with its target resolved in the container, and tars a directory under the name asked", async () => {
    const stat = await statRootedPath(files, '/data/climb');
    expect(stat).toMatchObject({ name: 'climb', linkTarget: '/etc/passwd' });
    expect(stat.mode & 0o170000).toBe(0o120000);
    const tar = await entriesOf(tarRootedPath(files, '/data', 'data'));
    expect(tar.map((e) => `${e.name} ${e.type}${e.linkname ? ` ${e.linkname}` : ''}`)).toEqual([
      'data/ directory',
      'data/climb symlink ../../../../etc/passwd',
      'data/rel symlink sub',
      'data/sub/ directory',
      'data/sub/file file',
    ]);
  });
});

describe('a tar extracted into a container directory', () => {
  let dir: ReturnType<typeof tempDir>;
  let root: string;
  let files: HostPathOf;
  const end = new Uint8Array(1024);

  beforeAll(() => {
    dir = tempDir('strata-container-extract-');
    root = join(dir.path, 'rootfs');
    mkdirSync(join(root, 'etc'), { recursive: true });
    mkdirSync(join(root, 'dest/keep'), { recursive: true });
    mkdirSync(join(root, 'ro'), { recursive: true });
    mkdirSync(join(dir.path, 'node-etc'), { recursive: true });
    writeFileSync(join(root, 'dest/file'), 'old\n');
    symlinkSync('/etc', join(root, 'dest/etc-link'));
    symlinkSync(join(dir.path, 'node-etc'), join(root, 'dest/node-link'));
    files = stoppedContainerFiles(root, []);
  });
  afterAll(() => dir?.remove());

  const extract = (tar: Uint8Array, options: Partial<ExtractOptions> = {}) =>
    extractIntoRoot(files, '/dest', (async function* () {
      yield tar;
    })(), { noOverwriteDirNonDir: true, owner: { uid: 0, gid: 0 }, ...options });
  const failure = (p: Promise<unknown>) =>
    p.then(
      () => undefined,
      (err: unknown) => ({ kind: errorKind(err), message: (err as Error).message }),
    );

  it('writes files, directories, links and hard links, owned by root unless asked to keep the owners', async () => {
    const tar = await tarBytes([
      { entry: { name: 'made/', type: 'directory', mode: 0o750, uid: 1000, gid: 1000 } },
      { entry: { name: 'made/a', type: 'file', mode: 0o640, uid: 1000, gid: 1000, mtime: 1_700_000_000 }, data: Buffer.from('a\n') },
      { entry: { name: 'made/hard', type: 'hardlink', linkname: 'made/a' } },
      { entry: { name: 'made/sym', type: 'symlink', linkname: '../file' } },
      { entry: { name: 'deep/er/b', type: 'file' }, data: Buffer.from('b\n') },
    ]);
    expect(await extract(tar)).toBe(5);
    expect(readFileSync(join(root, 'dest/made/a'), 'utf8')).toBe('a\n');
    expect(statSync(join(root, 'dest/made/a'))).toMatchObject({ uid: 0, gid: 0, mode: 0o100640, nlink: 2 });
    expect(statSync(join(root, 'dest/made/a')).mtimeMs).toBe(1_700_000_000_000);
    expect(statSync(join(root, 'dest/made')).mode & 0o7777).toBe(0o750);
    expect(readlinkSync(join(root, 'dest/made/sym'))).toBe('../file');
    expect(readFileSync(join(root, 'dest/deep/er/b'), 'utf8')).toBe('b\n');
    await extract(await tarBytes([{ entry: { name: 'kept', type: 'file', uid: 1234, gid: 5678 }, data: Buffer.from('k') }]), { owner: undefined });
    expect(statSync(join(root, 'dest/kept'))).toMatchObject({ uid: 1234, gid: 5678 });
  });

  it("follows links inside the container only: an absolute link in the container or the archive leads into the container's root", async () => {
    const tar = await tarBytes([
      { entry: { name: 'etc-link/from-archive', type: 'file' }, data: Buffer.from('x') },
      { entry: { name: 'evil', type: 'symlink', linkname: '/' } },
      { entry: { name: 'evil/through-archive-link', type: 'file' }, data: Buffer.from('y') },
    ]);
    await extract(tar);
    expect(readFileSync(join(root, 'etc/from-archive'), 'utf8')).toBe('x');
    expect(readFileSync(join(root, 'through-archive-link'), 'utf8')).toBe('y');
    // A link to a directory of the node is a path inside the container: made there, never on the node.
    const escape = await tarBytes([{ entry: { name: 'node-link/escaped', type: 'file' }, data: Buffer.from('x') }]);
    await extract(escape);
    expect(existsSync(join(dir.path, 'node-etc/escaped'))).toBe(false);
    expect(readFileSync(join(root, dir.path, 'node-etc/escaped'), 'utf8')).toBe('x');
  });

  it('refuses an entry that climbs out, a device, and a directory and a file in each other\'s way', async () => {
    const climb = Buffer.concat([rawEntry({ name: '../../outside' }, Buffer.from('x')), end]);
    expect(await failure(extract(climb))).toEqual({ kind: 'InvalidArgument', message: 'archive entry "../../outside" is refused: it climbs out of the destination with ..' });
    const device = await tarBytes([{ entry: { name: 'null', type: 'char-device', devmajor: 1, devminor: 3 } }]);
    expect(await failure(extract(device))).toEqual({ kind: 'InvalidArgument', message: 'archive entry "null" is a device (char-device): devices are not copied' });
    const overDir = await tarBytes([{ entry: { name: 'keep', type: 'file' }, data: Buffer.from('x') }]);
    expect(await failure(extract(overDir))).toEqual({ kind: 'FailedPrecondition', message: 'cannot overwrite directory "/dest/keep" with non-directory "keep"' });
    const overFile = await tarBytes([{ entry: { name: 'file/', type: 'directory' } }]);
    expect(await failure(extract(overFile))).toEqual({ kind: 'FailedPrecondition', message: 'cannot overwrite non-directory "/dest/file" with directory "file/"' });
    await extract(overDir, { noOverwriteDirNonDir: false });
    expect(readFileSync(join(root, 'dest/keep'), 'utf8')).toBe('x');
    expect(await failure(extract(overFile, { writable: (p) => !p.startsWith('/dest') }))).toEqual({ kind: 'FailedPrecondition', message: 'container rootfs is marked read-only' });
  });
});
