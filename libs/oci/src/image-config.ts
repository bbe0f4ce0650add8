import type { Digest } from './digest.js';
import { JsonReader, isObject, join, type JsonObject } from './json-reader.js';
import { MAX_MANIFEST_BYTES, checkContentDigest } from './manifest.js';

/** A container health check as Docker records it; durations in nanoseconds. */
export interface HealthConfig {
  /** `["NONE"]`, `["CMD", args…]` or `["CMD-SHELL", command]`. */
  Test?: string[];
  Interval?: number;
  Timeout?: number;
  StartPeriod?: number;
  StartInterval?: number;
  Retries?: number;
}

/** The run configuration an image carries (the `config` field of an image config). */
export interface ContainerConfig {
  /** `user`, `uid`, `user:group` or `uid:gid`. */
  User?: string;
  /** Ports as `port/proto` keys (`80/tcp`); values are empty objects. */
  ExposedPorts?: Record<string, Record<string, never>>;
  /** `KEY=value` entries. */
  Env?: string[];
  Entrypoint?: string[];
  Cmd?: string[];
  /** Container paths as keys; values are empty objects. */
  Volumes?: Record<string, Record<string, never>>;
  WorkingDir?: string;
  Labels?: Record<string, string>;
  /** Signal name or number, e.g. `SIGTERM`. */
  StopSignal?: string;
  ArgsEscaped?: boolean;
  Healthcheck?: HealthConfig;
  OnBuild?: string[];
  Shell?: string[];
}

/** The layers of an image as the digests of their uncompressed tars, bottom first. */
export interface RootFs {
  type: 'layers';
  diff_ids: Digest[];
}

/** One step of an image's history; `empty_layer` steps added no layer. */
export interface HistoryEntry {
  /** RFC 3339 time. */
  created?: string;
  created_by?: string;
  author?: string;
  comment?: string;
  empty_layer?: boolean;
}

/** An image config (OCI `application/vnd.oci.image.config.v1+json`, or Docker's, which has the same shape). */
export interface ImageConfig {
  /** RFC 3339 time. */
  created?: string;
  author?: string;
  architecture: string;
  os: string;
  'os.version'?: string;
  'os.features'?: string[];
  variant?: string;
  config?: ContainerConfig;
  rootfs: RootFs;
  history?: HistoryEntry[];
}

/** Limits and checks for {@link parseImageConfig}. */
export interface ParseImageConfigOptions {
  /** Largest config in bytes; default 4 MiB. */
  maxBytes?: number;
  /** The digest the bytes must have (checked before they are parsed). */
  expectedDigest?: Digest;
}

const TOP_FIELDS = ['created', 'author', 'architecture', 'os', 'os.version', 'os.features', 'variant', 'config', 'rootfs', 'history'];
const RUN_FIELDS = [
  'User',
  'ExposedPorts',
  'Env',
  'Entrypoint',
  'Cmd',
  'Volumes',
  'WorkingDir',
  'Labels',
  'StopSignal',
  'ArgsEscaped',
  'Healthcheck',
  'OnBuild',
  'Shell',
];
const HEALTH_FIELDS = ['Test', 'Interval', 'Timeout', 'StartPeriod', 'StartInterval', 'Retries'];
const HISTORY_FIELDS = ['created', 'created_by', 'author', 'comment', 'empty_layer'];
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:\d{2})$/;

/**
 * Parses the bytes of an image config, strictly. The result holds only the
 * fields of {@link ImageConfig}, type-checked; other fields (Docker's
 * `container_config`, `docker_version`…) are dropped. Raises InvalidArgument
 * with a sentence naming the field for: more than options.maxBytes (4 MiB),
 * bytes that do not hash to options.expectedDigest, invalid UTF-8 or JSON,
 * a missing `architecture` or `os`, `rootfs.type` other than `layers`,
 * `rootfs.diff_ids` entries that are not sha256 digests, times that are not
 * RFC 3339, wrongly typed fields, and keys that differ from a known field
 * only in case. Fields that are `null` (as Docker writes empty lists) read as
 * absent.
 */
