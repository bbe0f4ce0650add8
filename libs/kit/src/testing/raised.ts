import { errorKind } from '../errors.js';

/** What an error raised in a test was: its kind (see errorKind) and message. */
export interface Raised {
  kind: string;
  message: string;
}

/**
 * The kind and message of what fn throws, undefined when it returns: for
 * table tests that assert both (`expect(raised(() => parse(x))).toEqual({
 * kind: 'InvalidArgument', message })`).
 */
export function raised(fn: () => unknown): Raised | undefined {
  try {
    fn();
  } catch (err) {
    return { kind: errorKind(err), message: (err as Error).message };
  }
  return undefined;
}
