import { StrataError, isStrataError, type ErrorKind } from '@strata/kit';

/**
 * The error codes of the OCI Distribution API (and docker/distribution's
 * additions that clients know), with the HTTP status each is answered with
 * and the Strata error kind it corresponds to.
 */
export const RegistryErrorCodes = {
  BLOB_UNKNOWN: { status: 404, kind: 'NotFound' },
  BLOB_UPLOAD_INVALID: { status: 400, kind: 'InvalidArgument' },
  BLOB_UPLOAD_UNKNOWN: { status: 404, kind: 'NotFound' },
  DIGEST_INVALID: { status: 400, kind: 'InvalidArgument' },
  MANIFEST_BLOB_UNKNOWN: { status: 400, kind: 'FailedPrecondition' },
  MANIFEST_INVALID: { status: 400, kind: 'InvalidArgument' },
  MANIFEST_UNKNOWN: { status: 404, kind: 'NotFound' },
  NAME_INVALID: { status: 400, kind: 'InvalidArgument' },
  NAME_UNKNOWN: { status: 404, kind: 'NotFound' },
  SIZE_INVALID: { status: 400, kind: 'InvalidArgument' },
  TAG_INVALID: { status: 400, kind: 'InvalidArgument' },
  RANGE_INVALID: { status: 416, kind: 'OutOfRange' },
  PAGINATION_NUMBER_INVALID: { status: 400, kind: 'InvalidArgument' },
  UNAUTHORIZED: { status: 401, kind: 'Unauthenticated' },
  DENIED: { status: 403, kind: 'PermissionDenied' },
  UNSUPPORTED: { status: 405, kind: 'Unimplemented' },
  TOOMANYREQUESTS: { status: 429, kind: 'ResourceExhausted' },
  UNAVAILABLE: { status: 503, kind: 'Unavailable' },
  UNKNOWN: { status: 500, kind: 'Unknown' },
} as const satisfies Record<string, { status: number; kind: ErrorKind }>;

/** One of {@link RegistryErrorCodes}. */
export type RegistryErrorCode = keyof typeof RegistryErrorCodes;

/** The error field a {@link registryError} carries its code in. */
export const REGISTRY_CODE_FIELD = 'registryCode';

/** Settings of {@link registryError}. */
export interface RegistryErrorOptions {
  /** Sent as the error's `detail` (keep it small: digests, names, offsets). */
  detail?: Record<string, string | number>;
  /** HTTP status to answer with instead of the code's own (e.g. 413 for an oversized manifest). */
  status?: number;
  cause?: unknown;
}

/**
 * A StrataError of the kind that corresponds to code, carrying the code (and
 * optionally an HTTP status and a detail) so that the HTTP edge answers
 * exactly that code. Backends raise these where the kind alone is ambiguous
 * (MANIFEST_BLOB_UNKNOWN versus MANIFEST_UNKNOWN, both "not found").
 */
export function registryError(code: RegistryErrorCode, message: string, options: RegistryErrorOptions = {}): StrataError {
  const fields: Record<string, string | number> = { [REGISTRY_CODE_FIELD]: code };
  if (options.status !== undefined) fields.registryStatus = options.status;
  if (options.detail !== undefined) fields.registryDetail = JSON.stringify(options.detail);
  return new StrataError(RegistryErrorCodes[code].kind, message, { fields, ...(options.cause === undefined ? {} : { cause: options.cause }) });
}

/** What the HTTP edge answers for an error: status, code, message and detail. */
export interface RegistryErrorResponse {
  status: number;
  code: RegistryErrorCode;
  message: string;
  detail?: unknown;
}

/** The code a request's errors of each kind default to when the error names none. */
export type RouteErrorDefaults = Partial<Record<ErrorKind, RegistryErrorCode>>;

const GENERIC: Partial<Record<ErrorKind, RegistryErrorCode>> = {
  Unauthenticated: 'UNAUTHORIZED',
  PermissionDenied: 'DENIED',
  Unimplemented: 'UNSUPPORTED',
  ResourceExhausted: 'TOOMANYREQUESTS',
  Unavailable: 'UNAVAILABLE',
  DeadlineExceeded: 'UNAVAILABLE',
  OutOfRange: 'RANGE_INVALID',
};

function isCode(value: unknown): value is RegistryErrorCode {
  return typeof value === 'string' && Object.hasOwn(RegistryErrorCodes, value);
}

/**
 * Translates any error into the answer of the HTTP edge: the code the error
 * carries (see {@link registryError}), else the route's default for its kind,
 * else a generic code for the kind. Errors that are not Strata errors, and
 * kinds with no code (Internal, Unknown, DataLoss…), become UNKNOWN 500 with a
 * generic message: `internal` is then true and the caller logs the cause.
 */
export function toRegistryErrorResponse(err: unknown, defaults: RouteErrorDefaults = {}): RegistryErrorResponse & { internal: boolean } {
  if (isStrataError(err)) {
    const carried = err.fields[REGISTRY_CODE_FIELD];
    const code = isCode(carried) ? carried : (defaults[err.kind] ?? GENERIC[err.kind]);
    if (code !== undefined && code !== 'UNKNOWN') {
      const status = typeof err.fields.registryStatus === 'number' ? err.fields.registryStatus : RegistryErrorCodes[code].status;
      const detailText = err.fields.registryDetail;
      const detail = typeof detailText === 'string' ? (JSON.parse(detailText) as unknown) : undefined;
      return { status, code, message: err.message, ...(detail === undefined ? {} : { detail }), internal: false };
    }
  }
  return { status: 500, code: 'UNKNOWN', message: 'internal error of the registry; see its log', internal: true };
}

/** The JSON body of an error answer: `{"errors":[{"code","message","detail"}]}`. */
export function errorBody(response: RegistryErrorResponse): string {
  const entry: Record<string, unknown> = { code: response.code, message: response.message };
  if (response.detail !== undefined) entry.detail = response.detail;
  return JSON.stringify({ errors: [entry] });
}
