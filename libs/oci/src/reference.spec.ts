import { describe, expect, it } from 'vitest';
import { isDomain, isReference, isRepositoryPath, isTag, parseReference } from './reference.js';
import { errorOf } from './testing/error-of.js';

const hex = 'a'.repeat(64);
const digest = `sha256:${hex}`;

describe('parseReference', () => {
  it.each([
    // [input, normalized, familiar]
    ['busybox', 'docker.io/library/busybox:latest', 'busybox:latest'],
    ['busybox:1.36', 'docker.io/library/busybox:1.36', 'busybox:1.36'],
    ['library/busybox', 'docker.io/library/busybox:latest', 'busybox:latest'],
    ['docker.io/busybox', 'docker.io/library/busybox:latest', 'busybox:latest'],
    ['index.docker.io/busybox', 'docker.io/library/busybox:latest', 'busybox:latest'],
    ['index.docker.io/user/app:v1', 'docker.io/user/app:v1', 'user/app:v1'],
    ['user/app', 'docker.io/user/app:latest', 'user/app:latest'],
    ['docker.io/library/foo/bar', 'docker.io/library/foo/bar:latest', 'library/foo/bar:latest'],
    ['localhost/foo', 'localhost/foo:latest', 'localhost/foo:latest'],
    ['localhost:5000/x', 'localhost:5000/x:latest', 'localhost:5000/x:latest'],
    ['localhost', 'docker.io/library/localhost:latest', 'localhost:latest'],
    ['example.com/team/app:1.0', 'example.com/team/app:1.0', 'example.com/team/app:1.0'],
    ['Example.COM/app', 'Example.COM/app:latest', 'Example.COM/app:latest'],
    ['127.0.0.1:5050/a/b/c', '127.0.0.1:5050/a/b/c:latest', '127.0.0.1:5050/a/b/c:latest'],
    ['[::1]:5000/foo', '[::1]:5000/foo:latest', '[::1]:5000/foo:latest'],
    ['[2001:db8::1]/foo', '[2001:db8::1]/foo:latest', '[2001:db8::1]/foo:latest'],
    ['foo_bar.com:8080', 'docker.io/library/foo_bar.com:8080', 'foo_bar.com:8080'],
    ['foo/foo_bar.com:8080', 'docker.io/foo/foo_bar.com:8080', 'foo/foo_bar.com:8080'],
    ['a__b/c---d/e.f_g', 'docker.io/a__b/c---d/e.f_g:latest', 'a__b/c---d/e.f_g:latest'],
    ['busybox:Tag_1.-x', 'docker.io/library/busybox:Tag_1.-x', 'busybox:Tag_1.-x'],
    [`busybox@${digest}`, `docker.io/library/busybox@${digest}`, `busybox@${digest}`],
    [`busybox:1@${digest}`, `docker.io/library/busybox:1@${digest}`, `busybox:1@${digest}`],
    [`${hex}:latest`, `docker.io/library/${hex}:latest`, `${hex}:latest`],
    [`x:${'t'.repeat(128)}`, `docker.io/library/x:${'t'.repeat(128)}`, `x:${'t'.repeat(128)}`],
  ])('normalizes %s', (input, normalized, familiar) => {
    const ref = parseReference(input);
    expect(ref.toString()).toBe(normalized);
    expect(ref.familiar()).toBe(familiar);
    expect(JSON.stringify({ ref })).toBe(JSON.stringify({ ref: normalized }));
    expect(parseReference(ref.toString()).toString()).toBe(normalized);
    expect(isReference(input)).toBe(true);
  });

  it('splits domain, path, tag and digest', () => {
    const ref = parseReference(`localhost:5000/team/app:v2@${digest}`);
    expect({ domain: ref.domain, path: ref.path, name: ref.name, tag: ref.tag, digest: ref.digest }).toEqual({
      domain: 'localhost:5000',
      path: 'team/app',
      name: 'localhost:5000/team/app',
      tag: 'v2',
      digest,
    });
    const pinned = parseReference(`busybox@${digest}`);
    expect(pinned.tag).toBeUndefined();
  });

  it('replaces tag and digest', () => {
    const ref = parseReference('busybox');
    expect(ref.withTag('1.36').toString()).toBe('docker.io/library/busybox:1.36');
    expect(ref.withDigest(digest).toString()).toBe(`docker.io/library/busybox:latest@${digest}`);
    expect(errorOf(() => ref.withTag('-bad'))).toEqual({ kind: 'InvalidArgument', message: 'invalid tag format: "-bad"' });
    expect(errorOf(() => ref.withDigest('sha256:../..'))).toEqual({
      kind: 'InvalidArgument',
      message: 'invalid digest "sha256:../..": expected algorithm:hex, e.g. sha256:<64 hex>',
    });
  });

  const bad = 'invalid reference format';
  const upper = 'invalid reference format: repository name must be lowercase';
  it.each([
    ['', 'repository name must have at least one component'],
    [hex, `invalid repository name (${hex}), cannot specify 64-byte hexadecimal strings`],
    ['Busybox', upper],
    ['busyBox:latest', upper],
    ['Uppercase:tag', upper],
    ['test:5000/Uppercase/lowercase:tag', upper],
    ['example.com/lowercase/Uppercase', upper],
    [`library/${'a'.repeat(248)}`, `repository name (library/${'a'.repeat(248)}) must not be more than 255 characters`],
    [`example.com/${'a'.repeat(256)}`, `repository name (${'a'.repeat(256)}) must not be more than 255 characters`],
    ['aa/asdf$$^/aa', bad],
    [':justtag', bad],
    [`@${digest}`, bad],
    ['a/a/a/../b', bad],
    ['foo@sha256:../..', bad],
    ['../etc/passwd', bad],
    ['/abs/path', bad],
    ['foo/', bad],
    ['localhost:5000/', bad],
    ['docker.io/', bad],
    ['-foo', bad],
    ['foo-', bad],
    ['foo..bar', bad],
    ['foo___bar', bad],
    ['foo//bar', bad],
    [' busybox', bad],
    ['busybox\n', bad],
    ['busybox\u0000', bad],
    ['busybox:', bad],
    ['busybox:.tag', bad],
    ['busybox:-tag', bad],
    [`busybox:${'t'.repeat(129)}`, bad],
    ['busybox:a:b', bad],
    ['busybox@', bad],
    ['busybox@sha256:abc', bad],
    ['foo.com:xyz/bar', bad],
    ['-foo.com/bar', bad],
    ['foo-.com/bar', bad],
    ['foo_bar.com:8080/x', bad],
    ['[::1/foo', bad],
    ['[fe80::1%25eth0]/foo', bad],
    [`busybox@md5:${'a'.repeat(32)}`, `invalid digest "md5:${'a'.repeat(32)}": unsupported algorithm "md5" (only sha256)`],
    [`busybox@sha256:${'a'.repeat(40)}`, `invalid digest "sha256:${'a'.repeat(40)}": sha256 needs 64 hex characters, got 40`],
    [`busybox@sha256:${'A'.repeat(64)}`, `invalid digest "sha256:${'A'.repeat(64)}": hex must be lower-case`],
  ])('refuses %j', (input, message) => {
    expect(errorOf(() => parseReference(input))).toEqual({ kind: 'InvalidArgument', message });
    expect(isReference(input)).toBe(false);
  });

  it('keeps the path limit at 255 characters', () => {
    expect(parseReference(`library/${'a'.repeat(247)}`).path).toHaveLength(255);
  });

  it('answers quickly for inputs built to make regular expressions backtrack', () => {
    const started = performance.now();
    for (const input of [
      `${'a-'.repeat(50_000)}!`,
      `${'a'.repeat(100_000)}!`,
      `${'a.'.repeat(50_000)}com/x!`,
      `x:${'a'.repeat(100_000)}`,
      `x@sha256:${'a'.repeat(100_000)}!`,
      `${'a/'.repeat(50_000)}!`,
    ]) {
      expect(isReference(input)).toBe(false);
    }
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it('shortens a very long name in the message', () => {
    const { message } = errorOf(() => parseReference(`library/${'a'.repeat(10_000)}`));
    expect(message).toBe(`repository name (library/${'a'.repeat(504)}…) must not be more than 255 characters`);
  });
});

describe('grammar predicates', () => {
  it.each([
    ['library/busybox', true],
    ['a', true],
    ['a/b-c/d__e/f.g', true],
    ['A', false],
    ['a/', false],
    ['', false],
    ['a/../b', false],
    ['a'.repeat(256), false],
  ])('isRepositoryPath(%j) is %s', (path, expected) => {
    expect(isRepositoryPath(path)).toBe(expected);
  });

  it.each([
    ['latest', true],
    ['_x', true],
    ['V1.2-rc_3', true],
    ['.x', false],
    ['-x', false],
    ['', false],
    ['a'.repeat(128), true],
    ['a'.repeat(129), false],
    ['a/b', false],
  ])('isTag(%j) is %s', (tag, expected) => {
    expect(isTag(tag)).toBe(expected);
  });

  it.each([
    ['docker.io', true],
    ['localhost:5000', true],
    ['[::1]:5000', true],
    ['my-registry.example.com', true],
    ['a_b.com', false],
    ['host:', false],
    ['', false],
  ])('isDomain(%j) is %s', (domain, expected) => {
    expect(isDomain(domain)).toBe(expected);
  });
});
