import { shortEventType, type CloudEvent } from '@strata/kit';
import { parseReference, type Reference } from '@strata/oci';
import { dockerError } from './docker-error.js';
import { checkFilterNames, queryFilters } from './docker-query.js';
import { familiarRef } from './image-views.js';

/** One event as Docker's `GET /events` streams it. */
export interface DockerEvent {
  /** Legacy fields Docker still sends for container and image events: the action, the actor id, the image. */
  status?: string;
  id?: string;
  from?: string;
  /** `container`, `image` or `volume` (the object types Strata has events of here). */
  Type: string;
  /** `create`, `start`, `die`, `pull`, `exec_start: sh -c …`… */
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  scope: 'local';
  /** Unix seconds. */
  time: number;
  /** Unix nanoseconds, as a decimal string so that no digit is lost (written as a JSON number). */
  timeNano: string;
}

/**
 * How Strata's event types map to Docker's (the table of docs/docker-api.md):
 * the Docker object type and action. `image.deleted` is `untag`, followed
 * by `delete` when no tag is left on the image.
 */
export const DOCKER_EVENT_ACTIONS: Readonly<Record<string, { type: 'container' | 'image' | 'volume'; action: string }>> = {
  'container.created': { type: 'container', action: 'create' },
  'container.started': { type: 'container', action: 'start' },
  'container.exited': { type: 'container', action: 'die' },
  'container.oom': { type: 'container', action: 'oom' },
  'container.deleted': { type: 'container', action: 'destroy' },
  'container.paused': { type: 'container', action: 'pause' },
  'container.unpaused': { type: 'container', action: 'unpause' },
  'container.renamed': { type: 'container', action: 'rename' },
  'container.health_status': { type: 'container', action: 'health_status' },
  'container.committed': { type: 'container', action: 'commit' },
  'exec.started': { type: 'container', action: 'exec_start' },
  'exec.exited': { type: 'container', action: 'exec_die' },
  'image.pulled': { type: 'image', action: 'pull' },
  'image.pushed': { type: 'image', action: 'push' },
  'image.tagged': { type: 'image', action: 'tag' },
  'image.deleted': { type: 'image', action: 'untag' },
  'image.loaded': { type: 'image', action: 'load' },
  'volume.created': { type: 'volume', action: 'create' },
  'volume.deleted': { type: 'volume', action: 'destroy' },
};

/** The subject NATS filters on for Docker `type` filters: only image events for `type=image`, every event otherwise. */
export function dockerEventSubject(filters: DockerEventFilters): string {
  const types = filters.get('type') ?? [];
  return types.length > 0 && types.every((t) => t === 'image') ? 'strata.events.image.>' : 'strata.events.>';
}

function data(event: CloudEvent): Record<string, unknown> {
  return typeof event.data === 'object' && event.data !== null && !Array.isArray(event.data) ? (event.data as Record<string, unknown>) : {};
}

function text(value: unknown): string | undefined {
  if (typeof value === 'string') return value === '' ? undefined : value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return undefined;
}

/** Name of a reference without tag or digest, as Docker's `name` attribute of image events (`busybox`, `ghcr.io/org/app`). */
function familiarName(ref: string): string {
  try {
    const parsed = parseReference(ref);
    const named = parseReference(parsed.name).familiar();
    return named.slice(0, named.lastIndexOf(':'));
  } catch {
    return ref;
  }
}

/** Nanoseconds since the epoch of an RFC 3339 time, keeping every digit of its fraction; undefined when it does not parse. */
export function unixNanos(iso: string): bigint | undefined {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) return undefined;
  const fraction = /\.(\d+)(?:Z|[+-]\d{2}:\d{2})$/i.exec(iso)?.[1] ?? '';
  const seconds = BigInt(Math.floor(ms / 1000));
  const nanos = fraction === '' ? BigInt(ms % 1000) * 1_000_000n : BigInt(fraction.padEnd(9, '0').slice(0, 9));
  return seconds * 1_000_000_000n + nanos;
}

/**
 * The Docker events of a Strata event (see {@link DOCKER_EVENT_ACTIONS});
 * none for events Docker has no object for (snapshots, blobs, nodes).
 * Volume events carry `driver` (no legacy fields, as Docker's).
 * Container events carry the `name` and `image` attributes (and more when
 * the event has them: `exitCode` of die, `execID` of exec events, `imageID`
 * and `imageRef` of commit), image events `name`; `containerAttributes`
 * adds what the event lacks (the image, the container's labels) when the
 * caller knows it.
 */
