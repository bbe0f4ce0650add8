import { shortEventType, type CloudEvent } from '@strata/kit';
import { eventNode } from './events-filter.js';

/** An RFC 3339 time with nanoseconds in UTC, as `docker events` prints it: `2026-11-28T03:25:25.123000000Z`. */
export function nanoTime(iso: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  const fraction = /\.(\d+)(?:Z|[+-]\d{2}:\d{2})$/i.exec(iso)?.[1] ?? '';
  const nanos = (fraction.length > 3 ? fraction : String(date.getUTCMilliseconds()).padStart(3, '0')).padEnd(9, '0').slice(0, 9);
  return `${date.toISOString().slice(0, 19)}.${nanos}Z`;
}

function flatten(prefix: string, value: unknown, out: Array<[string, string]>): void {
  if (value === null || value === undefined) return;
  if (typeof value === 'object' && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) flatten(prefix === '' ? k : `${prefix}.${k}`, v, out);
    return;
  }
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  if (prefix !== '') out.push([prefix, text]);
}

/**
 * The attributes of an event's line: its data's fields flattened
 * (`labels.app=web`) and sorted by name, fields equal to the subject left
 * out (the line shows it), and the node when the data does not carry one.
 */
export function eventAttributes(event: CloudEvent): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  flatten('', event.data, out);
  const attrs = out.filter(([, v]) => v !== event.subject);
  const node = eventNode(event);
  if (node !== undefined && !attrs.some(([k]) => k === 'node')) attrs.push(['node', node]);
  return attrs.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * One line for people, shaped like `docker events`:
 * `<time> <type> <event> <subject> (<attr>=<value>, …)`, e.g.
 * `2026-11-28T03:25:25.000000000Z image pulled docker.io/library/busybox:latest (digest=sha256:…, …)`.
 */
export function formatEventLine(event: CloudEvent): string {
  const type = shortEventType(event.type);
  const dot = type.indexOf('.');
  const [kind, action] = dot === -1 ? [type, ''] : [type.slice(0, dot), type.slice(dot + 1)];
  const attrs = eventAttributes(event);
  const tail = attrs.length === 0 ? '' : ` (${attrs.map(([k, v]) => `${k}=${v}`).join(', ')})`;
  return `${nanoTime(event.time)} ${kind} ${action} ${event.subject}${tail}`;
}
