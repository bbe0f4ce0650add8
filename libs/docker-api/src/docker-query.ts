import { dockerError } from './docker-error.js';

/**
 * A boolean query parameter the way Docker reads them: absent → fallback;
 * `1`/`true`/`True` → true; `0`/`false`/`False`/empty → false. DockerError
 * 400 naming the parameter for anything else.
 */
export function queryBool(query: URLSearchParams, name: string, fallback = false): boolean {
  const value = query.get(name);
  if (value === null) return fallback;
  if (['1', 'true', 'True', 'TRUE'].includes(value)) return true;
  if (['', '0', 'false', 'False', 'FALSE'].includes(value)) return false;
  throw dockerError(400, `invalid value for query parameter ${name}: ${JSON.stringify(value)} is not a boolean`);
}

/**
 * An integer query parameter: absent or empty → undefined. DockerError 400
 * naming the parameter when it is not an integer within [min, max].
 */
export function queryInt(
  query: URLSearchParams,
  name: string,
  range: { min?: number; max?: number } = {},
): number | undefined {
  const value = query.get(name);
  if (value === null || value === '') return undefined;
  const n = /^-?\d+$/.test(value) ? Number(value) : Number.NaN;
  const { min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER } = range;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw dockerError(400, `invalid value for query parameter ${name}: ${JSON.stringify(value)} is not an integer in [${min}, ${max}]`);
  }
  return n;
}

/**
 * The `filters` query parameter (a JSON object of filter name → values) as a
 * map of name → values. Accepts Docker's current form `{"label":["a=b"]}` and
 * the old one `{"label":{"a=b":true}}`; absent or empty → an empty map.
 * DockerError 400 for anything else, naming `filters`.
 */
export function queryFilters(query: URLSearchParams): Map<string, string[]> {
  const raw = query.get('filters');
  const filters = new Map<string, string[]>();
  if (raw === null || raw === '') return filters;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (err) {
    throw dockerError(400, `invalid filters: ${(err as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw dockerError(400, 'invalid filters: expected a JSON object of filter name to values');
  }
  for (const [name, values] of Object.entries(parsed as Record<string, unknown>)) {
    if (Array.isArray(values) && values.every((v) => typeof v === 'string')) {
      filters.set(name, values as string[]);
    } else if (typeof values === 'object' && values !== null && !Array.isArray(values)) {
      filters.set(
        name,
        Object.entries(values as Record<string, unknown>)
          .filter(([, on]) => on === true)
          .map(([v]) => v),
      );
    } else {
      throw dockerError(400, `invalid filters: the values of filter ${name} must be a list of strings`);
    }
  }
  return filters;
}

/**
 * Raises DockerError 400 "invalid filter 'x'" for a filter name outside
 * supported, the way Docker refuses unknown filters.
 */
export function checkFilterNames(filters: Map<string, string[]>, supported: readonly string[]): void {
  for (const name of filters.keys()) {
    if (!supported.includes(name)) throw dockerError(400, `invalid filter '${name}'`);
  }
}

/** The filters of the query as Strata's services take them (`key=value`); a 400 `invalid filter` for one not in supported. */
export function filterList(query: URLSearchParams, supported: readonly string[]): string[] {
  const filters = queryFilters(query);
  checkFilterNames(filters, supported);
  return [...filters].flatMap(([key, values]) => values.map((v) => `${key}=${v}`));
}
