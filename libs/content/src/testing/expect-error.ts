import { expect } from 'vitest';
import { isStrataError, type ErrorKind, type StrataError } from '@strata/kit';

/**
 * Awaits action (a promise, or a function run and awaited) and asserts that
 * it fails with a Strata error of kind whose message equals message (a
 * string) or matches it (a RegExp). Returns the error for further checks.
 * Fails the test when action succeeds or fails with anything else.
 */
export async function expectError(
  action: Promise<unknown> | (() => unknown),
  kind: ErrorKind,
  message?: string | RegExp,
): Promise<StrataError> {
  let outcome: { ok: true } | { ok: false; error: unknown };
  try {
    await (typeof action === 'function' ? action() : action);
    outcome = { ok: true };
  } catch (error) {
    outcome = { ok: false, error };
  }
  if (outcome.ok) expect.fail(`expected a ${kind} error, but it succeeded`);
  const { error } = outcome;
  if (!isStrataError(error)) expect.fail(`expected a ${kind} error, got ${String(error)}`);
  expect({ kind: error.kind, message: error.message }).toMatchObject({ kind });
  if (typeof message === 'string') expect(error.message).toBe(message);
  else if (message !== undefined) expect(error.message).toMatch(message);
  return error;
}

/** The message of the error fn throws (for comparing with what a store raises). */
export function messageOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error('messageOf: the function did not throw');
}
