import { isStrataError, type ErrorKind } from '@strata/kit';

const BRAND = Symbol.for('strata.docker-error');

/**
 * An error with an explicit Docker HTTP status, for answers that no
 * StrataError kind names (431, 304, 501…) or that Docker gives a status of
 * its own. The server writes it as `{"message": …}` with that status.
 */
export class DockerError extends Error {
  readonly status: number;
  readonly [BRAND] = true;

  constructor(status: number, message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = `DockerError(${status})`;
    this.status = status;
  }
}

/** True for a {@link DockerError}, from this or another copy of this module. */
export function isDockerError(err: unknown): err is DockerError {
  return typeof err === 'object' && err !== null && (err as Record<symbol, unknown>)[BRAND] === true;
}

/** A {@link DockerError} with status and message, for `throw dockerError(400, 'invalid …')`. */
export function dockerError(status: number, message: string, options: { cause?: unknown } = {}): DockerError {
  return new DockerError(status, message, options);
}

const STATUS_OF_KIND: Partial<Record<ErrorKind, number>> = {
  InvalidArgument: 400,
  OutOfRange: 400,
  NotFound: 404,
  AlreadyExists: 409,
  FailedPrecondition: 409,
  Aborted: 409,
  Unimplemented: 501,
  Unavailable: 503,
};

/**
 * The one place errors become Docker HTTP statuses: a DockerError keeps its
 * own status; StrataError kinds map InvalidArgument/OutOfRange → 400,
 * NotFound → 404, AlreadyExists/FailedPrecondition/Aborted → 409,
 * Unimplemented → 501, Unavailable → 503; everything else → 500.
 */
export function dockerStatusOf(err: unknown): number {
  if (isDockerError(err)) return err.status;
  if (isStrataError(err)) return STATUS_OF_KIND[err.kind] ?? 500;
  return 500;
}

/**
 * The `{"message": …}` body Docker answers an error with. A 500 that is not
 * a DockerError hides its message (the cause goes to the log) unless it is a
 * StrataError, whose message is written for users.
 */
export function dockerErrorBody(err: unknown): { message: string } {
  if (isDockerError(err) || isStrataError(err)) return { message: err.message };
  return { message: 'internal error in the Docker API server; see the node-agent log' };
}
