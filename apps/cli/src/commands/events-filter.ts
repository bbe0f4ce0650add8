import { invalidArgument, shortEventType, type CloudEvent } from '@strata/kit';
import { parseReference, type Reference } from '@strata/oci';

/** The filter keys `strata events` knows. */
export const EVENT_FILTER_KEYS = ['container', 'event', 'image', 'node', 'type'] as const;

/** A filter key of `strata events`. */
export type EventFilterKey = (typeof EVENT_FILTER_KEYS)[number];

/** Parsed `--filter` values: for each key given, the values given for it. */
export type EventFilters = Partial<Record<EventFilterKey, string[]>>;

const WORD = /^[a-z][a-z0-9_]*$/;
const DOTTED = /^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$/;

/**
 * Reads `--filter key=value` flags as `docker events` does. Raises
 * InvalidArgument for a value without `=`, an unknown key (listing the known
 * ones), an empty value, or a type/event that is not a lower-case word
 * (`type=container`, `event=exited`, `event=image.pulled`).
 */
export function parseEventFilters(raw: readonly string[]): EventFilters {
  const out: EventFilters = {};
  for (const text of raw) {
    const eq = text.indexOf('=');
    if (eq <= 0) throw invalidArgument(`bad format of filter (expected name=value): ${JSON.stringify(text)}`);
    const key = text.slice(0, eq).trim().toLowerCase();
    const value = text.slice(eq + 1).trim();
    if (!(EVENT_FILTER_KEYS as readonly string[]).includes(key)) {
      throw invalidArgument(`invalid filter ${JSON.stringify(key)}: the event filters are ${EVENT_FILTER_KEYS.map((k) => `${k}=`).join(', ')}`);
    }
    if (value === '') throw invalidArgument(`filter ${key}= needs a value`);
    if (key === 'type' && !WORD.test(value)) {
      throw invalidArgument(`invalid filter type=${value}: an event type is a lower-case word such as container, image, snapshot or node`);
    }
    if (key === 'event' && !DOTTED.test(value)) {
      throw invalidArgument(`invalid filter event=${value}: an event is a lower-case word such as exited or pulled, or a type and event such as image.pulled`);
    }
    (out[key as EventFilterKey] ??= []).push(value);
  }
  return out;
}

/**
 * The one NATS subject the server can filter on for these filters (type and
 * event), so that fewer events travel; `strata.events.>` when they name more
 * than one. Every event still goes through {@link matchesEventFilters}.
 */
export function eventFilterSubject(filters: EventFilters): string {
  const types = filters.type ?? [];
  const events = filters.event ?? [];
  if (types.length > 1 || events.length > 1) return 'strata.events.>';
  const [type] = types;
  const [event] = events;
  if (event?.includes('.')) return type === undefined || event.startsWith(`${type}.`) ? `strata.events.${event}` : 'strata.events.>';
  if (type !== undefined && event !== undefined) return `strata.events.${type}.${event}`;
  if (type !== undefined) return `strata.events.${type}.>`;
  if (event !== undefined) return `strata.events.*.${event}`;
  return 'strata.events.>';
}

/** The node an event is about: `data.node`, else the node of its source (`strata/<service>/<node>`). */
export function eventNode(event: CloudEvent): string | undefined {
  const data = event.data as Record<string, unknown> | null;
  if (data && typeof data === 'object' && typeof data.node === 'string' && data.node !== '') return data.node;
  const parts = event.source.split('/');
  return parts.length >= 3 && parts[0] === 'strata' ? parts.slice(2).join('/') : undefined;
}

function dataString(event: CloudEvent, key: string): string | undefined {
  const data = event.data as Record<string, unknown> | null;
  const value = data && typeof data === 'object' ? data[key] : undefined;
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function containerMatches(event: CloudEvent, wanted: string): boolean {
  const type = shortEventType(event.type);
  // Container and exec events are about a container: their subject and `id` are its id.
  const isContainer = type.startsWith('container.') || type.startsWith('exec.');
  const ids = [dataString(event, 'containerId'), isContainer ? event.subject : undefined, isContainer ? dataString(event, 'id') : undefined];
  const names = [dataString(event, 'containerName'), isContainer ? dataString(event, 'name') : undefined];
  return ids.some((id) => id !== undefined && id.startsWith(wanted)) || names.some((n) => n === wanted || n === `/${wanted}`);
}

function tryReference(text: string): Reference | undefined {
  try {
    return parseReference(text);
  } catch {
    return undefined;
  }
}

/** True when a reference text names a tag or digest (not only a repository). */
function pinsVersion(text: string): boolean {
  return text.includes('@') || text.slice(text.lastIndexOf('/') + 1).includes(':');
}

function imageMatches(event: CloudEvent, wanted: string): boolean {
  const isImage = shortEventType(event.type).startsWith('image.');
  const candidates = [
    isImage ? event.subject : undefined,
    isImage ? dataString(event, 'ref') : undefined,
    dataString(event, 'image'),
    dataString(event, 'imageRef'),
  ].filter((c): c is string => c !== undefined);
  const ids = [dataString(event, 'imageId'), isImage ? dataString(event, 'digest') : undefined].filter((c): c is string => c !== undefined);
  if (candidates.includes(wanted) || ids.includes(wanted)) return true;
  const ref = tryReference(wanted);
  if (!ref) return false;
  const pinned = pinsVersion(wanted);
  return candidates.some((c) => {
    const cand = tryReference(c);
    if (!cand) return false;
    return pinned ? cand.toString() === ref.toString() : cand.name === ref.name;
  });
}

function keyMatches(event: CloudEvent, key: EventFilterKey, wanted: string): boolean {
  const type = shortEventType(event.type);
  const dot = type.indexOf('.');
  switch (key) {
    case 'type':
      return (dot === -1 ? type : type.slice(0, dot)) === wanted;
    case 'event':
      return type === wanted || (dot !== -1 && type.slice(dot + 1) === wanted);
    case 'node':
      return eventNode(event) === wanted;
    case 'container':
      return containerMatches(event, wanted);
    case 'image':
      return imageMatches(event, wanted);
  }
}

/**
 * True when event passes the filters as `docker events` applies them:
 * values of the same key are ORed, different keys ANDed. `type` is the first
 * word of the event type, `event` the rest (or the whole type), `node` the
 * event's node, `container` a container id prefix or exact name (container and exec events,
 * and events whose data has containerId/containerName), `image` a
 * reference (a repository matches every tag of it), an image id or digest.
 */
export function matchesEventFilters(event: CloudEvent, filters: EventFilters): boolean {
  return (Object.entries(filters) as Array<[EventFilterKey, string[]]>).every(([key, values]) =>
    values.some((v) => keyMatches(event, key, v)),
  );
}
