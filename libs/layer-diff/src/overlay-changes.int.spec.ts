import { chmodSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDir } from '@strata/kit/testing';
import { makeWhiteoutDevice, setXattr } from './fs-tools.js';
import { overlayChanges } from './overlay-changes.js';

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
});

/** Directories upper, lower0 (nearest) and lower1 under a fresh temporary directory. */
function layers(): { upper: string; lower0: string; lower1: string } {
  const base = tempDir('strata-changes-');
  cleanups.push(base.remove);
  const [upper, lower0, lower1] = ['upper', 'lower0', 'lower1'].map((n) => join(base.path, n)) as [string, string, string];
  for (const d of [upper, lower0, lower1]) mkdirSync(d);
  return { upper, lower0, lower1 };
}

/** Writes files (a path ending in / is a directory) under root. */
function tree(root: string, paths: readonly string[]): void {
  for (const p of paths) {
    if (p.endsWith('/')) mkdirSync(join(root, p), { recursive: true });
    else writeFileSync(join(root, p), p);
  }
}

describe('overlayChanges', () => {
  it('lists added, changed and deleted paths against the merged image layers, in path order', async () => {
    const { upper, lower0, lower1 } = layers();
    tree(lower1, ['etc/', 'etc/passwd', 'etc/group', 'bin/', 'bin/sh', 'old/', 'old/a']);
    tree(lower0, ['etc/', 'etc/hosts', 'tmp/']);
    // The nearest layer deleted /old: the upper's /old is new again.
    makeWhiteoutDevice(join(lower0, 'old'));
    tree(upper, ['etc/', 'etc/passwd', 'etc/new.conf', 'root/', 'root/.ash_history', 'old/', 'old/b']);
    makeWhiteoutDevice(join(upper, 'etc', 'group'));
    makeWhiteoutDevice(join(upper, 'tmp'));

    expect(await overlayChanges(upper, [lower0, lower1])).toEqual([
      { kind: 'C', path: '/etc' },
      { kind: 'D', path: '/etc/group' },
      { kind: 'A', path: '/etc/new.conf' },
      { kind: 'C', path: '/etc/passwd' },
      { kind: 'A', path: '/old' },
      { kind: 'A', path: '/old/b' },
      { kind: 'A', path: '/root' },
      { kind: 'A', path: '/root/.ash_history' },
      { kind: 'D', path: '/tmp' },
    ]);
  });

  it('deletes the image entries of an opaque directory that it does not have again', async () => {
    const { upper, lower0, lower1 } = layers();
    tree(lower1, ['var/', 'var/cache/', 'var/cache/x', 'var/cache/y', 'var/cache/z']);
    tree(lower0, ['var/', 'var/cache/']);
    makeWhiteoutDevice(join(lower0, 'var', 'cache', 'z'));
    tree(upper, ['var/', 'var/cache/', 'var/cache/y', 'var/cache/new']);
    setXattr(join(upper, 'var', 'cache'), 'trusted.overlay.opaque', Buffer.from('y'));

    expect(await overlayChanges(upper, [lower0, lower1])).toEqual([
      { kind: 'C', path: '/var' },
      { kind: 'C', path: '/var/cache' },
      { kind: 'A', path: '/var/cache/new' },
      { kind: 'D', path: '/var/cache/x' },
      { kind: 'C', path: '/var/cache/y' },
    ]);
  });

  it('follows no symbolic link of a layer out of it: a path under a link in the image is not in the image', async () => {
    const { upper, lower0 } = layers();
    // The image's /data points at the host's /etc; the container replaced it with a directory holding passwd.
    symlinkSync('/etc', join(lower0, 'data'));
    tree(upper, ['data/', 'data/passwd']);
    expect(await overlayChanges(upper, [lower0])).toEqual([
      { kind: 'C', path: '/data' },
      { kind: 'A', path: '/data/passwd' },
    ]);
  });

  it('lists everything as added for a snapshot without parent', async () => {
    const { upper } = layers();
    tree(upper, ['a', 'd/', 'd/b']);
    expect(await overlayChanges(upper, [])).toEqual([
      { kind: 'A', path: '/a' },
      { kind: 'A', path: '/d' },
      { kind: 'A', path: '/d/b' },
    ]);
  });
});

describe('overlayChanges with the mount points of the runtime', () => {
  it("leaves out the empty mount points runc made and the directories that changed only by them, as Docker's init layer does", async () => {
    const { upper, lower0 } = layers();
    tree(lower0, ['etc/', 'etc/passwd', 'tmp/']);
    // runc made /etc/hostname and /etc/hosts (the image has neither), /proc and /data/sub (a volume) with its parent.
    tree(upper, ['etc/', 'proc/', 'data/', 'data/sub/', 'tmp/', 'tmp/x']);
    writeFileSync(join(upper, 'etc', 'hostname'), '');
    writeFileSync(join(upper, 'etc', 'hosts'), '');
    const mountPoints = ['/proc', '/etc/hostname', '/etc/hosts', '/etc/resolv.conf', '/data/sub'];
    expect(await overlayChanges(upper, [lower0], { mountPoints })).toEqual([
      { kind: 'C', path: '/tmp' },
      { kind: 'A', path: '/tmp/x' },
    ]);
  });

  it('keeps a mount point the image has, one the container wrote into, and a directory whose mode changed', async () => {
    const { upper, lower0 } = layers();
    tree(lower0, ['etc/', 'etc/hosts', 'srv/']);
    tree(upper, ['etc/', 'etc/hosts', 'srv/']);
    writeFileSync(join(upper, 'etc', 'hostname'), 'written before the mount');
    writeFileSync(join(upper, 'srv', 'data'), '');
    chmodSync(join(upper, 'srv'), 0o700);
    expect(await overlayChanges(upper, [lower0], { mountPoints: ['/etc/hosts', '/etc/hostname', '/srv/data'] })).toEqual([
      { kind: 'C', path: '/etc' },
      { kind: 'A', path: '/etc/hostname' },
      { kind: 'C', path: '/etc/hosts' },
      { kind: 'C', path: '/srv' },
    ]);
  });
});
