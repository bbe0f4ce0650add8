import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { invalidArgument, loadConfig, oneOf, optionalStr, str, type ConfigOf, type Setting } from '@strata/kit';
import { readSameHostLayerStore, sameHostLayerStoreSpec } from '@strata/content-grpc';
import { eventsConfigSpec, eventSinkLimits, type EventSinkLimits } from '@strata/events-nats';
import type { Layout } from '@strata/snapshots';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
const DRIVERS = ['overlay', 'native'] as const satisfies readonly Layout[];

/** Every setting of the snapshotter: flags are the kebab-case keys, `--config FILE` reads JSON. */
export const snapshotterSpec = {
  stateDir: str('Directory of persistent state; snapshots go under <state-dir>/snapshotter.', {
    default: '/var/lib/strata',
    env: 'STRATA_STATE_DIR',
  }),
  runDir: str('Directory of runtime files; the socket is <run-dir>/snapshotter.sock.', { default: '/run/strata', env: 'STRATA_RUN_DIR' }),
  driver: {
    ...oneOf('How snapshots are stored: overlay (layers stacked by overlayfs) or native (full copies, for hosts without overlayfs); overlay when the kernel has it.', DRIVERS, {
      env: 'STRATA_SNAPSHOTTER_DRIVER',
    }),
    default: undefined,
  } as Setting<Layout | undefined>,
  layerStoreSocket: optionalStr('Unix socket of the layer-store, where layer blobs are read from; <run-dir>/layer-store.sock by default.', {
    env: 'STRATA_LAYER_STORE_SOCKET',
  }),
  ...sameHostLayerStoreSpec,
  natsUrl: str('NATS server URL for events; an empty string disables events.', {
    default: 'nats://127.0.0.1:4222',
    env: 'STRATA_NATS_URL',
  }),
  node: str('Name of this node in event sources (strata/snapshotter/<node>) and data.', { default: hostname(), env: 'STRATA_NODE' }),
  logLevel: oneOf('Least severe log level written to stderr.', LOG_LEVELS, { default: 'warn', env: 'STRATA_LOG_LEVEL' }),
  ...eventsConfigSpec,
};

type Raw = ConfigOf<typeof snapshotterSpec>;

/** The snapshotter's configuration, validated, with derived paths. */
export interface SnapshotterConfig {
  stateDir: string;
  /** `<stateDir>/snapshotter`: the snapshots, their metadata and the lock (mode 0700). */
  root: string;
  /** `<runDir>/snapshotter.sock`: gRPC (Snapshots, health), mode 0600. */
  socket: string;
  /** Undefined: overlay when the kernel has overlayfs, else native. */
  driver?: Layout;
  layerStoreSocket: string;
  /** Set when the layer-store's data socket is to be used (commits write their layers there). */
  layerStoreDataSocket?: string;
  /** Set when layer blobs are read from a filesystem layer-store's root directly (unpacks). */
  layerStoreRoot?: string;
  /** Empty: no events. */
  /** Buffering and STRATA_EVENTS stream limits of the event sink. */
  events: EventSinkLimits;
  natsUrl: string;
  node: string;
  logLevel: Raw['logLevel'];
}

/**
 * Loads the snapshotter's configuration from flags, environment and an
 * optional JSON file (`--config FILE`). InvalidArgument, with a sentence
 * naming the setting, for anything wrong.
 */
export function loadSnapshotterConfig(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): SnapshotterConfig {
  const raw = loadConfig(snapshotterSpec, { argv, env });
  if (raw.stateDir === '') throw invalidArgument('config state-dir: must not be empty');
  if (raw.runDir === '') throw invalidArgument('config run-dir: must not be empty');
  if (raw.layerStoreSocket === '') throw invalidArgument('config layer-store-socket: must not be empty');
  if (raw.node === '') throw invalidArgument('config node: must not be empty');
  const sameHost = readSameHostLayerStore(raw);
  const stateDir = resolve(raw.stateDir);
  const runDir = resolve(raw.runDir);
  return {
    stateDir,
    root: join(stateDir, 'snapshotter'),
    socket: join(runDir, 'snapshotter.sock'),
    ...(raw.driver === undefined ? {} : { driver: raw.driver }),
    layerStoreSocket: resolve(raw.layerStoreSocket ?? join(runDir, 'layer-store.sock')),
    ...sameHost,
    events: eventSinkLimits(raw),
    natsUrl: raw.natsUrl,
    node: raw.node,
    logLevel: raw.logLevel,
  };
}
