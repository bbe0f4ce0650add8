import { raised } from '@strata/kit/testing';
import { describe, expect, it } from 'vitest';
import { checkMounts, isValidMountMode, parseTmpfsSpec, parseVolumeSpec, type MountSpec } from './mounts.js';

describe('parseVolumeSpec (-v)', () => {
  it.each<[string, MountSpec]>([
    ['/srv/data:/data', { type: 'bind', source: '/srv/data', target: '/data', readOnly: false, mode: '', createMountpoint: true }],
    ['/srv/data/:/data/:ro', { type: 'bind', source: '/srv/data', target: '/data', readOnly: true, mode: 'ro', createMountpoint: true }],
    ['/srv//x:/a/../b:rw,z', { type: 'bind', source: '/srv/x', target: '/b', readOnly: false, mode: 'rw,z', createMountpoint: true }],
    ['cache:/var/cache', { type: 'volume', source: 'cache', target: '/var/cache', readOnly: false, mode: '' }],
    ['cache:/var/cache:ro,nocopy', { type: 'volume', source: 'cache', target: '/var/cache', readOnly: true, mode: 'ro,nocopy' }],
    ['/data', { type: 'volume', source: '', target: '/data', readOnly: false, mode: '' }],
  ])('reads %s', (raw, mount) => {
    expect(parseVolumeSpec(raw)).toEqual(mount);
  });

  it.each([
    ['', "invalid volume specification: ''"],
    [':/x', "invalid volume specification: ':/x'"],
    ['/a:/b:ro:x', "invalid volume specification: '/a:/b:ro:x'"],
    ['/data:rw', "invalid volume specification: '/data:rw'"],
    ['/a:/b:rx', 'invalid mode: rx'],
    ['/a:/b:ro,rw', 'invalid mode: ro,rw'],
    ['/a:/', `invalid volume specification: '/a:/': invalid mount config for type "bind": invalid specification: destination can't be '/'`],
    ['/a:b', `invalid volume specification: '/a:b': invalid mount config for type "bind": invalid mount path: 'b' mount path must be absolute`],
    ['data', `invalid volume specification: 'data': invalid mount config for type "volume": invalid mount path: 'data' mount path must be absolute`],
  ])('refuses %j', (raw, message) => {
    expect(raised(() => parseVolumeSpec(raw))).toEqual({ kind: 'InvalidArgument', message });
  });

  it.each([
    ['', true],
    ['ro', true],
    ['rw,Z,rshared,nocopy,cached', true],
    ['ro,ro', false],
    ['exec', false],
  ])('mode %j valid: %s', (mode, valid) => {
    expect(isValidMountMode(mode)).toBe(valid);
  });
});

describe('parseTmpfsSpec (--tmpfs)', () => {
  it.each<[string, MountSpec]>([
    ['/run', { type: 'tmpfs', source: '', target: '/run', readOnly: false, tmpfsOptions: '' }],
    ['/run:size=64m,exec,mode=1770', { type: 'tmpfs', source: '', target: '/run', readOnly: false, tmpfsOptions: 'size=64m,exec,mode=1770' }],
    ['/ro:ro', { type: 'tmpfs', source: '', target: '/ro', readOnly: true, tmpfsOptions: 'ro' }],
  ])('reads %s', (raw, mount) => {
    expect(parseTmpfsSpec(raw)).toEqual(mount);
  });

  it.each([
    ['/run:bogus', 'invalid tmpfs option ["bogus"]'],
    ['/run:size=1m,colour=red', 'invalid tmpfs option ["colour" "red"]'],
    ['run', `invalid mount config for type "tmpfs": invalid mount path: 'run' mount path must be absolute`],
    ['/', `invalid mount config for type "tmpfs": invalid specification: destination can't be '/'`],
  ])('refuses %j', (raw, message) => {
    expect(raised(() => parseTmpfsSpec(raw))).toEqual({ kind: 'InvalidArgument', message });
  });
});

describe('checkMounts', () => {
  const bind = (over: Partial<MountSpec> = {}): MountSpec => ({ type: 'bind', source: '/srv', target: '/data', readOnly: false, ...over });

  it.each<[string, MountSpec[], string]>([
    ['two mounts on one target', [bind(), parseTmpfsSpec('/data/')], 'Duplicate mount point: /data'],
    ['a bind without source', [bind({ source: '' })], 'invalid mount config for type "bind": field Source must not be empty'],
    ['a relative bind source', [bind({ source: 'srv' })], `invalid mount config for type "bind": invalid mount path: 'srv' mount path must be absolute`],
    ['a target that is missing', [bind({ target: '' })], 'invalid mount config for type "bind": field Target must not be empty'],
    ['a tmpfs with a source', [{ type: 'tmpfs', source: '/x', target: '/t', readOnly: false }], 'invalid mount config for type "tmpfs": field Source must not be specified'],
    [
      'a read-only anonymous volume',
      [{ type: 'volume', source: '', target: '/v', readOnly: true }],
      'invalid mount config for type "volume": must not set ReadOnly mode when using anonymous volumes',
    ],
    ['an unknown type', [{ ...bind(), type: 'nfs' as MountSpec['type'] }], 'invalid mount config for type "nfs": mount type unknown'],
    ['a tmpfs mode out of range', [{ type: 'tmpfs', source: '', target: '/t', readOnly: false, tmpfsMode: 0o10000 }], 'invalid mount config for type "tmpfs": invalid tmpfs mode 4096: use octal permission bits up to 7777'],
  ])('refuses %s', (_what, mounts, message) => {
    expect(raised(() => checkMounts(mounts))).toEqual({ kind: 'InvalidArgument', message });
  });

  it('cleans targets and sources', () => {
    expect(checkMounts([bind({ source: '/srv/./a/', target: '/x//y/' })])).toEqual([bind({ source: '/srv/a', target: '/x/y' })]);
  });
});
