import { describe, expect, it } from 'vitest';
import { internal, invalidArgument, notFound, unavailable, unimplemented } from '@strata/kit';
import { errorBody, registryError, toRegistryErrorResponse } from './registry-error.js';

describe('toRegistryErrorResponse', () => {
  it.each([
    ['a carried code wins over the default', registryError('MANIFEST_BLOB_UNKNOWN', 'm'), { NotFound: 'MANIFEST_UNKNOWN' } as const, 400, 'MANIFEST_BLOB_UNKNOWN'],
    ['a carried status wins over the code', registryError('MANIFEST_INVALID', 'm', { status: 413 }), {}, 413, 'MANIFEST_INVALID'],
    ['the default of the endpoint for the kind', notFound('m'), { NotFound: 'BLOB_UNKNOWN' } as const, 404, 'BLOB_UNKNOWN'],
    ['a generic code for the kind', unavailable('m'), {}, 503, 'UNAVAILABLE'],
    ['Unimplemented is UNSUPPORTED', unimplemented('m'), {}, 405, 'UNSUPPORTED'],
  ])('%s', (_what, err, defaults, status, code) => {
    expect(toRegistryErrorResponse(err, defaults)).toMatchObject({ status, code, message: 'm', internal: false });
  });

  it.each([
    ['an Internal error', internal('disk on fire at /var/lib/secret')],
    ['a kind without a code and no default', invalidArgument('x')],
    ['a plain Error', new Error('boom')],
    ['a thrown string', 'boom'],
  ])('answers %s with 500 UNKNOWN and a generic message', (_what, err) => {
    expect(toRegistryErrorResponse(err)).toEqual({ status: 500, code: 'UNKNOWN', message: 'internal error of the registry; see its log', internal: true });
  });

  it('keeps the detail in the body', () => {
    const answer = toRegistryErrorResponse(registryError('BLOB_UNKNOWN', 'blob unknown', { detail: { digest: 'sha256:x' } }));
    expect(JSON.parse(errorBody(answer))).toEqual({ errors: [{ code: 'BLOB_UNKNOWN', message: 'blob unknown', detail: { digest: 'sha256:x' } }] });
  });
});
