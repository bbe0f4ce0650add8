import { hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import { errorKind } from '@strata/kit';
import { loadSnapshotterConfig } from './config.js';

describe('loadSnapshotterConfig', () => {
  it('fills the defaults, leaving the driver to be chosen for the host', () => {
    expect(loadSnapshotterConfig([], {})).toEqual({
      stateDir: '/var/lib/strata',
      root: '/var/lib/strata/snapshotter',
      socket: '/run/strata/snapshotter.sock',
      layerStoreSocket: '/run/strata/layer-store.sock',
      events: { bufferSize: 10_000, streamMaxAgeSeconds: 604_800, streamMaxBytes: 1_073_741_824, streamMaxMsgs: -1, streamDuplicateWindowSeconds: 120 },
      natsUrl: 'nats://127.0.0.1:4222',
      node: hostname(),
      logLevel: 'warn',
    });
  });

  it('takes flags over the environment, and derives the paths', () => {
    const config = loadSnapshotterConfig(['--state-dir', '/srv/state', '--driver', 'native', '--nats-url', '', '--node', 'n1'], {
      STRATA_STATE_DIR: '/ignored',
      STRATA_RUN_DIR: '/tmp/run',
      STRATA_SNAPSHOTTER_DRIVER: 'overlay',
      STRATA_LAYER_STORE_SOCKET: '/elsewhere/ls.sock',
    });
    expect(config).toEqual({
      stateDir: '/srv/state',
      root: '/srv/state/snapshotter',
      socket: '/tmp/run/snapshotter.sock',
      driver: 'native',
      layerStoreSocket: '/elsewhere/ls.sock',
      events: { bufferSize: 10_000, streamMaxAgeSeconds: 604_800, streamMaxBytes: 1_073_741_824, streamMaxMsgs: -1, streamDuplicateWindowSeconds: 120 },
      natsUrl: '',
      node: 'n1',
      logLevel: 'warn',
    });
  });

  it.each([
    [['--driver', 'zfs'], 'config driver: expected one of overlay, native, got "zfs"'],
    [['--state-dir', ''], 'config state-dir: must not be empty'],
    [['--run-dir', ''], 'config run-dir: must not be empty'],
    [['--layer-store-socket', ''], 'config layer-store-socket: must not be empty'],
    [['--node', ''], 'config node: must not be empty'],
    [['--socket', '/x'], 'unknown flag --socket; known: --state-dir, --run-dir, --driver, --layer-store-socket, --layer-store-data-socket, --layer-store-root, --nats-url, --node, --log-level, --events-buffer-size, --events-max-age-seconds, --events-max-bytes, --events-max-msgs, --events-duplicate-window-seconds, --config'],
  ])('raises InvalidArgument for %j', (argv, message) => {
    let caught: unknown;
    try {
      loadSnapshotterConfig(argv, {});
    } catch (err) {
      caught = err;
    }
    expect({ kind: errorKind(caught), message: (caught as Error).message }).toEqual({ kind: 'InvalidArgument', message });
  });
});
