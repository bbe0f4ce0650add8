import { describe, expect, it } from 'vitest';
import { isInvalidArgument } from '@strata/kit';
import { Digester, digestHex, digestOf, isDigest, parseDigest } from './digest.js';

const good = 'sha256:' + 'a'.repeat(64);

describe('parseDigest', () => {
  it('accepts a lower-case sha256 digest', () => {
    expect(parseDigest(good)).toBe(good);
    expect(isDigest(good)).toBe(true);
    expect(digestHex(parseDigest(good))).toBe('a'.repeat(64));
  });

  it.each([
    ['', 'invalid digest: empty'],
    [42, 'invalid digest: empty'],
    ['sha256:../..', 'invalid digest "sha256:../..": expected algorithm:hex, e.g. sha256:<64 hex>'],
    ['sha256:abc', 'invalid digest "sha256:abc": sha256 needs 64 hex characters, got 3'],
    ['sha256:' + 'A'.repeat(64), `invalid digest "sha256:${'A'.repeat(64)}": hex must be lower-case`],
    ['md5:' + 'a'.repeat(32), `invalid digest "md5:${'a'.repeat(32)}": unsupported algorithm "md5" (only sha256)`],
    ['sha256:' + 'g'.repeat(64), `invalid digest "sha256:${'g'.repeat(64)}": not hexadecimal`],
    ['sha256', 'invalid digest "sha256": expected algorithm:hex, e.g. sha256:<64 hex>'],
    [good + '\n', `invalid digest ${JSON.stringify(good + '\n')}: expected algorithm:hex, e.g. sha256:<64 hex>`],
  ])('refuses %j with InvalidArgument', (value, message) => {
    let caught: unknown;
    try {
      parseDigest(value);
    } catch (err) {
      caught = err;
    }
    expect(isInvalidArgument(caught)).toBe(true);
    expect((caught as Error).message).toBe(message);
    expect(isDigest(value)).toBe(false);
  });

  it('shortens very long input in the message', () => {
    expect(() => parseDigest('x'.repeat(10_000))).toThrow(/…"/);
  });
});

describe('Digester', () => {
  it('matches digestOf and can digest a prefix', () => {
    const d = new Digester().update(Buffer.from('hello '));
    const prefix = d.digest();
    d.update(Buffer.from('world'));
    expect(prefix).toBe(digestOf('hello '));
    expect(d.digest()).toBe(digestOf('hello world'));
    expect(digestOf('')).toBe('sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });
});
