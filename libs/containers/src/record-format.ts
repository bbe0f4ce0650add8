import { invalidArgument } from '@strata/kit';
import { CONTAINER_ID } from './container-id.js';
import { CONTAINER_NAME } from './container-name.js';
import { MOUNT_TYPES } from './mounts.js';
import { RESTART_POLICY_NAMES } from './restart-policy.js';
import { CONTAINER_STATUSES, type ContainerRecord } from './types.js';

/**
 * Version of the record format written by {@link encodeRecord}. Version 2
 * added spec.mounts; version 1 records are read as containers without
 * mounts.
 */
export const RECORD_VERSION = 2;

/** The durable form of a record: one JSON document with its format version. */
export function encodeRecord(record: ContainerRecord): string {
  return `${JSON.stringify({ version: RECORD_VERSION, ...record }, null, 1)}\n`;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === 'string');
const isMount = (v: unknown): boolean =>
  isObject(v) &&
  (MOUNT_TYPES as readonly unknown[]).includes(v.type) &&
  typeof v.source === 'string' &&
  typeof v.target === 'string' &&
  typeof v.readOnly === 'boolean';

const isRestartPolicy = (v: unknown): boolean =>
  isObject(v) && (RESTART_POLICY_NAMES as readonly unknown[]).includes(v.name) && Number.isInteger(v.maximumRetryCount);

/**
 * Reads a record written by {@link encodeRecord}, checking what the agent
 * relies on: format version, id, name, status, spec, state and network
 * shapes. Raises InvalidArgument "container record <what>: <why>" for
 * anything else (a torn or foreign file).
 */
export function decodeRecord(text: string, what = 'file'): ContainerRecord {
  const fail = (why: string) => invalidArgument(`container record ${what}: ${why}`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw invalidArgument(`container record ${what}: not JSON: ${(cause as Error).message}`, { cause });
  }
  if (!isObject(value)) throw fail('not a JSON object');
  if (value.version !== 1 && value.version !== RECORD_VERSION) throw fail(`unknown format version ${JSON.stringify(value.version)}`);
  const { version, ...rest } = value;
  const r = rest as unknown as ContainerRecord;
  if (version === 1 && isObject(r.spec)) r.spec.mounts = [];
  if (typeof r.id !== 'string' || !CONTAINER_ID.test(r.id)) throw fail('bad id');
  if (typeof r.name !== 'string' || !CONTAINER_NAME.test(r.name)) throw fail('bad name');
  for (const key of ['image', 'imageId', 'manifestDigest', 'created', 'node', 'logPath', 'snapshotKey'] as const) {
    if (typeof r[key] !== 'string') throw fail(`${key} is not a string`);
  }
  if (!isObject(r.spec) || typeof r.spec.image !== 'string' || !isStrings(r.spec.cmd) || !isStrings(r.spec.env) || !Array.isArray(r.spec.ports)) {
    throw fail('bad spec');
  }
  if (!isObject(r.spec.resources) || !isObject(r.spec.labels)) throw fail('bad spec');
  if (!Array.isArray(r.spec.mounts) || !r.spec.mounts.every(isMount)) throw fail('bad mounts');
  // A record without a restart policy (written before there were any) reads as `no`.
  if (r.spec.restartPolicy !== undefined && !isRestartPolicy(r.spec.restartPolicy)) throw fail('bad restart policy');
  if (r.manuallyStopped !== undefined && typeof r.manuallyStopped !== 'boolean') throw fail('bad manuallyStopped');
  if (!isObject(r.state) || !(CONTAINER_STATUSES as readonly unknown[]).includes(r.state.status)) throw fail('bad state');
  if (typeof r.state.pid !== 'number' || typeof r.state.exitCode !== 'number' || typeof r.state.oomKilled !== 'boolean') throw fail('bad state');
  if (!isObject(r.network) || !Array.isArray(r.network.ports)) throw fail('bad network');
  if (!isStrings(r.command)) throw fail('bad command');
  if (typeof r.restartCount !== 'number' || typeof r.oomKillsSeen !== 'number') throw fail('bad counters');
  return r;
}
