import { errorKind } from '@strata/kit';
import { describe, expect, it } from 'vitest';
import { resolveContainer } from './resolve-container.js';

const a = { id: `abc1${'0'.repeat(60)}`, name: 'web' };
const b = { id: `abc2${'0'.repeat(60)}`, name: 'db' };
const c = { id: `fff0${'0'.repeat(60)}`, name: 'abc1' };
const all = [a, b, c];

describe('resolveContainer', () => {
  it.each([
    ['a full id', a.id, a],
    ['a name', 'web', a],
    ['a name with a slash', '/db', b],
    ['a unique prefix', 'abc2', b],
    ['a name before a prefix it equals', 'abc1', c],
    ['a short id', c.id.slice(0, 12), c],
  ])('finds %s', (_what, ref, expected) => {
    expect(resolveContainer(all, ref)).toBe(expected);
  });

  it.each([
    ['an unknown name', 'nope', 'NotFound', 'No such container: nope'],
    ['an unknown prefix', 'dead', 'NotFound', 'No such container: dead'],
    ['an ambiguous prefix', 'abc', 'InvalidArgument', 'multiple containers match prefix abc'],
    ['an empty ref', '', 'InvalidArgument', 'a container name or id is required'],
  ])('refuses %s', (_what, ref, kind, message) => {
    let err: unknown;
    try {
      resolveContainer(all, ref);
    } catch (e) {
      err = e;
    }
    expect({ kind: errorKind(err), message: (err as Error).message }).toEqual({ kind, message });
  });
});
