import { describe, expect, it } from 'vitest';
import { errorKind } from '@strata/kit';
import { silentLogger } from '@strata/kit';
import { openCgroup } from './cgroup.js';
import { validateCgroupPath } from './cgroup-path.js';

function failure(work: () => unknown): { kind: string; message: string } {
  try {
    work();
  } catch (err) {
    return { kind: errorKind(err), message: (err as Error).message };
  }
  return expect.fail('expected an error');
}

const id = 'a'.repeat(64);
const parts = 'each part must be 1-128 letters, digits, "_", "." or "-", not starting with "." or "-"';

describe('validateCgroupPath', () => {
  it.each([
    [`/strata/${id}`, '/strata', ['strata', id]],
    ['/strata/pods/c1', '/strata', ['strata', 'pods', 'c1']],
    ['/strata-test-1/c1', '/strata-test-1', ['strata-test-1', 'c1']],
    ['/a/b.c_d-e', '/a', ['a', 'b.c_d-e']],
    ['/strata', '/', ['strata']],
  ])('accepts %s below %s', (path, parent, segments) => {
    expect(validateCgroupPath(path, parent)).toEqual(segments);
  });

  it.each([
    ['strata/x', '/strata', 'invalid cgroup path "strata/x": it must be an absolute path like /strata/<id>'],
    ['/strata/../x', '/strata', 'invalid cgroup path "/strata/../x": "." and ".." are not allowed'],
    ['/strata/x/..', '/strata', 'invalid cgroup path "/strata/x/..": "." and ".." are not allowed'],
    ['/strata/./x', '/strata', 'invalid cgroup path "/strata/./x": "." and ".." are not allowed'],
    ['/strata//x', '/strata', `invalid cgroup path "/strata//x": ${parts}`],
    ['/strata/x/', '/strata', `invalid cgroup path "/strata/x/": ${parts}`],
    ['/strata/.hidden', '/strata', `invalid cgroup path "/strata/.hidden": ${parts}`],
    ['/strata/a b', '/strata', `invalid cgroup path "/strata/a b": ${parts}`],
    ['/strata/x\0y', '/strata', `invalid cgroup path "/strata/x\\u0000y": ${parts}`],
    ['/strata', '/strata', 'invalid cgroup path "/strata": it must be below the Strata parent /strata'],
    ['/', '/strata', `invalid cgroup path "/": ${parts}`],
    ['/', '/', `invalid cgroup path "/": ${parts}`],
    ['/system.slice/x', '/strata', 'invalid cgroup path "/system.slice/x": it must be below the Strata parent /strata'],
    ['/stratax/y', '/strata', 'invalid cgroup path "/stratax/y": it must be below the Strata parent /strata'],
    [`/strata/${'b'.repeat(129)}`, '/strata', `invalid cgroup path "/strata/${'b'.repeat(129)}": ${parts}`],
    ['/x/y', 'x', 'invalid cgroup parent "x": it must be an absolute path like /strata/<id>'],
    ['/x/y', '/../x', 'invalid cgroup parent "/../x": "." and ".." are not allowed'],
  ])('refuses %j below %j', (path, parent, message) => {
    expect(failure(() => validateCgroupPath(path, parent))).toEqual({ kind: 'InvalidArgument', message });
  });
});

describe('openCgroup', () => {
  it('refuses a path outside the parent before touching any cgroup file', async () => {
    let caught: unknown;
    try {
      await openCgroup('/strata/../system.slice', { logger: silentLogger(), root: '/nonexistent' });
    } catch (err) {
      caught = err;
    }
    expect({ kind: errorKind(caught), message: (caught as Error).message }).toEqual({
      kind: 'InvalidArgument',
      message: 'invalid cgroup path "/strata/../system.slice": "." and ".." are not allowed',
    });
  });
});
