import { invalidArgument } from '@strata/kit';

/** The filters of List, parsed: every one must match for an image to be listed. */
export interface ListFilters {
  /** Patterns of `reference=`; a tag is kept when it matches every one. */
  references: RegExp[];
  /** `label=key` (value undefined) or `label=key=value`. */
  labels: Array<{ key: string; value?: string }>;
  /** Refs of `before=`. */
  before: string[];
  /** Refs of `since=`. */
  since: string[];
}

const KEYS = new Set(['reference', 'label', 'before', 'since']);

/**
 * Turns a `docker images --filter reference=` pattern into a regular
 * expression with path.Match's rules: `*` is any run of characters other
 * than `/`, `?` one such character, `[…]` a class (`[^…]` negated, ranges
 * allowed), `\` escapes. InvalidArgument for an unclosed class or a
 * trailing backslash.
 */
export function referencePattern(pattern: string): RegExp {
  let out = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] as string;
    if (c === '*') out += '[^/]*';
    else if (c === '?') out += '[^/]';
    else if (c === '\\') {
      const next = pattern[++i];
      if (next === undefined) throw invalidArgument(`invalid reference filter ${JSON.stringify(pattern)}: it ends with a backslash`);
      out += escape(next);
    } else if (c === '[') {
      const end = pattern.indexOf(']', i + 2);
      if (end === -1) throw invalidArgument(`invalid reference filter ${JSON.stringify(pattern)}: "[" without a closing "]"`);
      let body = pattern.slice(i + 1, end);
      const negated = body.startsWith('^');
      if (negated) body = body.slice(1);
      out += `[${negated ? '^/' : ''}${body.replace(/[\\\]]/g, (m) => `\\${m}`)}]`;
      i = end;
    } else out += escape(c);
  }
  try {
    return new RegExp(`^${out}$`);
  } catch (cause) {
    throw invalidArgument(`invalid reference filter ${JSON.stringify(pattern)}: ${(cause as Error).message}`, { cause });
  }
}

function escape(c: string): string {
  return /[.*+?^${}()|[\]\\/]/.test(c) ? `\\${c}` : c;
}

/**
 * Parses List's filters, `key=value` each, keys `reference`, `label`,
 * `before`, `since`. InvalidArgument with Docker's texts: `bad format of
 * filter (expected name=value)` for one without `=` or with an empty value,
 * `invalid filter '<key>'` for an unknown key; and for a malformed
 * reference pattern (see {@link referencePattern}).
 */
export function parseListFilters(filters: readonly string[]): ListFilters {
  const out: ListFilters = { references: [], labels: [], before: [], since: [] };
  for (const filter of filters) {
    const eq = filter.indexOf('=');
    if (eq <= 0 || eq === filter.length - 1) throw invalidArgument('bad format of filter (expected name=value)', { fields: { filter: filter.slice(0, 200) } });
    const key = filter.slice(0, eq).trim().toLowerCase();
    const value = filter.slice(eq + 1);
    if (!KEYS.has(key)) throw invalidArgument(`invalid filter '${key.slice(0, 100)}'`, { fields: { filter: filter.slice(0, 200) } });
    if (key === 'reference') out.references.push(referencePattern(value));
    else if (key === 'label') {
      const inner = value.indexOf('=');
      out.labels.push(inner === -1 ? { key: value } : { key: value.slice(0, inner), value: value.slice(inner + 1) });
    } else if (key === 'before') out.before.push(value);
    else out.since.push(value);
  }
  return out;
}

/** The forms of a tag a reference pattern is matched against: familiar and full, with and without the tag. */
export function referenceForms(full: string, familiar: string): string[] {
  const strip = (s: string) => {
    const colon = s.lastIndexOf(':');
    return colon > s.lastIndexOf('/') ? s.slice(0, colon) : s;
  };
  return [familiar, strip(familiar), full, strip(full)];
}

/** True when some form of the tag matches every pattern. */
export function matchesReferences(patterns: readonly RegExp[], forms: readonly string[]): boolean {
  return patterns.every((p) => forms.some((f) => p.test(f)));
}