export function dockerEventsOf(event: CloudEvent, containerAttributes: Record<string, string> = {}): DockerEvent[] {
  const type = shortEventType(event.type);
  const mapped = DOCKER_EVENT_ACTIONS[type];
  if (mapped === undefined) return [];
  const d = data(event);
  const nanos = unixNanos(event.time) ?? 0n;
  const time = Number(nanos / 1_000_000_000n);
  const make = (action: string, id: string, attributes: Record<string, string>): DockerEvent => {
    // Docker fills the legacy fields for container and image events only.
    const legacy =
      mapped.type === 'container'
        ? { status: action, id, ...(attributes.image === undefined ? {} : { from: attributes.image }) }
        : mapped.type === 'image'
          ? { status: action, id }
          : {};
    return { ...legacy, Type: mapped.type, Action: action, Actor: { ID: id, Attributes: attributes }, scope: 'local', time, timeNano: nanos.toString() };
  };
  const put = (attrs: Record<string, string>, key: string, value: unknown) => {
    const v = text(value);
    if (v !== undefined) attrs[key] = v;
  };

  if (mapped.type === 'container') {
    const id = text(d.id) ?? event.subject;
    const attrs: Record<string, string> = { ...containerAttributes };
    put(attrs, 'image', d.image);
    put(attrs, 'name', d.name);
    let action = mapped.action;
    switch (type) {
      case 'container.exited':
        attrs.exitCode = String(typeof d.exitCode === 'number' ? d.exitCode : 0);
        break;
      case 'container.committed':
        put(attrs, 'imageID', d.imageId);
        if (text(d.reference) !== undefined) attrs.imageRef = familiarRef(String(d.reference));
        break;
      case 'exec.started': {
        put(attrs, 'execID', d.execId);
        const args = Array.isArray(d.args) ? d.args.filter((a): a is string => typeof a === 'string') : [];
        action = `exec_start: ${args.join(' ')}`;
        break;
      }
      case 'container.health_status':
        // Docker's action carries the verdict: `health_status: healthy`.
        if (text(d.status) !== undefined) action = `health_status: ${String(d.status)}`;
        break;
      case 'container.renamed':
        // Docker names the old name with its leading slash.
        if (text(d.oldName) !== undefined) attrs.oldName = `/${String(d.oldName)}`;
        break;
      case 'exec.exited':
        put(attrs, 'execID', d.execId);
        attrs.exitCode = String(typeof d.exitCode === 'number' ? d.exitCode : 0);
        break;
    }
    return [make(action, id, attrs)];
  }

  if (mapped.type === 'volume') return [make(mapped.action, text(d.name) ?? event.subject, { driver: text(d.driver) ?? 'local' })];

  const ref = text(d.ref) ?? event.subject;
  switch (type) {
    case 'image.pulled':
      return [make('pull', familiarRef(ref), { name: familiarName(ref) })];
    case 'image.pushed': {
      const target = text(d.target) ?? ref;
      return [make('push', familiarRef(target), { name: familiarName(target) })];
    }
    case 'image.tagged':
      return [make('tag', text(d.digest) ?? ref, { name: familiarRef(ref) })];
    case 'image.loaded':
      return [make('load', text(d.imageId) ?? familiarRef(ref), text(d.ref) === undefined ? {} : { name: familiarRef(ref) })];
    case 'image.deleted': {
      const id = text(d.digest) ?? ref;
      const untag = make('untag', id, { name: familiarRef(ref) });
      return d.imageDeleted === true ? [untag, make('delete', id, { name: familiarRef(ref) })] : [untag];
    }
    default:
      return [];
  }
}

/** One event as the line `GET /events` writes (timeNano as an exact JSON integer), without the newline. */
export function formatDockerEvent(event: DockerEvent): string {
  const { timeNano, ...rest } = event;
  return `${JSON.stringify(rest).slice(0, -1)},"timeNano":${/^\d+$/.test(timeNano) ? timeNano : '0'}}`;
}

/** The filter names of Docker's `GET /events`. */
export const DOCKER_EVENT_FILTERS = [
  'config',
  'container',
  'daemon',
  'event',
  'image',
  'label',
  'network',
  'node',
  'plugin',
  'scope',
  'secret',
  'service',
  'type',
  'volume',
] as const;

