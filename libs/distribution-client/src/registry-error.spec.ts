import { describe, expect, it } from 'vitest';
import { parseRegistryErrors, registryError } from './registry-error.js';

const body = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value));
const context = { upstream: '127.0.0.1:5000', what: 'manifest busybox:nope', repository: 'busybox' };

describe('registryError', () => {
  it.each([
    [404, body({ errors: [{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown', detail: { Tag: 'nope' } }] }), undefined, 'NotFound',
      'upstream 127.0.0.1:5000: manifest busybox:nope not found (MANIFEST_UNKNOWN: "manifest unknown")'],
    [401, body({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }), undefined, 'Unauthenticated',
      'upstream 127.0.0.1:5000: manifest busybox:nope: authentication failed (UNAUTHORIZED: "authentication required"); check the credentials configured for this upstream'],
    [403, body({ errors: [{ code: 'DENIED', message: 'requested access to the resource is denied' }] }), undefined, 'PermissionDenied',
      'upstream 127.0.0.1:5000: manifest busybox:nope: access denied (DENIED: "requested access to the resource is denied")'],
    [429, body({ errors: [{ code: 'TOOMANYREQUESTS', message: 'You have reached your pull rate limit.' }] }), '30', 'ResourceExhausted',
      'upstream 127.0.0.1:5000: manifest busybox:nope: too many requests (TOOMANYREQUESTS: "You have reached your pull rate limit."); retry after 30 s'],
    [503, body('<html>down</html>'), undefined, 'Unavailable', 'upstream 127.0.0.1:5000: manifest busybox:nope: the registry answered 503; try again later'],
    [400, body({ errors: [{ code: 'NAME_INVALID', message: 'invalid\nrepository name' }] }), undefined, 'InvalidArgument',
      'upstream 127.0.0.1:5000: manifest busybox:nope: the registry answered 400 (NAME_INVALID: "invalid repository name")'],
    [404, new Uint8Array(), undefined, 'NotFound', 'upstream 127.0.0.1:5000: manifest busybox:nope not found (HTTP 404)'],
    [416, new Uint8Array(), undefined, 'OutOfRange', 'upstream 127.0.0.1:5000: manifest busybox:nope: the registry answered 416'],
  ])('%i → %s', (status, bytes, retryAfter, kind, message) => {
    const error = registryError(context, status, { retryAfter }, bytes);
    expect({ kind: error.kind, message: error.message }).toEqual({ kind, message });
  });

  it('reads Retry-After given as a date', () => {
    const now = Date.parse('2024-01-01T00:00:00Z');
    const error = registryError(context, 429, { retryAfter: 'Mon, 01 Jan 2024 00:01:00 GMT' }, new Uint8Array(), now);
    expect(error.fields.retryAfterSeconds).toBe(60);
  });
});

describe('parseRegistryErrors', () => {
  it.each([
    ['not JSON', body('oops'), []],
    ['no errors list', body({ message: 'x' }), []],
    ['a code that is not an upper-case word is dropped', body({ errors: [{ code: 'evil code' }, { code: 'BLOB_UNKNOWN' }] }), [{ code: 'BLOB_UNKNOWN' }]],
    ['at most five entries', body({ errors: Array.from({ length: 9 }, () => ({ code: 'X' })) }), Array.from({ length: 5 }, () => ({ code: 'X' }))],
  ])('%s', (_, bytes, expected) => {
    expect(parseRegistryErrors(bytes)).toEqual(expected);
  });
});
