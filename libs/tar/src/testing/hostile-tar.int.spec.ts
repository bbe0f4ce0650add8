import { describe, expect, it } from 'vitest';
import { errorKind } from '@strata/kit';
import { gunzip } from '../gzip.js';
import { BLOCK_SIZE } from '../tar-header.js';
import { gnuTar } from './gnu-tar.js';
import { gzipBombLayer, hostileTarCases, type HostileAttack, type HostileTarCase } from './hostile-tar.js';

const rootDir = '/srv/strata-hostile/root';
const outsideDir = '/srv/strata-hostile/outside';
const cases = await hostileTarCases({ rootDir, outsideDir, bombEntries: 1000 });
const byId = new Map(cases.map((c) => [c.id, c]));
const get = (id: string): HostileTarCase => byId.get(id) ?? expect.fail(`no hostile case ${id}`);

describe('hostileTarCases', () => {
  it('has unique ids and at least one case of every attack class', () => {
    expect(byId.size).toBe(cases.length);
    const classes: HostileAttack[] = [
      'path-traversal',
      'absolute-name',
      'nul-in-name',
      'symlink-write-through',
      'hardlink-escape',
      'device-node',
      'xattr',
      'bomb',
      'duplicate-entry',
      'whiteout-abuse',
      'header-override',
      'malformed-header',
      'trailing-data',
    ];
    expect([...new Set(cases.map((c) => c.attack))].sort()).toEqual([...classes].sort());
    for (const c of cases) {
      expect(c.layers.length, c.id).toBeGreaterThan(0);
      expect(c.description, c.id).not.toBe('');
    }
  });

  it.each([
    ['dotdot-name', ['../outside/escaped']],
    ['dotdot-inside-name', ['a/', 'a/../../outside/escaped']],
    ['absolute-name', [`${outsideDir}/escaped`]],
    ['nul-in-ustar-name', ['safe']],
    ['symlink-then-write-through', ['link', 'link/escaped']],
    ['symlink-replaced-by-directory', ['etc', 'etc/', 'etc/escaped']],
    ['hardlink-through-symlink', ['out', 'stolen']],
    ['pax-path-override', ['../outside/escaped']],
    ['gnu-longname-override', ['../outside/escaped']],
    ['pax-size-smuggling', ['carrier', '../outside/escaped']],
    ['duplicate-entries', ['dup', 'dup']],
    ['whiteout-dot', ['sub/', 'sub/victim', 'sub/.wh..']],
    ['trailing-data', ['ok']],
  ])('%s reads in GNU tar as the attack it is', async (id, names) => {
    const result = await gnuTar(['-tf', '-'], get(id).layers[0]!);
    expect(result.code).toBe(0);
    expect(result.stdout.trimEnd().split('\n')).toEqual(names);
  });

  it('points hardlinks and symlinks outside the root', async () => {
    const hard = await gnuTar(['-tvf', '-', '--absolute-names'], get('hardlink-absolute-outside').layers[0]!);
    expect(hard.stdout).toContain(`stolen link to ${outsideDir}/target`);
    const overridden = await gnuTar(['-tvf', '-', '--absolute-names'], get('pax-linkpath-override').layers[0]!);
    expect(overridden.stdout).toContain(`stolen link to ${outsideDir}/target`);
    const relative = await gnuTar(['-tvf', '-'], get('relative-symlink-then-write-through').layers[0]!);
    expect(relative.stdout).toContain('link -> ../outside');
    const later = get('symlink-then-write-through-later-layer');
    expect(later.layers.length).toBe(2);
    expect((await gnuTar(['-tvf', '-'], later.layers[0]!)).stdout).toContain(`link -> ${outsideDir}`);
    expect((await gnuTar(['-tf', '-'], later.layers[1]!)).stdout).toBe('link/escaped\n');
  });

  it('carries devices and forged xattrs', async () => {
    expect((await gnuTar(['-tvf', '-'], get('char-device').layers[0]!)).stdout).toMatch(/^crw-rw-rw- .* 1,1 .* dev\/mem$/m);
    expect((await gnuTar(['-tvf', '-'], get('block-device').layers[0]!)).stdout).toMatch(/^brw-rw-rw- .* 8,0 .* dev\/sda$/m);
    expect((await gnuTar(['-tvf', '-'], get('whiteout-device').layers[0]!)).stdout).toMatch(/^crw-r--r-- .* 0,0 .* removed$/m);
    const opaque = await gnuTar(['-tvvf', '-', '--xattrs', '--xattrs-include=*'], get('trusted-overlay-opaque-xattr').layers[0]!);
    expect(opaque.stdout).toContain('  x: 1 trusted.overlay.opaque');
  });

  it.each([
    ['negative-size', 'Archive value -1 is out of off_t range'],
    ['overflowing-size', 'Archive base-256 value is out of off_t range'],
    ['bad-checksum', 'This does not look like a tar archive'],
    ['non-octal-size', 'where numeric off_t value expected'],
    ['huge-declared-size', 'Unexpected EOF in archive'],
  ])('%s is malformed for GNU tar too', async (id, message) => {
    const result = await gnuTar(['-tf', '-'], get(id).layers[0]!);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(message);
  });

  it('builds bombs of the requested size', async () => {
    const many = await gnuTar(['-tf', '-'], get('many-entries').layers[0]!);
    expect(many.stdout.trimEnd().split('\n').length).toBe(1000);
    expect(get('huge-pax-header').layers[0]!.length).toBeGreaterThan(8 << 20);
    const deep = await gnuTar(['-tf', '-'], get('deep-nesting').layers[0]!);
    expect(deep.stdout.trimEnd().split('/').length).toBe(2001);
  });

  it('puts the trailer after the end-of-archive marker', () => {
    const bytes = get('trailing-data').layers[0]!;
    const trailer = Buffer.from('trailing garbage after the end marker');
    expect(Buffer.from(bytes.subarray(bytes.length - trailer.length)).equals(trailer)).toBe(true);
    const marker = bytes.subarray(bytes.length - trailer.length - 2 * BLOCK_SIZE, bytes.length - trailer.length);
    expect(marker.every((b) => b === 0)).toBe(true);
  });

  it.each([
    [{ rootDir: 'relative', outsideDir }, 'hostile tar cases need absolute rootDir and outsideDir'],
    [{ rootDir, outsideDir: `${rootDir}/inside` }, `hostile tar cases: ${rootDir}/inside and ${rootDir} must not contain each other`],
    [{ rootDir, outsideDir: '/srv' }, `hostile tar cases: /srv and ${rootDir} must not contain each other`],
  ])('refuses directories %j', async (options, message) => {
    let caught: unknown;
    try {
      await hostileTarCases(options);
    } catch (err) {
      caught = err;
    }
    expect({ kind: errorKind(caught), message: (caught as Error).message }).toEqual({ kind: 'InvalidArgument', message });
  });
});

describe('gzipBombLayer', () => {
  it('compresses 64 MiB of zeros about a thousandfold, and gunzip caps its output', async () => {
    const bomb = await gzipBombLayer(64 << 20);
    expect(bomb.length).toBeLessThan(128 << 10);
    let caught: unknown;
    try {
      await gunzip(bomb, 1 << 20);
    } catch (err) {
      caught = err;
    }
    expect({ kind: errorKind(caught), message: (caught as Error).message }).toEqual({ kind: 'InvalidArgument', message: 'gunzip: output exceeds 1048576 bytes' });
    const tar = await gunzip(bomb);
    expect(tar.length).toBe((64 << 20) + 3 * BLOCK_SIZE);
  });
});
