import { describe, expect, it } from 'vitest';
import { isInvalidArgument } from '@strata/kit';
import { decodeTagKey, encodeTagKey, tagKeyFilter } from './tag-key.js';

// NATS KV's own rule for keys (@nats-io/kv validKeyRe), plus no empty token.
const VALID_KV_KEY = /^[-/=_A-Za-z0-9]+(?:\.[-/=_A-Za-z0-9]+)*$/;

describe('encodeTagKey / decodeTagKey', () => {
  it.each<[string, string, string, string]>([
    ['docker.io', 'library/busybox', 'latest', 'tags.ZG9ja2VyLmlv.bGlicmFyeS9idXN5Ym94.bGF0ZXN0'],
    ['localhost:5000', 'a/b-c/d__e', '1.36.1', 'tags.bG9jYWxob3N0OjUwMDA.YS9iLWMvZF9fZQ.MS4zNi4x'],
    ['[::1]:5000', 'app', '_V', 'tags.Wzo6MV06NTAwMA.YXBw.X1Y'],
    ['local', 'x', 'a'.repeat(128), `tags.bG9jYWw.eA.${Buffer.from('a'.repeat(128)).toString('base64url')}`],
  ])('%s/%s:%s is the key %s and back', (domain, repository, tag, key) => {
    expect(encodeTagKey(domain, repository, tag)).toBe(key);
    expect(key).toMatch(VALID_KV_KEY);
    expect(decodeTagKey(key)).toEqual({ domain, repository, tag });
  });

  it('refuses a malformed name with validateTagKey\'s error', () => {
    let caught: unknown;
    try {
      encodeTagKey('docker.io', 'Library/Busybox', 'latest');
    } catch (err) {
      caught = err;
    }
    expect(isInvalidArgument(caught)).toBe(true);
    expect((caught as Error).message).toBe(
      'invalid repository name "Library/Busybox": expected lower-case components separated by "/", at most 255 characters, e.g. library/busybox',
    );
  });

  it.each<[string, string]>([
    ['another prefix', 'digests.ZG9ja2VyLmlv.bGlicmFyeS9idXN5Ym94.bGF0ZXN0'],
    ['too few tokens', 'tags.ZG9ja2VyLmlv.bGlicmFyeS9idXN5Ym94'],
    ['too many tokens', 'tags.ZG9ja2VyLmlv.bGlicmFyeS9idXN5Ym94.bGF0ZXN0.eA'],
    ['padding', 'tags.ZG9ja2VyLmlv.bGlicmFyeS9idXN5Ym94.bGF0ZXN0LQ=='],
    ['standard base64', 'tags.ZG9ja2VyLmlv.bGlicmFyeS9idXN5Ym94.Pz8_'.replace('_', '/')],
    ['an upper-case repository inside', `tags.ZG9ja2VyLmlv.${Buffer.from('Library/Busybox').toString('base64url')}.bGF0ZXN0`],
    ['an empty token', 'tags.ZG9ja2VyLmlv..bGF0ZXN0'],
  ])('decodes no name from a key with %s', (_, key) => {
    expect(decodeTagKey(key)).toBeUndefined();
  });
});

describe('tagKeyFilter', () => {
  it.each<[string | undefined, string | undefined, string]>([
    [undefined, undefined, 'tags.>'],
    ['docker.io', undefined, 'tags.ZG9ja2VyLmlv.>'],
    ['docker.io', 'library/busybox', 'tags.ZG9ja2VyLmlv.bGlicmFyeS9idXN5Ym94.*'],
    [undefined, 'library/busybox', 'tags.*.bGlicmFyeS9idXN5Ym94.*'],
  ])('domain %s and repository %s select %s', (domain, repository, filter) => {
    expect(tagKeyFilter(domain, repository)).toBe(filter);
  });
});
