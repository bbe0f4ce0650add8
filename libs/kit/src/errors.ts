/**
 * Strata's one closed set of error kinds. Each mirrors a gRPC status code, so
 * the server edge and the client edge translate them one to one (see
 * grpc-kit's status.ts); nothing else in the code base maps errors.
 */
export const ErrorKinds = [
  'Canceled',
  'Unknown',
  'InvalidArgument',
  'DeadlineExceeded',
  'NotFound',
  'AlreadyExists',
  'PermissionDenied',
  'ResourceExhausted',
  'FailedPrecondition',
  'Aborted',
  'OutOfRange',
  'Unimplemented',
  'Internal',
  'Unavailable',
  'DataLoss',
  'Unauthenticated',
] as const;

/** One of {@link ErrorKinds}. */
export type ErrorKind = (typeof ErrorKinds)[number];

const BRAND = Symbol.for('strata.error');

/** Fields that identify what an error is about (digest, ref, container id…). */
export type ErrorFields = Record<string, string | number | boolean | undefined>;

export interface StrataErrorOptions {
  cause?: unknown;
  fields?: ErrorFields;
}

/**
 * A domain error: a kind, a sentence for the user (what was wrong and what to
 * do), identifying fields and an optional cause. Recognised across duplicate
 * module copies by a global symbol brand, so use the `isX` guards, not
 * `instanceof`.
 */
export class StrataError extends Error {
  readonly kind: ErrorKind;
  readonly fields: ErrorFields;
  readonly [BRAND] = true;

  constructor(kind: ErrorKind, message: string, options: StrataErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = `StrataError(${kind})`;
    this.kind = kind;
    this.fields = options.fields ?? {};
  }
}

/** True for any Strata error, from this or another copy of this module. */
export function isStrataError(err: unknown): err is StrataError {
  return typeof err === 'object' && err !== null && (err as Record<symbol, unknown>)[BRAND] === true;
}

/** The kind of err, or `Unknown` for anything that is not a Strata error. */
export function errorKind(err: unknown): ErrorKind {
  return isStrataError(err) ? err.kind : 'Unknown';
}

function guard(kind: ErrorKind) {
  return (err: unknown): err is StrataError => isStrataError(err) && err.kind === kind;
}

function factory(kind: ErrorKind) {
  return (message: string, options?: StrataErrorOptions): StrataError => new StrataError(kind, message, options);
}

export const isNotFound = guard('NotFound');
export const isAlreadyExists = guard('AlreadyExists');
export const isInvalidArgument = guard('InvalidArgument');
export const isFailedPrecondition = guard('FailedPrecondition');
export const isUnavailable = guard('Unavailable');
export const isOutOfRange = guard('OutOfRange');
export const isAborted = guard('Aborted');
export const isResourceExhausted = guard('ResourceExhausted');
export const isCanceled = guard('Canceled');
export const isInternal = guard('Internal');
export const isUnimplemented = guard('Unimplemented');

export const notFound = factory('NotFound');
export const alreadyExists = factory('AlreadyExists');
export const invalidArgument = factory('InvalidArgument');
export const failedPrecondition = factory('FailedPrecondition');
export const unavailable = factory('Unavailable');
export const outOfRange = factory('OutOfRange');
export const aborted = factory('Aborted');
export const resourceExhausted = factory('ResourceExhausted');
export const canceled = factory('Canceled');
export const internal = factory('Internal');
export const unimplemented = factory('Unimplemented');
