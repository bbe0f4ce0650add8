import { invalidArgument } from '@strata/kit';

/**
 * What the fleet knows about one node: its last heartbeat (the NodeStatus
 * value under its name in the `strata_nodes` bucket) as a domain record.
 */
export interface NodeRecord {
  /** Node name, unique in the fleet. */
  name: string;
  /** `host:port` other hosts reach its node-agent at; empty when it serves only its unix socket. */
  address: string;
  cpus: number;
  memoryBytes: number;
  /** CPUs left for containers: cpus minus the CPU limits of running ones. */
  allocatableCpus: number;
  /** Memory left for containers: memory minus the memory limits of running ones. */
  allocatableMemoryBytes: number;
  runningContainers: number;
  containers: number;
  labels: Record<string, string>;
  /** 1 or 2; 0 when the heartbeat did not say. */
  cgroupVersion: number;
  /** The OCI runtime and its version, e.g. `runc 1.1.5`. */
  runtime: string;
  kernel: string;
  heartbeatAt: Date;
  heartbeatIntervalSeconds: number;
  version: string;
}

/** `ready` while the node heartbeats; `down` when its last heartbeat is older than three intervals. */
export type NodeState = 'ready' | 'down';

/** A node record with its state at the time it was read. */
export interface NodeView extends NodeRecord {
  state: NodeState;
}

/** Heartbeats missed before a node counts as down. */
export const MISSED_HEARTBEATS_DOWN = 3;

/** The interval assumed when a heartbeat does not state one (the node-agent's default). */
export const DEFAULT_HEARTBEAT_INTERVAL_SECONDS = 5;

type Json = Record<string, unknown>;

function field(json: Json, camel: string): unknown {
  if (camel in json) return json[camel];
  const snake = camel.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
  return json[snake];
}

function bad(name: string, what: string): Error {
  return invalidArgument(`invalid node status: ${name} ${what}`, { fields: { field: name } });
}

function stringField(json: Json, name: string): string {
  const value = field(json, name);
  if (value === undefined || value === null) return '';
  if (typeof value !== 'string') throw bad(name, 'must be a string');
  return value;
}

function numberField(json: Json, name: string, integer: boolean): number {
  const value = field(json, name);
  if (value === undefined || value === null) return 0;
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isFinite(n) || n < 0 || (integer && !Number.isInteger(n))) {
    throw bad(name, integer ? 'must be a non-negative integer' : 'must be a non-negative number');
  }
  return n;
}

function labelsField(json: Json): Record<string, string> {
  const value = field(json, 'labels');
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw bad('labels', 'must be an object of strings');
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(value as Json)) {
    if (typeof v !== 'string') throw bad(`labels.${k}`, 'must be a string');
    labels[k] = v;
  }
  return labels;
}

/**
 * Maps a NodeStatus heartbeat in its protobuf JSON mapping (camelCase or
 * snake_case names, zero values omitted, 64-bit integers as numbers or
 * decimal strings, `heartbeatAt` an RFC 3339 timestamp) to a {@link NodeRecord}.
 * Throws InvalidArgument naming the bad field when json is not an object, the
 * name is missing, the heartbeat time is missing or not a timestamp, or a
 * field has the wrong type.
 */
export function parseNodeStatus(json: unknown): NodeRecord {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw invalidArgument('invalid node status: expected a JSON object');
  }
  const obj = json as Json;
  const name = stringField(obj, 'name');
  if (name === '') throw bad('name', 'is missing');
  const at = field(obj, 'heartbeatAt');
  if (at === undefined || at === null) throw bad('heartbeatAt', 'is missing');
  const heartbeatAt = typeof at === 'string' ? new Date(at) : undefined;
  if (heartbeatAt === undefined || Number.isNaN(heartbeatAt.getTime())) throw bad('heartbeatAt', 'must be an RFC 3339 timestamp');
  return {
    name,
    address: stringField(obj, 'address'),
    cpus: numberField(obj, 'cpus', true),
    memoryBytes: numberField(obj, 'memoryBytes', true),
    allocatableCpus: numberField(obj, 'allocatableCpus', false),
    allocatableMemoryBytes: numberField(obj, 'allocatableMemoryBytes', true),
    runningContainers: numberField(obj, 'runningContainers', true),
    containers: numberField(obj, 'containers', true),
    labels: labelsField(obj),
    cgroupVersion: numberField(obj, 'cgroupVersion', true),
    runtime: stringField(obj, 'runtime'),
    kernel: stringField(obj, 'kernel'),
    heartbeatAt,
    heartbeatIntervalSeconds: numberField(obj, 'heartbeatIntervalSeconds', true),
    version: stringField(obj, 'version'),
  };
}

/** How long after its last heartbeat a node counts as down (three intervals), in milliseconds. */
export function downAfterMs(record: Pick<NodeRecord, 'heartbeatIntervalSeconds'>): number {
  const interval = record.heartbeatIntervalSeconds > 0 ? record.heartbeatIntervalSeconds : DEFAULT_HEARTBEAT_INTERVAL_SECONDS;
  return MISSED_HEARTBEATS_DOWN * interval * 1000;
}

/**
 * `down` when the record's heartbeat is older than three heartbeat intervals
 * at `now` (the default interval when the record states none), else `ready`.
 */
export function nodeState(record: NodeRecord, now: Date): NodeState {
  return now.getTime() - record.heartbeatAt.getTime() > downAfterMs(record) ? 'down' : 'ready';
}

/** The record with its state at `now`. */
export function nodeView(record: NodeRecord, now: Date): NodeView {
  return { ...record, state: nodeState(record, now) };
}

/**
 * Where the fleet's nodes are listed: every node that ever heartbeated, each
 * with its state at the time of the call. Implementations raise Unavailable
 * when the store behind them cannot be reached.
 */
export interface NodeDirectory {
  /** Every known node, sorted by name. */
  list(): Promise<NodeView[]>;
  /** The node called name, or undefined when it never heartbeated. */
  get(name: string): Promise<NodeView | undefined>;
}
