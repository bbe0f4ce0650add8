import { failedPrecondition, invalidArgument, notFound } from '@strata/kit';

/** A valid volume name (Docker's local driver): at least two characters. */
export const VOLUME_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

/** The label Docker puts on anonymous volumes (`-v /path`); prune without `all` removes only these. */
export const ANONYMOUS_VOLUME_LABEL = 'com.docker.volume.anonymous';

/** What the node keeps of a volume besides its data. */
export interface VolumeRecord {
  name: string;
  driver: 'local';
  /** RFC 3339. */
  createdAt: string;
  labels: Record<string, string>;
}

/** A volume with the containers that have it. */
export interface VolumeUse {
  volume: VolumeRecord;
  /** Ids of the containers (of any state) whose mounts name it. */
  usedBy: string[];
}

/**
 * Checks a volume name with Docker's rule; InvalidArgument with its text
 * ("create x: \"x\" includes invalid characters for a local volume name, …").
 */
export function checkVolumeName(name: string): string {
  if (!VOLUME_NAME.test(name)) {
    throw invalidArgument(
      `create ${name}: "${name}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`,
      { fields: { volume: name } },
    );
  }
  return name;
}

/** NotFound "get NAME: no such volume", Docker's text. */
export function noSuchVolume(name: string): Error {
  return notFound(`get ${name}: no such volume`, { fields: { volume: name } });
}

/** FailedPrecondition "remove NAME: volume is in use - [id, …]", Docker's text. */
export function volumeInUse(name: string, ids: readonly string[]): Error {
  return failedPrecondition(`remove ${name}: volume is in use - [${ids.join(', ')}]`, { fields: { volume: name } });
}

const FILTER_KEYS = ['name', 'label', 'driver', 'dangling'];

/**
 * A predicate of `docker volume ls --filter` values: name (substring),
 * label=k or label=k=v, driver, dangling=true|false (1|0); same keys OR,
 * different keys AND. InvalidArgument naming a bad filter.
 */
export function volumeFilter(filters: readonly string[]): (use: VolumeUse) => boolean {
  const byKey = new Map<string, string[]>();
  for (const f of filters) {
    const eq = f.indexOf('=');
    const key = eq < 0 ? f : f.slice(0, eq);
    if (eq <= 0 || !FILTER_KEYS.includes(key)) throw invalidArgument(`invalid filter '${key}'`);
    const value = f.slice(eq + 1);
    if (key === 'dangling' && !['true', 'false', '1', '0'].includes(value)) throw invalidArgument(`invalid filter 'dangling=${value}'`);
    byKey.set(key, [...(byKey.get(key) ?? []), value]);
  }
  const test = (key: string, value: string, use: VolumeUse): boolean => {
    switch (key) {
      case 'name':
        return use.volume.name.includes(value);
      case 'driver':
        return use.volume.driver === value;
      case 'dangling':
        return (use.usedBy.length === 0) === (value === 'true' || value === '1');
      default: {
        const eq = value.indexOf('=');
        const k = eq < 0 ? value : value.slice(0, eq);
        return k in use.volume.labels && (eq < 0 || use.volume.labels[k] === value.slice(eq + 1));
      }
    }
  };
  return (use) => [...byKey].every(([key, values]) => values.some((v) => test(key, v, use)));
}

/** Version of {@link encodeVolume}'s format. */
const VOLUME_RECORD_VERSION = 1;

/** The durable form of a volume's record. */
export function encodeVolume(volume: VolumeRecord): string {
  return `${JSON.stringify({ version: VOLUME_RECORD_VERSION, ...volume }, null, 1)}\n`;
}

/** Reads {@link encodeVolume}'s form; InvalidArgument "volume record <what>: <why>" for anything else. */
export function decodeVolume(text: string, what = 'file'): VolumeRecord {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw invalidArgument(`volume record ${what}: not JSON`, { cause });
  }
  const v = value as Partial<VolumeRecord> & { version?: unknown };
  const ok =
    typeof value === 'object' &&
    value !== null &&
    v.version === VOLUME_RECORD_VERSION &&
    typeof v.name === 'string' &&
    VOLUME_NAME.test(v.name) &&
    v.driver === 'local' &&
    typeof v.createdAt === 'string' &&
    typeof v.labels === 'object' &&
    v.labels !== null &&
    Object.values(v.labels).every((l) => typeof l === 'string');
  if (!ok) throw invalidArgument(`volume record ${what}: not a volume record of version ${VOLUME_RECORD_VERSION}`);
  return { name: v.name!, driver: 'local', createdAt: v.createdAt!, labels: { ...v.labels } };
}
