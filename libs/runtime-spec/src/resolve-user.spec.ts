import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { errorKind } from '@strata/kit';
import { tempDir } from '@strata/kit/testing';
import { parsePasswd, resolveUser, resolveUserFromFiles } from './resolve-user.js';

const PASSWD = [
  'root:x:0:0:root:/root:/bin/sh',
  '# a comment',
  'daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin',
  'www:x:33:33:www:/var/www:/bin/false',
  'broken:x:notanumber:1::/x:/bin/sh',
  'short:x:5',
  '+nis',
  'nobody:x:65534:65534:nobody:/home:/bin/false',
  'nohome:x:700:700:::/bin/sh',
].join('\n');
const GROUP = ['root:x:0:', 'daemon:x:1:www', 'web:x:44:www,daemon', 'staff:x:50:', 'nogroup:x:65534:', 'www:x:33:'].join('\n');

describe('resolveUserFromFiles', () => {
  it.each([
    ['', { uid: 0, gid: 0, additionalGids: [], home: '/root' }],
    ['root', { uid: 0, gid: 0, additionalGids: [], home: '/root' }],
    ['0', { uid: 0, gid: 0, additionalGids: [], home: '/root' }],
    ['www', { uid: 33, gid: 33, additionalGids: [1, 44], home: '/var/www' }],
    ['33', { uid: 33, gid: 33, additionalGids: [1, 44], home: '/var/www' }],
    ['nobody', { uid: 65534, gid: 65534, additionalGids: [], home: '/home' }],
    ['www:staff', { uid: 33, gid: 50, additionalGids: [], home: '/var/www' }],
    ['www:50', { uid: 33, gid: 50, additionalGids: [], home: '/var/www' }],
    ['33:9999', { uid: 33, gid: 9999, additionalGids: [], home: '/var/www' }],
    ['4242', { uid: 4242, gid: 0, additionalGids: [], home: '/' }],
    ['4242:4343', { uid: 4242, gid: 4343, additionalGids: [], home: '/' }],
    ['nohome', { uid: 700, gid: 700, additionalGids: [], home: '/' }],
    ['2147483647', { uid: 2147483647, gid: 0, additionalGids: [], home: '/' }],
  ])('resolves %j', (spec, expected) => {
    expect(resolveUserFromFiles(spec, PASSWD, GROUP)).toEqual(expected);
  });

  it('allows numeric ids without passwd or group files', () => {
    expect(resolveUserFromFiles('1000:1000', undefined, undefined)).toEqual({ uid: 1000, gid: 1000, additionalGids: [], home: '/' });
    expect(resolveUserFromFiles('', undefined, undefined)).toEqual({ uid: 0, gid: 0, additionalGids: [], home: '/' });
  });

  it.each([
    ['alice', 'unable to find user alice: no matching entries in the image\'s /etc/passwd'],
    ['www:nosuch', 'unable to find group nosuch: no matching entries in the image\'s /etc/group'],
    ['broken', 'unable to find user broken: no matching entries in the image\'s /etc/passwd'],
    ['a:b:c', 'invalid user "a:b:c": use name, uid, name:group or uid:gid'],
    [':0', 'invalid user ":0": use name, uid, name:group or uid:gid'],
    ['www:', 'invalid user "www:": use name, uid, name:group or uid:gid'],
    ['2147483648', 'invalid user "2147483648": uids must be in range 0-2147483647'],
    ['1:99999999999', 'invalid user "1:99999999999": gids must be in range 0-2147483647'],
  ])('refuses %j', (spec, message) => {
    let caught: unknown;
    try {
      resolveUserFromFiles(spec, PASSWD, GROUP);
    } catch (err) {
      caught = err;
    }
    expect(errorKind(caught)).toBe('InvalidArgument');
    expect((caught as Error).message).toBe(message);
  });

  it('skips malformed passwd lines', () => {
    expect(parsePasswd(PASSWD).map((e) => e.name)).toEqual(['root', 'daemon', 'www', 'nobody', 'nohome']);
  });
});