/** Docker's event filters: name → values (values of a name ORed, except label, whose values are ANDed as Docker does). */
export type DockerEventFilters = Map<string, string[]>;

/**
 * The `filters` query parameter of `GET /events`. DockerError 400 for
 * malformed JSON or a filter name Docker does not know (`invalid filter 'x'`).
 */
export function parseDockerEventFilters(query: URLSearchParams): DockerEventFilters {
  const filters = queryFilters(query);
  checkFilterNames(filters, DOCKER_EVENT_FILTERS);
  return filters;
}

function tryReference(value: string): Reference | undefined {
  try {
    return parseReference(value);
  } catch {
    return undefined;
  }
}

function imageMatches(event: DockerEvent, wanted: string): boolean {
  const candidates =
    event.Type === 'image' ? [event.Actor.ID, event.Actor.Attributes.name] : [event.Actor.Attributes.image, event.Actor.Attributes.imageID];
  const present = candidates.filter((c): c is string => c !== undefined && c !== '');
  if (present.includes(wanted)) return true;
  const ref = tryReference(wanted);
  if (ref === undefined) return false;
  const pinned = wanted.includes('@') || wanted.slice(wanted.lastIndexOf('/') + 1).includes(':');
  return present.some((c) => {
    const cand = tryReference(c);
    return cand !== undefined && (pinned ? cand.toString() === ref.toString() : cand.name === ref.name);
  });
}

function labelMatches(attributes: Record<string, string>, wanted: string): boolean {
  const eq = wanted.indexOf('=');
  if (eq === -1) return Object.hasOwn(attributes, wanted);
  return attributes[wanted.slice(0, eq)] === wanted.slice(eq + 1);
}

/**
 * True when a Docker event passes Docker's event filters: values of one
 * filter are ORed, different filters ANDed; `type` and `event` (the action,
 * or its part before `:` as in `exec_start: sh`) match exactly; `container`
 * an id prefix or the name (container events only); `image` an image name
 * (a repository matches all its tags), reference or id; every `label`
 * (`key` or `key=value`) among the attributes; `scope` is `local`;
 * `volume` a volume's name (volume events only). Filters on objects Strata
 * has no events of (network, daemon, plugin, node, service, secret,
 * config) match nothing.
 */
export function matchesDockerEventFilters(event: DockerEvent, filters: DockerEventFilters): boolean {
  for (const [name, values] of filters) {
    if (values.length === 0) continue;
    let ok: boolean;
    switch (name) {
      case 'type':
        ok = values.includes(event.Type);
        break;
      case 'event':
        ok = values.includes(event.Action) || values.includes(event.Action.split(':')[0]!.trim());
        break;
      case 'container':
        ok =
          event.Type === 'container' &&
          values.some((v) => event.Actor.ID.startsWith(v) || event.Actor.Attributes.name === v || event.Actor.Attributes.name === v.replace(/^\//, ''));
        break;
      case 'image':
        ok = values.some((v) => imageMatches(event, v));
        break;
      case 'label':
        ok = values.every((v) => labelMatches(event.Actor.Attributes, v));
        break;
      case 'scope':
        ok = values.includes('local');
        break;
      case 'volume':
        ok = event.Type === 'volume' && values.includes(event.Actor.ID);
        break;
      default:
        ok = false;
    }
    if (!ok) return false;
  }
  return true;
}

const TIMESTAMP = /^(\d{1,12})(?:\.(\d{1,9}))?$/;

/**
 * A `since`/`until` value of `GET /events` as the docker CLI sends it
 * (Unix seconds with an optional fraction, `1764300325.123456789`) or an
 * RFC 3339 time; undefined when absent or empty. DockerError 400 naming the
 * parameter for anything else.
 */
export function parseDockerTimestamp(query: URLSearchParams, name: string): Date | undefined {
  const value = (query.get(name) ?? '').trim();
  if (value === '') return undefined;
  const unix = TIMESTAMP.exec(value);
  if (unix) return new Date(Number(unix[1]) * 1000 + Math.floor(Number(`0.${unix[2] ?? '0'}`) * 1000));
  if (/^\d{4}-\d{2}-\d{2}T/.test(value)) {
    const ms = Date.parse(value);
    if (!Number.isNaN(ms)) return new Date(ms);
  }
  throw dockerError(400, `invalid value for ${name}: ${JSON.stringify(value)} is neither Unix seconds (1764300325.5) nor an RFC 3339 time`);
}
