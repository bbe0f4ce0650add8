import { describe, expect, it } from 'vitest';
import {
  ErrorKinds,
  StrataError,
  errorKind,
  failedPrecondition,
  isNotFound,
  isStrataError,
  notFound,
} from './errors.js';

describe('StrataError', () => {
  it('carries kind, message, fields and cause', () => {
    const cause = new Error('disk');
    const err = notFound('blob sha256:x not found', { fields: { digest: 'sha256:x' }, cause });
    expect(err.kind).toBe('NotFound');
    expect(err.message).toBe('blob sha256:x not found');
    expect(err.fields).toEqual({ digest: 'sha256:x' });
    expect(err.cause).toBe(cause);
    expect(isNotFound(err)).toBe(true);
    expect(isNotFound(failedPrecondition('x'))).toBe(false);
  });

  it('is recognised across module copies by its brand, not instanceof', () => {
    const foreign = Object.assign(new Error('from another copy'), {
      kind: 'NotFound',
      fields: {},
      [Symbol.for('strata.error')]: true,
    });
    expect(isStrataError(foreign)).toBe(true);
    expect(isNotFound(foreign)).toBe(true);
    expect(isStrataError(new Error('plain'))).toBe(false);
    expect(isStrataError({ kind: 'NotFound' })).toBe(false);
  });

  it.each(ErrorKinds)('kind %s round-trips through errorKind', (kind) => {
    expect(errorKind(new StrataError(kind, 'm'))).toBe(kind);
  });

  it('reports Unknown for anything else', () => {
    expect(errorKind(new Error('x'))).toBe('Unknown');
    expect(errorKind('text')).toBe('Unknown');
  });
});
