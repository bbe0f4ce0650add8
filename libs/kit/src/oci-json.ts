/**
 * JSON for the OCI runtime (config.json, an exec's process.json): an
 * rlimit of -1 stands for RLIM_INFINITY, 2^64-1, which a JavaScript number
 * cannot hold exactly; these write and read it as that exact literal.
 */

const RLIM_INFINITY = '18446744073709551615';
const MARK = '\u0000rlim-infinity\u0000';

function isRlimit(holder: unknown): boolean {
  return typeof holder === 'object' && holder !== null && typeof (holder as { type?: unknown }).type === 'string' && (holder as { type: string }).type.startsWith('RLIMIT_');
}

/** JSON.stringify of value, with the soft and hard values of -1 of rlimits written as RLIM_INFINITY. */
export function stringifyOciJson(value: unknown): string {
  const text = JSON.stringify(value, function (this: unknown, key, v: unknown) {
    return (key === 'soft' || key === 'hard') && v === -1 && isRlimit(this) ? MARK : v;
  });
  return text.split(JSON.stringify(MARK)).join(RLIM_INFINITY);
}

/** JSON.parse of text, with rlimit values beyond what a number holds exactly (RLIM_INFINITY) read as -1. */
export function parseOciJson<T>(text: string): T {
  return JSON.parse(text, function (this: unknown, key, v: unknown) {
    return (key === 'soft' || key === 'hard') && typeof v === 'number' && v > Number.MAX_SAFE_INTEGER && isRlimit(this) ? -1 : v;
  }) as T;
}
