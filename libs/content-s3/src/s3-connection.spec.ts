import { describe, expect, it } from 'vitest';
import { notFound, type ErrorKind } from '@strata/kit';
import { translateS3Error } from './s3-connection.js';

const where = { endpoint: 'http://127.0.0.1:9000', bucket: 'blobs' };
const s3Error = (code: string) => Object.assign(new Error(`S3 said ${code}`), { code });

describe('translateS3Error', () => {
  it.each<[string, unknown, ErrorKind, string]>([
    [
      'a refused connection',
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9000'), { code: 'ECONNREFUSED' }),
      'Unavailable',
      'S3 endpoint http://127.0.0.1:9000 is unreachable (ECONNREFUSED) while reading x: check that the object store runs and that the endpoint setting is right',
    ],
    [
      'an unknown host',
      Object.assign(new Error('getaddrinfo ENOTFOUND s3.invalid'), { code: 'ENOTFOUND' }),
      'Unavailable',
      'S3 endpoint http://127.0.0.1:9000 is unreachable (ENOTFOUND) while reading x: check that the object store runs and that the endpoint setting is right',
    ],
    [
      'a dropped connection',
      new Error('socket hang up'),
      'Unavailable',
      'S3 endpoint http://127.0.0.1:9000 is unreachable (connection closed) while reading x: check that the object store runs and that the endpoint setting is right',
    ],
    ['throttling', s3Error('SlowDown'), 'Unavailable', 'S3 endpoint http://127.0.0.1:9000 is busy or failing (SlowDown) while reading x: retry later'],
    [
      'a 5xx answer minio gave up on',
      new Error('Request failed after 0 retries: Error: Retryable HTTP status: 503'),
      'Unavailable',
      'S3 endpoint http://127.0.0.1:9000 is busy or failing (HTTP 503) while reading x: retry later',
    ],
    [
      'refused credentials',
      s3Error('InvalidAccessKeyId'),
      'PermissionDenied',
      'S3 endpoint http://127.0.0.1:9000 refused the credentials for bucket blobs (InvalidAccessKeyId) while reading x: check the access key, secret key and bucket policy',
    ],
    [
      'a deleted bucket',
      s3Error('NoSuchBucket'),
      'FailedPrecondition',
      'S3 bucket blobs does not exist at http://127.0.0.1:9000 while reading x: it was deleted after the store opened; restart the store to create it again',
    ],
    ['a missing key', s3Error('NoSuchKey'), 'NotFound', 'not found in S3 bucket blobs while reading x'],
    ['a missing object (HEAD)', s3Error('NotFound'), 'NotFound', 'not found in S3 bucket blobs while reading x'],
    ['a missing upload', s3Error('NoSuchUpload'), 'NotFound', 'not found in S3 bucket blobs while reading x'],
    ['anything else', s3Error('MalformedXML'), 'Internal', 'S3 request failed while reading x'],
    ['a Strata error', notFound('content sha256:x not found'), 'NotFound', 'content sha256:x not found'],
  ])('%s', (_name, err, kind, message) => {
    const translated = translateS3Error(where, 'reading x', err);
    expect({ kind: translated.kind, message: translated.message }).toEqual({ kind, message });
  });

  it('keeps the cause and names the endpoint and bucket in the fields', () => {
    const cause = s3Error('SlowDown');
    const translated = translateS3Error(where, 'reading x', cause);
    expect(translated.cause).toBe(cause);
    expect(translated.fields).toEqual({ endpoint: 'http://127.0.0.1:9000', bucket: 'blobs', s3Code: 'SlowDown' });
  });
});
