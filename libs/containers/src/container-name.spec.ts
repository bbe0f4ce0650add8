import { errorKind } from '@strata/kit';
import { describe, expect, it } from 'vitest';
import { checkContainerId, generateContainerId, shortId } from './container-id.js';
import { checkContainerName, generateContainerName, nameConflict } from './container-name.js';

describe('container names', () => {
  it.each([['web'], ['a'], ['/web-1.x_y'], ['A9']])('accepts %s', (name) => {
    expect(checkContainerName(name)).toBe(name.replace(/^\//, ''));
  });

  it.each([['-web'], ['.x'], ['we b'], ['a/b'], [''], ['x'.repeat(129)]])('refuses %j with Docker\'s message', (name) => {
    let err: unknown;
    try {
      checkContainerName(name);
    } catch (e) {
      err = e;
    }
    expect({ kind: errorKind(err), message: (err as Error).message }).toEqual({
      kind: 'InvalidArgument',
      message: `Invalid container name (${name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`,
    });
  });

  it('says who holds a name', () => {
    const err = nameConflict('web', 'f'.repeat(64));
    expect({ kind: errorKind(err), message: err.message }).toEqual({
      kind: 'AlreadyExists',
      message: `Conflict. The container name "/web" is already in use by container "${'f'.repeat(64)}". You have to remove (or rename) that container to be able to reuse that name.`,
    });
  });

  it('generates adjective_scientist names that are free', () => {
    const taken = new Set<string>();
    for (let i = 0; i < 50; i++) {
      const name = generateContainerName((n) => taken.has(n));
      expect(name).toMatch(/^[a-z]+_[a-z]+[0-9]*$/);
      expect(taken.has(name)).toBe(false);
      taken.add(name);
    }
  });
});

describe('container ids', () => {
  it('are 64 hex characters whose short form is not all digits', () => {
    let calls = 0;
    const random = (n: number) => {
      calls++;
      return calls === 1 ? new Uint8Array(n).fill(0x11) : new Uint8Array(n).fill(0xab);
    };
    const id = generateContainerId(() => false, random);
    expect(id).toBe('ab'.repeat(32));
    expect(calls).toBe(2);
    expect(shortId(id)).toBe('abababababab');
    expect(checkContainerId(id)).toBe(id);
  });

  it('skips taken ids', () => {
    const first = generateContainerId();
    expect(generateContainerId((id) => id === first)).not.toBe(first);
  });

  it.each([['ABC'], ['a'.repeat(63)], ['g'.repeat(64)]])('refuses %s', (id) => {
    expect(() => checkContainerId(id)).toThrow(`invalid container id ${JSON.stringify(id)}: expected 64 lower-case hex characters`);
  });
});
