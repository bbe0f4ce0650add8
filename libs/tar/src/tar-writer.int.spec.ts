import { lstatSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDir } from '@strata/kit/testing';
import { deviceNumbers } from './tar-directory.js';
import { encodeEntryHeaders, tarBytes, type TarItem } from './tar-writer.js';
import { gnuTar } from './testing/gnu-tar.js';
import { NET_BIND_SERVICE_CAPABILITY } from './testing/hostile-tar.js';

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

function scratch(): string {
  const dir = tempDir('strata-tar-');
  cleanups.push(dir.remove);
  return dir.path;
}

async function listing(archive: Uint8Array, ...flags: string[]): Promise<string[]> {
  const result = await gnuTar(['-tvf', '-', '--numeric-owner', '--full-time', ...flags], archive);
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  return result.stdout.trimEnd().split('\n');
}

const MTIME = 1_700_000_000;
const everyType: TarItem[] = [
  { entry: { name: 'dir', type: 'directory', mode: 0o750, uid: 1000, gid: 100, mtime: MTIME } },
  { entry: { name: 'dir/file', type: 'file', mode: 0o4755, uid: 1000, gid: 100, mtime: MTIME }, data: Buffer.from('content\n') },
  { entry: { name: 'dir/link', type: 'symlink', linkname: '../elsewhere/target', mtime: MTIME } },
  { entry: { name: 'dir/hard', type: 'hardlink', linkname: 'dir/file', mtime: MTIME } },
  { entry: { name: 'dir/whiteout', type: 'char-device', devmajor: 0, devminor: 0, mode: 0, mtime: MTIME } },
  { entry: { name: 'dir/null', type: 'char-device', devmajor: 1, devminor: 3, mode: 0o666, mtime: MTIME } },
  { entry: { name: 'dir/loop', type: 'block-device', devmajor: 7, devminor: 300, mode: 0o660, mtime: MTIME } },
  { entry: { name: 'dir/pipe', type: 'fifo', mode: 0o600, mtime: MTIME } },
];

