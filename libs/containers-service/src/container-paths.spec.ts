import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorKind } from '@strata/kit';
import { tempDir } from '@strata/kit/testing';
import { readTar } from '@strata/layer-diff';
import { containerPathTar, resolveContainerPath, statContainerPath, stoppedContainerFiles, type HostPathOf } from './container-paths.js';

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
    expect(await resolveContainerPath(files, path, { followLast })).toBe(expected);
  });

  it("never reads the node's files through a link", async () => {
    expect(await failure(resolveContainerPath(files, '/to-host/etc/passwd', { followLast: true }))).toMatchObject({ kind: 'NotFound' });
    const tar = await entriesOf(containerPathTar(files, await resolveContainerPath(files, '/abs-etc/passwd', { followLast: false }), 'passwd'));
    expect(tar.map((e) => [e.name, e.data])).toEqual([['passwd', 'root:x:0:0::/root:/bin/sh\n']]);
  });

  it('reads binds (volumes, /etc/hosts) over the root file system', async () => {
    expect(await resolveContainerPath(files, '/vol/in-volume', { followLast: false })).toBe('/vol/in-volume');
    expect((await statContainerPath(files, '/vol/in-volume')).size).toBe(7);
    expect((await statContainerPath(files, '/etc/hosts')).size).toBe(20);
  });

  it('refuses a missing path, a link loop and a file used as a directory', async () => {
    expect(await failure(resolveContainerPath(files, '/nope/x', { followLast: false }))).toEqual({ kind: 'NotFound', message: 'no such file or directory: /nope' });
    expect(await failure(resolveContainerPath(files, '/loop-a', { followLast: true }))).toEqual({ kind: 'FailedPrecondition', message: 'too many levels of symbolic links in /loop-a' });
    expect(await failure(resolveContainerPath(files, '/etc/passwd/x', { followLast: false }))).toEqual({ kind: 'FailedPrecondition', message: 'not a directory: /etc/passwd' });
  });

  it("states a link with its target resolved in the container, and tars a directory under the name asked", async () => {
    const stat = await statContainerPath(files, '/data/climb');
    expect(stat).toMatchObject({ name: 'climb', linkTarget: '/etc/passwd' });
    expect(stat.mode & 0o170000).toBe(0o120000);
    const tar = await entriesOf(containerPathTar(files, '/data', 'data'));
    expect(tar.map((e) => `${e.name} ${e.type}${e.linkname ? ` ${e.linkname}` : ''}`)).toEqual([
      'data/ directory',
      'data/climb symlink ../../../../etc/passwd',
      'data/rel symlink sub',
      'data/sub/ directory',
      'data/sub/file file',
    ]);
  });
});
