import { ContainerCreated, ContainerDeleted, ContainerExited, ContainerOom, ContainerStarted } from '@strata/api/events/v1/containers';
import { shortEventType, type CloudEvent } from '@strata/kit';

/** Where a container is in its life, as its events tell it. */
export type ContainerStatus = 'created' | 'running' | 'exited';

/** One container as the table knows it from its events. */
export interface ContainerRow {
  node: string;
  id: string;
  name: string;
  /** The image as asked for; '' when the container.created event was not seen (the stream had dropped it). */
  image: string;
  status: ContainerStatus;
  /** Of the last exit, when status is exited. */
  exitCode?: number;
  /** The last exit was the OOM killer's. */
  oomKilled: boolean;
  /** container.oom events since it was last started. */
  oomKills: number;
  /** Time of the last event applied to it. */
  updatedAt: string;
}

interface Entry {
  /** Undefined once container.deleted was applied: later events for it change nothing. */
  row: ContainerRow | undefined;
  /** Ids of the events applied to this container, to drop redeliveries. */
  seen: ReadonlySet<string>;
}

/**
 * The table: containers keyed by node and id, with the event ids already
 * applied to each. Treat it as immutable; {@link applyEvent} returns a new one.
 */
export interface TableState {
  readonly entries: ReadonlyMap<string, Entry>;
  /** Events that changed the table. */
  readonly applied: number;
  /** Container events dropped as repeats of an applied event id, or arriving after the container's deletion. */
  readonly ignored: number;
}

/** The table before any event. */
export function emptyTable(): TableState {
  return { entries: new Map(), applied: 0, ignored: 0 };
}

/** The container event types the table follows. */
export const CONTAINER_EVENT_TYPES = ['container.created', 'container.started', 'container.exited', 'container.oom', 'container.deleted'] as const;

type ContainerEventType = (typeof CONTAINER_EVENT_TYPES)[number];

function isContainerEvent(type: string): type is ContainerEventType {
  return (CONTAINER_EVENT_TYPES as readonly string[]).includes(type);
}

/** The fields of a container event's data (the JSON mapping of its proto message) that the table uses. */
interface EventFields {
  id: string;
  name: string;
  node: string;
  image?: string;
  exitCode?: number;
  oomKilled?: boolean;
}

function decode(type: ContainerEventType, data: unknown): EventFields {
  const json = typeof data === 'object' && data !== null ? data : {};
  switch (type) {
    case 'container.created': {
      const m = ContainerCreated.fromJSON(json);
      return { id: m.id, name: m.name, node: m.node, image: m.image };
    }
    case 'container.started': {
      const m = ContainerStarted.fromJSON(json);
      return { id: m.id, name: m.name, node: m.node };
    }
    case 'container.exited': {
      const m = ContainerExited.fromJSON(json);
      return { id: m.id, name: m.name, node: m.node, exitCode: m.exitCode, oomKilled: m.oomKilled };
    }
    case 'container.oom': {
      const m = ContainerOom.fromJSON(json);
      return { id: m.id, name: m.name, node: m.node };
    }
    case 'container.deleted': {
      const m = ContainerDeleted.fromJSON(json);
      return { id: m.id, name: m.name, node: m.node };
    }
  }
}

/** The node of an event: its data's node, else the last part of its source `strata/<service>/<node>`. */
function nodeOf(event: CloudEvent, dataNode: string): string {
  if (dataNode !== '') return dataNode;
  const parts = event.source.split('/');
  return parts.length >= 3 ? (parts.at(-1) ?? '') : '';
}

/**
 * Applies one CloudEvent to the table and returns the new table; never
 * throws and does no I/O. Events other than container.created, started,
 * exited, oom and deleted return state itself. An event whose id was already
 * applied to its container (an at-least-once redelivery), and any event for
 * a container after its container.deleted, change nothing but the
 * `ignored` count. Events of a container whose container.created is not in
 * the stream (trimmed by its limits) still make a row, with the fields they
 * carry.
 */
export function applyEvent(state: TableState, event: CloudEvent): TableState {
  const type = shortEventType(event.type);
  if (!isContainerEvent(type)) return state;
  const fields = decode(type, event.data);
  const id = fields.id === '' ? event.subject : fields.id;
  const node = nodeOf(event, fields.node);
  const key = `${node}/${id}`;
  const entry = state.entries.get(key);
  if (entry !== undefined && (entry.seen.has(event.id) || entry.row === undefined)) {
    return { ...state, ignored: state.ignored + 1 };
  }

  const previous: ContainerRow = entry?.row ?? { node, id, name: '', image: '', status: 'created', oomKilled: false, oomKills: 0, updatedAt: '' };
  const base: ContainerRow = { ...previous, name: fields.name || previous.name, updatedAt: event.time };
  let row: ContainerRow | undefined;
  switch (type) {
    case 'container.created':
      row = { ...base, image: fields.image || base.image };
      break;
    case 'container.started': {
      const { exitCode: _exitCode, ...rest } = base;
      row = { ...rest, status: 'running', oomKilled: false, oomKills: 0 };
      break;
    }
    case 'container.exited':
      row = { ...base, status: 'exited', exitCode: fields.exitCode ?? 0, oomKilled: fields.oomKilled ?? false };
      break;
    case 'container.oom':
      row = { ...base, oomKills: base.oomKills + 1 };
      break;
    case 'container.deleted':
      row = undefined;
      break;
  }
  const entries = new Map(state.entries);
  entries.set(key, { row, seen: new Set(entry?.seen ?? []).add(event.id) });
  return { entries, applied: state.applied + 1, ignored: state.ignored };
}

/** Applies events in order; see {@link applyEvent}. */
export function applyEvents(state: TableState, events: Iterable<CloudEvent>): TableState {
  let next = state;
  for (const event of events) next = applyEvent(next, event);
  return next;
}

/** The containers not deleted, by node, then name, then id. */
export function tableRows(state: TableState): ContainerRow[] {
  return [...state.entries.values()]
    .flatMap((e) => (e.row === undefined ? [] : [e.row]))
    .sort((a, b) => a.node.localeCompare(b.node) || a.name.localeCompare(b.name) || a.id.localeCompare(b.id));
}
