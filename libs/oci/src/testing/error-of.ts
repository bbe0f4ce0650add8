import { isStrataError, type ErrorKind } from '@strata/kit';

/** What a test compares of a raised Strata error. */
export interface RaisedError {
  kind: ErrorKind;
  message: string;
}

/**
 * Runs fn and returns the kind and message of the Strata error it raises, so
 * table-driven tests compare both with one `toEqual`. Throws (failing the
 * test) when fn returns normally or raises anything but a Strata error.
 */
export function errorOf(fn: () => unknown): RaisedError {
  try {
    fn();
  } catch (error) {
    if (!isStrataError(error)) throw new Error(`expected a Strata error, got ${String(error)}`, { cause: error });
    return { kind: error.kind, message: error.message };
  }
  throw new Error('expected a Strata error, but the call returned normally');
}