export function parseImageConfig(bytes: Uint8Array, options: ParseImageConfigOptions = {}): ImageConfig {
  const reader = new JsonReader('image config');
  const maxBytes = options.maxBytes ?? MAX_MANIFEST_BYTES;
  reader.checkLength(bytes, maxBytes);
  if (options.expectedDigest !== undefined) checkContentDigest(reader.label, bytes, options.expectedDigest);
  const root = reader.root(reader.decode(bytes, maxBytes));
  reader.refuseCaseVariants(root, TOP_FIELDS, '');

  const config: ImageConfig = {
    architecture: reader.string(root, 'architecture', ''),
    os: reader.string(root, 'os', ''),
    rootfs: readRootFs(reader, reader.object(root, 'rootfs', '')),
  };
  const created = readTime(reader, root, 'created', '');
  if (created !== undefined) config.created = created;
  assign(config, 'author', reader.optionalString(root, 'author', ''));
  assign(config, 'os.version', reader.optionalString(root, 'os.version', ''));
  assign(config, 'os.features', reader.optionalStringArray(root, 'os.features', ''));
  assign(config, 'variant', reader.optionalString(root, 'variant', ''));
  const run = reader.optionalObject(root, 'config', '');
  if (run !== undefined) config.config = readRunConfig(reader, run);
  const history = reader.optionalArray(root, 'history', '');
  if (history !== undefined) config.history = history.map((entry, i) => readHistory(reader, entry, `history[${i}]`));
  return config;
}

function readRootFs(reader: JsonReader, rootfs: JsonObject): RootFs {
  reader.refuseCaseVariants(rootfs, ['type', 'diff_ids'], 'rootfs');
  const type = reader.string(rootfs, 'type', 'rootfs');
  if (type !== 'layers') throw reader.fail('rootfs.type', '"layers"', type);
  const diffIds = reader.array(rootfs, 'diff_ids', 'rootfs').map((id, i) => reader.checkDigest(id, `rootfs.diff_ids[${i}]`));
  return { type, diff_ids: diffIds };
}

function readRunConfig(reader: JsonReader, run: JsonObject): ContainerConfig {
  const path = 'config';
  reader.refuseCaseVariants(run, RUN_FIELDS, path);
  const out: ContainerConfig = {};
  assign(out, 'User', reader.optionalString(run, 'User', path));
  assign(out, 'ExposedPorts', reader.optionalObjectSet(run, 'ExposedPorts', path));
  assign(out, 'Env', reader.optionalStringArray(run, 'Env', path));
  assign(out, 'Entrypoint', reader.optionalStringArray(run, 'Entrypoint', path));
  assign(out, 'Cmd', reader.optionalStringArray(run, 'Cmd', path));
  assign(out, 'Volumes', reader.optionalObjectSet(run, 'Volumes', path));
  assign(out, 'WorkingDir', reader.optionalString(run, 'WorkingDir', path));
  assign(out, 'Labels', reader.optionalStringMap(run, 'Labels', path));
  assign(out, 'StopSignal', reader.optionalString(run, 'StopSignal', path));
  assign(out, 'ArgsEscaped', reader.optionalBoolean(run, 'ArgsEscaped', path));
  const health = reader.optionalObject(run, 'Healthcheck', path);
  if (health !== undefined) out.Healthcheck = readHealth(reader, health, `${path}.Healthcheck`);
  assign(out, 'OnBuild', reader.optionalStringArray(run, 'OnBuild', path));
  assign(out, 'Shell', reader.optionalStringArray(run, 'Shell', path));
  return out;
}

function readHealth(reader: JsonReader, health: JsonObject, path: string): HealthConfig {
  reader.refuseCaseVariants(health, HEALTH_FIELDS, path);
  const out: HealthConfig = {};
  assign(out, 'Test', reader.optionalStringArray(health, 'Test', path));
  assign(out, 'Interval', reader.optionalSize(health, 'Interval', path));
  assign(out, 'Timeout', reader.optionalSize(health, 'Timeout', path));
  assign(out, 'StartPeriod', reader.optionalSize(health, 'StartPeriod', path));
  assign(out, 'StartInterval', reader.optionalSize(health, 'StartInterval', path));
  assign(out, 'Retries', reader.optionalSize(health, 'Retries', path));
  return out;
}

function readHistory(reader: JsonReader, value: unknown, path: string): HistoryEntry {
  if (!isObject(value)) throw reader.fail(path, 'an object', value);
  const entry = value;
  reader.refuseCaseVariants(entry, HISTORY_FIELDS, path);
  const out: HistoryEntry = {};
  assign(out, 'created', readTime(reader, entry, 'created', path));
  assign(out, 'created_by', reader.optionalString(entry, 'created_by', path));
  assign(out, 'author', reader.optionalString(entry, 'author', path));
  assign(out, 'comment', reader.optionalString(entry, 'comment', path));
  assign(out, 'empty_layer', reader.optionalBoolean(entry, 'empty_layer', path));
  return out;
}

function readTime(reader: JsonReader, parent: JsonObject, key: string, path: string): string | undefined {
  const value = reader.optionalString(parent, key, path);
  if (value !== undefined && (!RFC3339.test(value) || Number.isNaN(Date.parse(value)))) {
    throw reader.fail(join(path, key), 'an RFC 3339 time', value);
  }
  return value;
}

function assign<T extends object, K extends keyof T>(target: T, key: K, value: T[K] | undefined): void {
  if (value !== undefined) target[key] = value;
}
