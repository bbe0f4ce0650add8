import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '@strata/kit/testing';
import { gnuTar } from '@strata/tar/testing';
import { buildImage, type BuiltImage } from './image.js';
import { BUSYBOX_APPLETS, BUSYBOX_PASSWD, DEBIAN_BUSYBOX, MULTI_LAYER_VIEW, busyboxImage, linksImage, multiLayerImage } from './fixtures.js';

const scratch = tempDir('strata-fixtures-');
afterAll(() => scratch.remove());
let dirs = 0;
const freshDir = (): string => {
  const dir = join(scratch.path, String(++dirs));
  mkdirSync(dir);
  return dir;
};

/**
 * A reference applier for the tests: OCI whiteouts of a layer delete from
 * what the layers below left, a non-directory replaces a directory, then GNU
 * tar extracts the rest of the layer.
 */
async function applyLayers(image: BuiltImage, root: string): Promise<void> {
  for (const layer of image.layers) {
    const listed = await gnuTar(['-tf', '-'], layer.tar);
    expect(listed.code).toBe(0);
    for (const name of listed.stdout.trimEnd().split('\n')) {
      const base = basename(name);
      const parent = join(root, dirname(name));
      if (base === '.wh..wh..opq') {
        for (const child of readdirSync(parent)) rmSync(join(parent, child), { recursive: true, force: true });
      } else if (base.startsWith('.wh.')) {
        rmSync(join(parent, base.slice('.wh.'.length)), { recursive: true, force: true });
      } else if (!name.endsWith('/') && lstatSync(join(root, name), { throwIfNoEntry: false })?.isDirectory() === true) {
        rmSync(join(root, name), { recursive: true });
      }
    }
    const extracted = await gnuTar(['-xpf', '-', '-C', root, '--exclude=.wh.*'], layer.tar);
    expect(extracted.stderr).toBe('');
  }
}

describe('busyboxImage', () => {
  it('links applets the Debian binary has, and runs in a chroot as a root file system', async () => {
    const applets = execFileSync(DEBIAN_BUSYBOX, ['--list'], { encoding: 'utf8' }).split('\n');
    expect(BUSYBOX_APPLETS.filter((a) => !applets.includes(a))).toEqual([]);

    const image = await busyboxImage();
    expect(image.configDocument.config?.Cmd).toEqual(['sh']);
    const root = freshDir();
    await applyLayers(image, root);
    expect(Buffer.compare(readFileSync(join(root, 'bin/busybox')), readFileSync(DEBIAN_BUSYBOX))).toBe(0);
    expect(statSync(join(root, 'bin/busybox')).mode & 0o777).toBe(0o755);
    expect(readlinkSync(join(root, 'bin/sh'))).toBe('busybox');
    expect(readFileSync(join(root, 'etc/passwd'), 'utf8')).toBe(BUSYBOX_PASSWD);
    expect(statSync(join(root, 'tmp')).mode & 0o7777).toBe(0o1777);
    expect(statSync(join(root, 'root')).mode & 0o7777).toBe(0o700);
    const out = execFileSync('chroot', [root, '/bin/sh', '-c', 'echo hello from $(id -un); ls /bin | wc -l'], { encoding: 'utf8' });
    expect(out).toBe(`hello from root\n${BUSYBOX_APPLETS.length + 1}\n`);
  });
});

describe('multiLayerImage', () => {
  it('shows MULTI_LAYER_VIEW once its layers are applied in order', async () => {
    const image = await multiLayerImage();
    const root = freshDir();
    await applyLayers(image, root);
    for (const [path, content] of Object.entries(MULTI_LAYER_VIEW.files)) expect(readFileSync(join(root, path), 'utf8'), path).toBe(content);
    for (const path of MULTI_LAYER_VIEW.dirs) expect(statSync(join(root, path)).isDirectory(), path).toBe(true);
    for (const path of MULTI_LAYER_VIEW.absent) expect(existsSync(join(root, path)), path).toBe(false);
    const listing = await gnuTar(['-tf', '-'], image.layers[1]!.tar);
    expect(listing.stdout.trimEnd().split('\n')).toEqual([
      'etc/',
      'etc/.wh.gone',
      'etc/.wh.recreated',
      'data/',
      'data/.wh.old',
      'data/new',
      'opaque/',
      'opaque/.wh..wh..opq',
      'opaque/upper',
      'replaced',
    ]);
  });
});

describe('linksImage', () => {
  it('carries hardlinks, relative, absolute, directory and dangling symlinks', async () => {
    const root = freshDir();
    await applyLayers(await linksImage(), root);
    const tool = lstatSync(join(root, 'usr/bin/tool'));
    expect(lstatSync(join(root, 'bin/tool-hardlink')).ino).toBe(tool.ino);
    expect(lstatSync(join(root, 'usr/bin/tool-alias')).ino).toBe(tool.ino);
    expect(tool.nlink).toBe(3);
    expect(readlinkSync(join(root, 'bin/tool-relative'))).toBe('../usr/bin/tool');
    expect(readFileSync(join(root, 'bin/tool-relative'), 'utf8')).toBe('#!/bin/sh\necho tool\n');
    expect(readlinkSync(join(root, 'bin/tool-absolute'))).toBe('/usr/bin/tool');
    expect(readFileSync(join(root, 'lib/libx.so'), 'utf8')).toBe('library\n');
    expect(readlinkSync(join(root, 'dangling'))).toBe('/does/not/exist');
  });
});

describe('buildImage from a directory', () => {
  it('takes the tree in sorted order with every mtime set to the image time', async () => {
    const source = freshDir();
    mkdirSync(join(source, 'b/c'), { recursive: true });
    writeFileSync(join(source, 'b/c/file'), 'from disk\n');
    writeFileSync(join(source, 'a'), 'first\n');
    const image = await buildImage({ layers: [{ directory: source }] });
    const listing = await gnuTar(['-tvf', '-', '--full-time'], image.layers[0]!.tar);
    const lines = listing.stdout.trimEnd().split('\n');
    expect(lines.map((l) => l.slice(l.lastIndexOf(' ') + 1))).toEqual(['a', 'b/', 'b/c/', 'b/c/file']);
    expect(lines.every((l) => l.includes(' 2024-01-01 00:00:00 '))).toBe(true);
    const again = await buildImage({ layers: [{ directory: source }] });
    expect(again.manifest.digest).toBe(image.manifest.digest);
  });
});
