import { invalidArgument } from '@strata/kit';
import type { ContainerRecord } from './types.js';

/** The filters of `container prune`, as Docker's: labels that must (or must not) be there, and a creation time bound. */
export interface PruneFilters {
  /** label=KEY or label=KEY=VALUE: all must match. */
  label: Array<{ key: string; value?: string }>;
  /** label!=KEY or label!=KEY=VALUE: none may match. */
  notLabel: Array<{ key: string; value?: string }>;
  /** until=TIME: only containers created before it (milliseconds since the epoch). */
  until?: number;
}

const DURATION_UNITS: Readonly<Record<string, number>> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1 };

/**
 * A point in time as Docker's `until` takes it: Unix seconds (fractions
 * allowed), an RFC 3339 date or date-time, or a duration before now
 * (`10m`, `1h30m`, `90s`). InvalidArgument otherwise.
 */
export function parseUntil(text: string, now: Date): number {
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text) * 1000;
  if (/^(\d+(\.\d+)?(h|ms|m|s))+$/.test(text)) {
    let ms = 0;
    for (const m of text.matchAll(/(\d+(?:\.\d+)?)(h|ms|m|s)/g)) ms += Number(m[1]) * DURATION_UNITS[m[2]!]!;
    return now.getTime() - ms;
  }
  if (/^\d{4}-\d{2}-\d{2}/.test(text)) {
    const at = Date.parse(text);
    if (!Number.isNaN(at)) return at;
  }
  throw invalidArgument(`invalid until value ${JSON.stringify(text)}: use Unix seconds, an RFC 3339 time or a duration such as 10m or 1h30m`);
}

/** Reads `key=value` prune filters: label, label!, until. InvalidArgument naming any other or a malformed one. */
export function parsePruneFilters(filters: readonly string[], now: Date): PruneFilters {
  const out: PruneFilters = { label: [], notLabel: [] };
  const labelOf = (value: string) => {
    const at = value.indexOf('=');
    return at < 0 ? { key: value } : { key: value.slice(0, at), value: value.slice(at + 1) };
  };
  for (const filter of filters) {
    const m = /^(label!|label|until)=(.+)$/s.exec(filter);
    if (m === null) throw invalidArgument(`invalid prune filter ${JSON.stringify(filter)}: use label=KEY[=VALUE], label!=KEY[=VALUE] or until=TIME`);
    const [, key, value] = m as unknown as [string, string, string];
    if (key === 'label') out.label.push(labelOf(value));
    else if (key === 'label!') out.notLabel.push(labelOf(value));
    else out.until = parseUntil(value, now);
  }
  return out;
}

/** Whether a container passes the filters (its state is not looked at). */
export function matchesPruneFilters(record: ContainerRecord, f: PruneFilters): boolean {
  const labels = record.spec.labels;
  const has = (l: { key: string; value?: string }) => (l.value === undefined ? l.key in labels : labels[l.key] === l.value);
  if (!f.label.every(has) || f.notLabel.some(has)) return false;
  return f.until === undefined || Date.parse(record.created) < f.until;
}
