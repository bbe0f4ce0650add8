import type { MountSpec } from '@strata/containers';
import { raised } from '@strata/kit/testing';
import { describe, expect, it } from 'vitest';
import { parseMountFlag, parseVolumeFlag } from './mount-options.js';

describe('parseMountFlag (--mount)', () => {
  it.each<[string, MountSpec]>([
    ['type=bind,source=/srv,target=/data', { type: 'bind', source: '/srv', target: '/data', readOnly: false }],
    ['type=bind,src=/srv,dst=/data,readonly', { type: 'bind', source: '/srv', target: '/data', readOnly: true }],
    ['type=BIND,src=.,destination=/data,ro=true,bind-propagation=rprivate', { type: 'bind', source: '/home/u', target: '/data', readOnly: true }],
    ['type=bind,"src=/a,b",target=/x', { type: 'bind', source: '/a,b', target: '/x', readOnly: false }],
    ['type=tmpfs,target=/t,tmpfs-size=64m,tmpfs-mode=1770', { type: 'tmpfs', source: '', target: '/t', readOnly: false, tmpfsSizeBytes: 64 << 20, tmpfsMode: 0o1770 }],
    ['source=cache,target=/c', { type: 'volume', source: 'cache', target: '/c', readOnly: false }],
  ])('reads %s', (raw, mount) => {
    expect(parseMountFlag(raw, '/home/u')).toEqual(mount);
  });

  it.each([
    ['type=bind,src=/a,target=/b,rw', "invalid field 'rw' must be a key=value pair"],
    ['type=bind,src=/a,target=/b,colour=red', "unexpected key 'colour' in 'colour=red'"],
    ['type=bind,src=/a', 'target is required'],
    ['type=,target=/b', 'type is required'],
    ['type=bind,target=/b,tmpfs-size=1m', "cannot mix 'tmpfs-*' options with mount type 'bind'"],
    ['type=tmpfs,target=/b,bind-propagation=rprivate', "cannot mix 'bind-*' options with mount type 'tmpfs'"],
    ['type=tmpfs,target=/b,tmpfs-size=lots', 'invalid value for tmpfs-size: lots'],
    ['type=tmpfs,target=/b,tmpfs-mode=999', 'invalid value for tmpfs-mode: 999'],
    ['type=bind,src=/a,target=/b,readonly=maybe', 'invalid value for readonly: maybe'],
    ['type=bind,src=/a,target=/b,bind-propagation=rshared', "invalid value for bind-propagation: rshared (Strata's binds are rprivate)"],
    ['type=npipe,target=/b', 'invalid mount config for type "npipe": mount type unknown'],
    ['type=bind,src="/a,target=/b', 'parse error on line 1, column 15: bare " in non-quoted-field'],
  ])('refuses %s', (raw, message) => {
    expect(raised(() => parseMountFlag(raw, '/'))).toEqual({ kind: 'InvalidArgument', message });
  });
});

describe('parseVolumeFlag (-v)', () => {
  it.each<[string, MountSpec]>([
    ['./data:/data', { type: 'bind', source: '/home/u/data', target: '/data', readOnly: false, mode: '', createMountpoint: true }],
    ['../x:/x:ro', { type: 'bind', source: '/home/x', target: '/x', readOnly: true, mode: 'ro', createMountpoint: true }],
    ['/abs:/x', { type: 'bind', source: '/abs', target: '/x', readOnly: false, mode: '', createMountpoint: true }],
  ])('reads %s', (raw, mount) => {
    expect(parseVolumeFlag(raw, '/home/u')).toEqual(mount);
  });
});
