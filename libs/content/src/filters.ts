import { invalidArgument } from '@strata/kit';

type Predicate = (fields: (name: string) => string | undefined) => boolean;

const FILTER = /^([A-Za-z0-9_.\-/]+?)\s*(==|!=|~=)\s*(.*)$/s;

function parseOne(filter: string): Predicate {
  const m = FILTER.exec(filter.trim());
  if (m === null) {
    const name = filter.trim();
    if (!/^[A-Za-z0-9_.\-/]+$/.test(name)) {
      throw invalidArgument(`invalid filter ${JSON.stringify(filter)}: expected field==value, field!=value, field~=regexp or field`);
    }
    return (get) => get(name) !== undefined;
  }
  const [, name = '', op, rawValue = ''] = m;
  const value = rawValue.replace(/^"(.*)"$/s, '$1');
  if (op === '==') return (get) => get(name) === value;
  if (op === '!=') return (get) => get(name) !== value;
  let re: RegExp;
  try {
    if (value.length > 256) throw new Error('longer than 256 characters');
    re = new RegExp(value);
  } catch (cause) {
    throw invalidArgument(`invalid filter ${JSON.stringify(filter)}: bad regexp: ${(cause as Error).message}`, { cause });
  }
  return (get) => {
    const v = get(name);
    return v !== undefined && re.test(v);
  };
}

/**
 * Compiles containerd-style filters into one predicate over an object's
 * fields: every filter must match. Each filter is `field==value`,
 * `field!=value`, `field~=regexp` or a bare `field` (it is set). Field names
 * are what `fields` answers, e.g. `digest`, `size`, `ref`, `labels.<key>`.
 * InvalidArgument for a malformed filter or regexp.
 */
export function parseFilters(filters: readonly string[] = []): Predicate {
  const predicates = filters.filter((f) => f.trim() !== '').map(parseOne);
  return (get) => predicates.every((p) => p(get));
}

/** Field accessor for a blob's Info or an ingest's Status. */
export function fieldsOf(object: { labels?: Record<string, string> } & Record<string, unknown>) {
  return (name: string): string | undefined => {
    if (name.startsWith('labels.')) {
      const key = name.slice('labels.'.length);
      return object.labels !== undefined && Object.hasOwn(object.labels, key) ? object.labels[key] : undefined;
    }
    if (!Object.hasOwn(object, name)) return undefined;
    const v = object[name];
    return v === undefined || v === null ? undefined : v instanceof Date ? v.toISOString() : String(v);
  };
}
