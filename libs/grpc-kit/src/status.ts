import { Metadata, status as Code, type ServiceError, type StatusObject } from '@grpc/grpc-js';
import { ErrorKinds, StrataError, isStrataError, type ErrorFields, type ErrorKind, type Logger } from '@strata/kit';

const CODE_OF: Record<ErrorKind, Code> = {
  Canceled: Code.CANCELLED,
  Unknown: Code.UNKNOWN,
  InvalidArgument: Code.INVALID_ARGUMENT,
  DeadlineExceeded: Code.DEADLINE_EXCEEDED,
  NotFound: Code.NOT_FOUND,
  AlreadyExists: Code.ALREADY_EXISTS,
  PermissionDenied: Code.PERMISSION_DENIED,
  ResourceExhausted: Code.RESOURCE_EXHAUSTED,
  FailedPrecondition: Code.FAILED_PRECONDITION,
  Aborted: Code.ABORTED,
  OutOfRange: Code.OUT_OF_RANGE,
  Unimplemented: Code.UNIMPLEMENTED,
  Internal: Code.INTERNAL,
  Unavailable: Code.UNAVAILABLE,
  DataLoss: Code.DATA_LOSS,
  Unauthenticated: Code.UNAUTHENTICATED,
};

const KIND_OF = new Map<number, ErrorKind>(ErrorKinds.map((kind) => [CODE_OF[kind], kind]));

/** Trailer naming the Strata error kind; its presence marks a status the server chose. */
const KIND_KEY = 'strata-error-kind';
/** Trailer carrying the error's identifying fields as JSON. */
const FIELDS_KEY = 'strata-error-fields-bin';

/** What a client is told when the server fails in a way it did not foresee. */
export const INTERNAL_MESSAGE = 'internal error in the service; the cause is in its log';

/** The gRPC status code of an error kind. */
export function grpcCodeOf(kind: ErrorKind): Code {
  return CODE_OF[kind];
}

/**
 * Translates anything a service implementation threw into the gRPC status
 * sent to the client. A StrataError keeps its kind (as the matching code),
 * its message and its fields. Anything else becomes INTERNAL with a generic
 * message, and the error itself is logged, never sent.
 */
export function toGrpcStatus(err: unknown, logger: Logger): StatusObject {
  const metadata = new Metadata();
  if (isStrataError(err)) {
    metadata.set(KIND_KEY, err.kind);
    const fields = Object.fromEntries(Object.entries(err.fields).filter(([, v]) => v !== undefined));
    if (Object.keys(fields).length > 0) metadata.set(FIELDS_KEY, Buffer.from(JSON.stringify(fields)));
    if (err.kind === 'Internal' || err.kind === 'Unknown' || err.kind === 'DataLoss') logger.error({ err }, err.message);
    else logger.debug({ kind: err.kind, fields }, err.message);
    return { code: CODE_OF[err.kind], details: err.message, metadata };
  }
  logger.error({ err }, 'unexpected error in a request handler');
  metadata.set(KIND_KEY, 'Internal');
  return { code: Code.INTERNAL, details: INTERNAL_MESSAGE, metadata };
}

function isServiceError(err: unknown): err is ServiceError {
  return err instanceof Error && typeof (err as Partial<ServiceError>).code === 'number' && 'details' in err;
}

function fieldsFrom(metadata: Metadata | undefined): ErrorFields {
  const raw = metadata?.get(FIELDS_KEY)[0];
  if (raw === undefined) return {};
  try {
    const parsed: unknown = JSON.parse(Buffer.isBuffer(raw) ? raw.toString('utf8') : raw);
    if (typeof parsed !== 'object' || parsed === null) return {};
    const out: ErrorFields = {};
    for (const [k, v] of Object.entries(parsed)) {
      if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') out[k] = v;
    }
    return out;
  } catch {
    return {};
  }
}

/**
 * What grpc-js says about a connection that failed, without its own
 * wording around it: `No connection established. Last error: Error: connect
 * ENOENT /run/x.sock. Resolution note: ` is `connect ENOENT /run/x.sock`.
 */
function connectionFailure(details: string): string {
  const last = /Last error: (?:Error: )?(.*?)(?:\. Resolution note: .*)?$/s.exec(details)?.[1]?.trim();
  return last || details || 'connection failed';
}

/**
 * Translates an error of a gRPC call into the StrataError of the matching
 * kind, with the server's message and fields. A status the server did not
 * choose (no Strata trailer) and that means the call never reached it —
 * UNAVAILABLE, or a deadline while connecting — gets a sentence naming
 * target (e.g. `unix:/run/strata/layer-store.sock`) and what to check.
 * A StrataError passes through unchanged; any other error becomes Unknown.
 */
export function fromGrpcError(err: unknown, target?: string): StrataError {
  if (isStrataError(err)) return err;
  if (!isServiceError(err)) {
    const message = err instanceof Error ? err.message : String(err);
    return new StrataError('Unknown', message, { cause: err });
  }
  const kind = KIND_OF.get(err.code) ?? 'Unknown';
  const fromServer = err.metadata?.get(KIND_KEY)[0] !== undefined;
  const where = target === undefined ? 'the service' : target;
  let message = err.details;
  if (!fromServer && kind === 'Unavailable') {
    message = `cannot reach ${where}: ${connectionFailure(err.details)}; check that the service is running and the address is right`;
  } else if (!fromServer && kind === 'DeadlineExceeded') {
    message = `no answer from ${where} in time: ${err.details}`;
  } else if (!fromServer && kind === 'Canceled') {
    message = `call to ${where} canceled: ${err.details}`;
  } else if (message === '') {
    message = `${where} answered ${kind}`;
  }
  return new StrataError(kind, message, { cause: err, fields: fieldsFrom(err.metadata) });
}