describe('resolveUser (reading a hostile root file system)', () => {
  let dir: ReturnType<typeof tempDir>;
  let root: string;
  beforeEach(() => {
    dir = tempDir('strata-rs-user-');
    root = join(dir.path, 'rootfs');
    mkdirSync(join(root, 'etc'), { recursive: true });
    mkdirSync(join(dir.path, 'host/etc'), { recursive: true });
    writeFileSync(join(dir.path, 'host/etc/passwd'), 'evil:x:4444:4444::/evil:/bin/sh\n');
  });
  afterEach(() => dir.remove());

  it('reads /etc/passwd and /etc/group of the root', async () => {
    writeFileSync(join(root, 'etc/passwd'), PASSWD);
    writeFileSync(join(root, 'etc/group'), GROUP);
    expect(await resolveUser(root, 'www')).toEqual({ uid: 33, gid: 33, additionalGids: [1, 44], home: '/var/www' });
  });

  it.each([
    ['an absolute symlink', '/../../host/etc/passwd'],
    ['a relative symlink', '../../host/etc/passwd'],
    ['a symlink to the host path', 'HOST'],
  ])('never follows %s out of the root', async (_what, target) => {
    symlinkSync(target === 'HOST' ? join(dir.path, 'host/etc/passwd') : target, join(root, 'etc/passwd'));
    await expect(resolveUser(root, 'evil')).rejects.toThrow("unable to find user evil: no matching entries in the image's /etc/passwd");
  });

  it('follows a symlink that stays inside the root (chroot semantics)', async () => {
    mkdirSync(join(root, 'data'));
    writeFileSync(join(root, 'data/passwd'), 'app:x:1500:1600::/app:/bin/sh\n');
    symlinkSync('/data/passwd', join(root, 'etc/passwd'));
    expect(await resolveUser(root, 'app')).toEqual({ uid: 1500, gid: 1600, additionalGids: [], home: '/app' });
  });

  it('resolves a symlinked /etc directory inside the root', async () => {
    execFileSync('rm', ['-r', join(root, 'etc')]);
    mkdirSync(join(root, 'private/etc'), { recursive: true });
    writeFileSync(join(root, 'private/etc/passwd'), 'app:x:1500:1600::/app:/bin/sh\n');
    symlinkSync('../../../private/etc', join(root, 'etc'));
    expect((await resolveUser(root, 'app')).uid).toBe(1500);
  });

  it.each([
    ['larger than 1 MiB', () => writeFileSync(join(root, 'etc/passwd'), Buffer.alloc((1 << 20) + 1, 0x61)), "the image's /etc/passwd is larger than 1048576 bytes"],
    ['a FIFO', () => execFileSync('mkfifo', [join(root, 'etc/passwd')]), "the image's /etc/passwd is not a regular file"],
    ['a directory', () => mkdirSync(join(root, 'etc/passwd')), "the image's /etc/passwd is not a regular file"],
    ['a device node', () => execFileSync('mknod', [join(root, 'etc/passwd'), 'c', '1', '5']), "the image's /etc/passwd is not a regular file"],
    ['a symlink to a host device', () => symlinkSync('/dev/zero', join(root, 'etc/passwd')), undefined],
    ['a symlink loop', () => symlinkSync('passwd', join(root, 'etc/passwd')), "the image's /etc/passwd: too many levels of symbolic links"],
  ])('refuses a passwd that is %s', async (_what, make, message) => {
    make();
    if (message === undefined) {
      // /dev/zero resolves inside the root, where it does not exist: the file is absent, so names do not resolve.
      await expect(resolveUser(root, 'root')).rejects.toThrow("unable to find user root: no matching entries in the image's /etc/passwd");
      return;
    }
    let caught: unknown;
    try {
      await resolveUser(root, 'root');
    } catch (err) {
      caught = err;
    }
    expect(errorKind(caught)).toBe('InvalidArgument');
    expect((caught as Error).message).toBe(message);
  });
});