describe('tar writer read by GNU tar', () => {
  it('writes every entry type so that GNU tar lists and extracts it as written', async () => {
    const archive = await tarBytes(everyType);
    const time = '2023-11-14 22:13:20';
    expect(await listing(archive)).toEqual([
      `drwxr-x--- 1000/100          0 ${time} dir/`,
      `-rwsr-xr-x 1000/100          8 ${time} dir/file`,
      `lrwxrwxrwx 0/0               0 ${time} dir/link -> ../elsewhere/target`,
      `hrw-r--r-- 0/0               0 ${time} dir/hard link to dir/file`,
      `c--------- 0/0             0,0 ${time} dir/whiteout`,
      `crw-rw-rw- 0/0             1,3 ${time} dir/null`,
      `brw-rw---- 0/0           7,300 ${time} dir/loop`,
      `prw------- 0/0               0 ${time} dir/pipe`,
    ]);

    const out = scratch();
    const extracted = await gnuTar(['-xpf', '-', '-C', out], archive);
    expect(extracted.stderr).toBe('');
    const at = (name: string) => lstatSync(join(out, name), { bigint: true });
    expect(at('dir').isDirectory()).toBe(true);
    expect(at('dir').mode & 0o7777n).toBe(0o750n);
    expect([at('dir').uid, at('dir').gid, at('dir').mtimeMs]).toEqual([1000n, 100n, BigInt(MTIME) * 1000n]);
    expect(readFileSync(join(out, 'dir/file'), 'utf8')).toBe('content\n');
    expect(at('dir/file').mode & 0o7777n).toBe(0o4755n);
    expect(readlinkSync(join(out, 'dir/link'))).toBe('../elsewhere/target');
    expect(at('dir/hard').ino).toBe(at('dir/file').ino);
    expect(at('dir/whiteout').isCharacterDevice()).toBe(true);
    expect(deviceNumbers(at('dir/whiteout').rdev)).toEqual({ major: 0, minor: 0 });
    expect(deviceNumbers(at('dir/null').rdev)).toEqual({ major: 1, minor: 3 });
    expect(at('dir/loop').isBlockDevice()).toBe(true);
    expect(deviceNumbers(at('dir/loop').rdev)).toEqual({ major: 7, minor: 300 });
    expect(at('dir/pipe').isFIFO()).toBe(true);
  });

  it('round-trips long names, split names, long link targets and non-ASCII names', async () => {
    const names = [
      'n'.repeat(100),
      `${'p'.repeat(150)}/${'n'.repeat(99)}`,
      `${'p'.repeat(10)}/${'n'.repeat(200)}`,
      `${'deep/'.repeat(80)}leaf`,
      'ünïcødé/名前.txt',
    ];
    const longTarget = `${'t'.repeat(120)}/target`;
    const archive = await tarBytes([
      ...names.map((name): TarItem => ({ entry: { name, type: 'file' }, data: Buffer.from(name) })),
      { entry: { name: 'sym', type: 'symlink', linkname: longTarget } },
      { entry: { name: 'hard', type: 'hardlink', linkname: names[2]! } },
    ]);
    const plain = await gnuTar(['-tf', '-'], archive);
    expect(plain.stdout.trimEnd().split('\n')).toEqual([...names, 'sym', 'hard']);
    const verbose = await listing(archive);
    expect(verbose[names.length]).toMatch(new RegExp(` sym -> ${longTarget}$`));
    expect(verbose[names.length + 1]).toMatch(new RegExp(` hard link to ${names[2]!}$`));

    const out = scratch();
    const extracted = await gnuTar(['-xf', '-', '-C', out], archive);
    expect(extracted.stderr).toBe('');
    for (const name of names.slice(1)) expect(readFileSync(join(out, name), 'utf8')).toBe(name);
    expect(readlinkSync(join(out, 'sym'))).toBe(longTarget);
    expect(lstatSync(join(out, 'hard')).ino).toBe(lstatSync(join(out, names[2]!)).ino);
  });

  it('writes sizes, ids, names and times beyond ustar as PAX records GNU tar honours', async () => {
    const archive = await tarBytes([
      { entry: { name: 'ids', type: 'file', uid: 3_000_000, gid: 4_000_000, uname: 'u'.repeat(40), mtime: -86_400 } },
      { entry: { name: 'fraction', type: 'file', mtime: MTIME + 0.25 } },
    ]);
    const lines = await listing(archive);
    expect(lines[0]).toBe('-rw-r--r-- 3000000/4000000   0 1969-12-31 00:00:00 ids');
    expect(lines[1]).toBe('-rw-r--r-- 0/0               0 2023-11-14 22:13:20.25 fraction');
    const named = await gnuTar(['-tvf', '-'], archive);
    expect(named.stdout).toContain(`${'u'.repeat(40)}/4000000`);
  });

  it('declares sizes over 8 GiB in a PAX size record', async () => {
    const huge = 2 ** 33 + 5;
    const truncated = encodeEntryHeaders({ name: 'huge', type: 'file' }, huge);
    const result = await gnuTar(['-tvf', '-', '--numeric-owner'], truncated);
    expect(result.stdout).toMatch(new RegExp(`^-rw-r--r-- 0/0\\s+${huge} .* huge\\n$`));
    expect(result.stderr).toContain('Unexpected EOF in archive');
  });

  it('writes xattrs as SCHILY records that GNU tar lists and restores', async () => {
    const archive = await tarBytes([
      { entry: { name: 'ping', type: 'file', mode: 0o755, xattrs: { 'security.capability': NET_BIND_SERVICE_CAPABILITY, 'user.note': 'kept' } }, data: Buffer.from('x') },
      { entry: { name: 'opaque', type: 'directory', xattrs: { 'trusted.overlay.opaque': 'y' } } },
    ]);
    expect(await listing(archive, '-v', '--xattrs', '--xattrs-include=*')).toEqual([
      '-rwxr-xr-x* 0/0               1 1970-01-01 00:00:00 ping',
      '  x: 20 security.capability',
      '  x: 4 user.note',
      'drwxr-xr-x* 0/0               0 1970-01-01 00:00:00 opaque/',
      '  x: 1 trusted.overlay.opaque',
    ]);
    const out = scratch();
    const extracted = await gnuTar(['--xattrs', '--xattrs-include=*', '-xf', '-', '-C', out], archive);
    expect(extracted.stderr).toBe('');
    expect(extracted.code).toBe(0);
    const again = join(scratch(), 'again.tar');
    expect((await gnuTar(['--xattrs', '--xattrs-include=*', '-cf', again, '-C', out, 'ping', 'opaque'])).code).toBe(0);
    const relisted = await listing(readFileSync(again), '-v', '--xattrs', '--xattrs-include=*');
    expect(relisted.filter((l) => l.startsWith('  x:')).sort()).toEqual(['  x: 1 trusted.overlay.opaque', '  x: 20 security.capability', '  x: 4 user.note']);
  });
});
