import { ErrorKinds, internal, isStrataError, StrataError, type ErrorKind, type Logger } from '@strata/kit';

/*
 * The layer-store's data socket: plain HTTP/1.1 beside gRPC, for blob bytes
 * only (see createDataHandler). What both ends agree on lives here.
 */

/** Path prefix of ingests: `PUT /v1/ingests/<encodeURIComponent(ref)>`. */
export const INGESTS_PATH = '/v1/ingests/';
/** Path prefix of blobs: `GET /v1/blobs/<digest>`. */
export const BLOBS_PATH = '/v1/blobs/';
/**
 * Path prefix of imports: `POST /v1/imports/<file name>` with a JSON body
 * {@link ImportRequest} commits a file of the store's imports directory
 * (Store.importFile), answering {@link ImportedBlob}.
 */
export const IMPORTS_PATH = '/v1/imports/';
/** Request header of a PUT: the ingest offset its body starts at. */
export const OFFSET_HEADER = 'strata-offset';
/** Response header of a GET: the size of the whole blob. */
export const SIZE_HEADER = 'strata-size';

/** The body of an import. */
export interface ImportRequest {
  expected: string;
  total: number;
  labels?: Record<string, string>;
  /** See ImportOptions.growing. */
  growing?: boolean;
}

/** The answer to an import: the blob's Info, dates as ISO strings. */
export interface ImportedBlob {
  digest: string;
  size: number;
  createdAt: string;
  updatedAt: string;
  labels: Record<string, string>;
}

/** An error as the data socket sends it. */
export interface WireError {
  kind: ErrorKind;
  message: string;
}

const STATUS_OF: Partial<Record<ErrorKind, number>> = {
  InvalidArgument: 400,
  NotFound: 404,
  AlreadyExists: 409,
  FailedPrecondition: 412,
  OutOfRange: 416,
  Unimplemented: 501,
  Unavailable: 503,
  ResourceExhausted: 507,
  Aborted: 409,
  Canceled: 499,
};

/** The HTTP status and body of an error: its kind and message; Internal with a generic message (the cause is logged) for anything else. */
export function toWireError(err: unknown, logger: Logger): { status: number; body: WireError } {
  if (isStrataError(err) && err.kind !== 'Internal' && err.kind !== 'Unknown' && err.kind !== 'DataLoss') {
    logger.debug({ kind: err.kind, fields: err.fields }, err.message);
    return { status: STATUS_OF[err.kind] ?? 500, body: { kind: err.kind, message: err.message } };
  }
  logger.error({ err }, 'data socket request failed');
  const message = isStrataError(err) ? err.message : 'internal error in the layer-store; see its log';
  return { status: 500, body: { kind: 'Internal', message } };
}

/** The StrataError a data socket answer carries; Internal naming the server when the body is not a WireError. */
export function fromWireError(status: number, body: string, server: string): StrataError {
  try {
    const parsed = JSON.parse(body) as Partial<WireError>;
    if (typeof parsed.message === 'string' && (ErrorKinds as readonly string[]).includes(parsed.kind as string)) {
      return new StrataError(parsed.kind as ErrorKind, parsed.message);
    }
  } catch {
    // not JSON: reported below
  }
  return internal(`${server} answered with HTTP ${status} and no error description`);
}
