import { invalidArgument } from '@strata/kit';
import { CONTAINER_STATUSES, type ContainerRecord, type ContainerStatus } from './types.js';

/** Parsed `docker ps --filter` values: same keys OR, different keys AND. */
export interface ListFilters {
  id: string[];
  name: string[];
  /** `k` or `k=v`. */
  label: { key: string; value?: string }[];
  status: ContainerStatus[];
  ancestor: string[];
  exited: number[];
  /** `starting`, `healthy`, `unhealthy`, or `none` for a container without checks. */
  health: string[];
}

const KEYS = ['id', 'name', 'label', 'status', 'ancestor', 'exited', 'health'] as const;
const HEALTH_VALUES = ['starting', 'healthy', 'unhealthy', 'none'];

/**
 * Parses `key=value` filters. Raises InvalidArgument "invalid filter 'x'"
 * for an unknown key or a filter without `=`, "Unrecognised filter value
 * for status: x" for an unknown status (likewise for health: starting,
 * healthy, unhealthy, none), and "invalid filter 'exited=x'"
 * for an exit code that is not a number, as Docker does.
 */
export function parseListFilters(filters: readonly string[]): ListFilters {
  const out: ListFilters = { id: [], name: [], label: [], status: [], ancestor: [], exited: [], health: [] };
  for (const filter of filters) {
    const eq = filter.indexOf('=');
    const key = eq < 0 ? filter : filter.slice(0, eq);
    const value = eq < 0 ? '' : filter.slice(eq + 1);
    if (eq < 0 || !(KEYS as readonly string[]).includes(key)) throw invalidArgument(`invalid filter '${filter}'`);
    switch (key as (typeof KEYS)[number]) {
      case 'id':
        out.id.push(value);
        break;
      case 'name':
        out.name.push(value);
        break;
      case 'label': {
        const at = value.indexOf('=');
        out.label.push(at < 0 ? { key: value } : { key: value.slice(0, at), value: value.slice(at + 1) });
        break;
      }
      case 'status':
        if (!(CONTAINER_STATUSES as readonly string[]).includes(value)) throw invalidArgument(`Unrecognised filter value for status: ${value}`);
        out.status.push(value as ContainerStatus);
        break;
      case 'ancestor':
        out.ancestor.push(value);
        break;
      case 'exited':
        if (!/^-?[0-9]+$/.test(value)) throw invalidArgument(`invalid filter 'exited=${value}'`);
        out.exited.push(Number(value));
        break;
      case 'health':
        if (!HEALTH_VALUES.includes(value)) throw invalidArgument(`Unrecognised filter value for health: ${value}`);
        out.health.push(value);
        break;
    }
  }
  return out;
}

/** Docker's matching of an ancestor filter: the reference as given, with `:latest` implied, or an image id or its prefix. */
function ancestorMatches(record: ContainerRecord, ancestor: string): boolean {
  const withTag = (ref: string) => (/:[^/]*$/.test(ref) || ref.includes('@') ? ref : `${ref}:latest`);
  if (withTag(record.image) === withTag(ancestor)) return true;
  const hex = ancestor.startsWith('sha256:') ? ancestor.slice(7) : ancestor;
  return /^[0-9a-f]{4,64}$/.test(hex) && record.imageId.slice(7).startsWith(hex);
}

/** True when record passes the filters (an id filter is a prefix, a name filter a substring, as `docker ps`). */
export function matchesFilters(record: ContainerRecord, f: ListFilters): boolean {
  const any = <T>(values: T[], test: (v: T) => boolean) => values.length === 0 || values.some(test);
  return (
    any(f.id, (v) => record.id.startsWith(v)) &&
    any(f.name, (v) => record.name.includes(v.startsWith('/') ? v.slice(1) : v)) &&
    f.label.every((l) => (l.value === undefined ? l.key in record.spec.labels : record.spec.labels[l.key] === l.value)) &&
    any(f.status, (s) => record.state.status === s) &&
    any(f.ancestor, (a) => ancestorMatches(record, a)) &&
    any(f.exited, (code) => record.state.status === 'exited' && record.state.exitCode === code) &&
    any(f.health, (h) => (record.healthCheck === undefined ? h === 'none' : record.state.health?.status === h))
  );
}

/**
 * The containers `ps` shows, newest first: running (paused, restarting) ones, or
 * all with all; a status or exited filter implies all, as Docker does.
 * Raises what parseListFilters raises.
 */
export function listContainers(records: Iterable<ContainerRecord>, options: { all?: boolean; filters?: readonly string[] } = {}): ContainerRecord[] {
  const f = parseListFilters(options.filters ?? []);
  const all = options.all === true || f.status.length > 0 || f.exited.length > 0;
  return [...records]
    .filter((r) => (all || ['running', 'paused', 'restarting'].includes(r.state.status)) && matchesFilters(r, f))
    .sort((a, b) => Date.parse(b.created) - Date.parse(a.created) || b.id.localeCompare(a.id));
}
