import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { int, invalidArgument, loadConfig, oneOf, optionalStr, str, type ConfigOf } from '@strata/kit';
import { readTcpListener, tcpListenerSpec, type TcpListener } from '@strata/grpc-kit';
import { eventsConfigSpec, eventSinkLimits, type EventSinkLimits } from '@strata/events-nats';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** Every setting of the layer-store: flags are the kebab-case keys, `--config FILE` reads JSON. */
export const layerStoreSpec = {
  stateDir: str('Directory of persistent state; blobs go under <state-dir>/layer-store.', {
    default: '/var/lib/strata',
    env: 'STRATA_STATE_DIR',
  }),
  runDir: str('Directory of runtime files; the socket is <run-dir>/layer-store.sock.', { default: '/run/strata', env: 'STRATA_RUN_DIR' }),
  socket: optionalStr('Path of the unix socket, instead of <run-dir>/layer-store.sock.', { env: 'STRATA_LAYER_STORE_SOCKET' }),
  dataSocket: optionalStr(
    'Path of the data socket (HTTP/1.1, mode 0600: blob bytes for clients on this host), instead of <run-dir>/layer-store.data.sock; "" for none.',
    { env: 'STRATA_LAYER_STORE_DATA_SOCKET' },
  ),
  backend: oneOf('Where blobs are kept: fs (under the state dir) or s3.', ['fs', 's3'], {
    default: 'fs',
    env: 'STRATA_LAYER_STORE_BACKEND',
  }),
  s3Endpoint: optionalStr('S3 endpoint URL, e.g. http://127.0.0.1:9000 (backend s3).', { env: 'STRATA_S3_ENDPOINT' }),
  s3Bucket: str('S3 bucket of the blobs; created when missing.', { default: 'strata-blobs', env: 'STRATA_S3_BUCKET' }),
  s3AccessKey: optionalStr('S3 access key (backend s3).', { env: 'STRATA_S3_ACCESS_KEY' }),
  s3SecretKey: optionalStr('S3 secret key (backend s3); prefer the environment to a flag.', { env: 'STRATA_S3_SECRET_KEY' }),
  s3Region: str('S3 region of the bucket.', { default: 'us-east-1', env: 'STRATA_S3_REGION' }),
  s3Prefix: str('Key prefix inside the bucket, to share it between stores.', { default: '', env: 'STRATA_S3_PREFIX' }),
  natsUrl: str('NATS server URL for events; an empty string disables events.', {
    default: 'nats://127.0.0.1:4222',
    env: 'STRATA_NATS_URL',
  }),
  node: str('Name of this node in event sources (strata/layer-store/<node>).', { default: hostname(), env: 'STRATA_NODE' }),
  ...tcpListenerSpec('STRATA_LAYER_STORE_TCP'),
  gcIntervalSeconds: int('Seconds between garbage collection passes; 0 turns periodic collection off.', {
    default: 0,
    min: 0,
    max: 7 * 24 * 3600,
    env: 'STRATA_LAYER_STORE_GC_INTERVAL',
  }),
  logLevel: oneOf('Least severe log level written to stderr.', LOG_LEVELS, { default: 'warn', env: 'STRATA_LOG_LEVEL' }),
  ...eventsConfigSpec,
};

type Raw = ConfigOf<typeof layerStoreSpec>;

/** The S3 settings, complete. */
export interface S3Settings {
  endpoint: string;
  bucket: string;
  accessKey: string;
  secretKey: string;
  region: string;
  prefix: string;
}

/** The layer-store's configuration, validated, with derived paths and the TLS material read. */
export interface LayerStoreConfig {
  stateDir: string;
  /** `<stateDir>/layer-store`: the fs backend's root. */
  blobRoot: string;
  socket: string;
  /** The data socket (see createDataHandler of @strata/content-grpc); '' for none. */
  dataSocket: string;
  backend: 'fs' | 's3';
  /** Set when backend is s3. */
  s3?: S3Settings;
  /** Empty: no events. */
  /** Buffering and STRATA_EVENTS stream limits of the event sink. */
  events: EventSinkLimits;
  natsUrl: string;
  node: string;
  tcp?: TcpListener;
  gcIntervalSeconds: number;
  logLevel: (typeof LOG_LEVELS)[number];
}

function required(raw: Raw, keys: ReadonlyArray<keyof Raw>, why: string): void {
  const kebab = (k: string) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
  const missing = keys.filter((k) => raw[k] === undefined || raw[k] === '');
  if (missing.length > 0) throw invalidArgument(`config ${why} needs ${missing.map((k) => kebab(k)).join(', ')}`);
}

/**
 * Loads the layer-store's configuration from flags, environment and an
 * optional JSON file (`--config FILE`), checks the settings that depend on
 * each other, and reads the TLS files. InvalidArgument, with a sentence
 * naming the setting, for anything wrong.
 */
export function loadLayerStoreConfig(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): LayerStoreConfig {
  const raw = loadConfig(layerStoreSpec, { argv, env });
  if (raw.stateDir === '') throw invalidArgument('config state-dir: must not be empty');
  if (raw.runDir === '' && (raw.socket === undefined || raw.dataSocket === undefined)) throw invalidArgument('config run-dir: must not be empty');
  const stateDir = resolve(raw.stateDir);
  const config: LayerStoreConfig = {
    stateDir,
    blobRoot: join(stateDir, 'layer-store'),
    socket: resolve(raw.socket ?? join(raw.runDir, 'layer-store.sock')),
    dataSocket: raw.dataSocket === '' ? '' : resolve(raw.dataSocket ?? join(raw.runDir, 'layer-store.data.sock')),
    backend: raw.backend,
    events: eventSinkLimits(raw),
    natsUrl: raw.natsUrl,
    node: raw.node,
    gcIntervalSeconds: raw.gcIntervalSeconds,
    logLevel: raw.logLevel,
  };
  if (raw.backend === 's3') {
    required(raw, ['s3Endpoint', 's3AccessKey', 's3SecretKey'], 'backend s3');
    config.s3 = {
      endpoint: raw.s3Endpoint as string,
      bucket: raw.s3Bucket,
      accessKey: raw.s3AccessKey as string,
      secretKey: raw.s3SecretKey as string,
      region: raw.s3Region,
      prefix: raw.s3Prefix,
    };
  }
  const tcp = readTcpListener(raw);
  if (tcp !== undefined) config.tcp = tcp;
  return config;
}
