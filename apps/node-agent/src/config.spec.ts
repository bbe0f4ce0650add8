import { errorKind } from '@strata/kit';
import { describe, expect, it } from 'vitest';
import { loadNodeAgentConfig } from './config.js';

describe('loadNodeAgentConfig', () => {
  it('derives its paths from the state and run dirs', () => {
    expect(loadNodeAgentConfig(['--state-dir', '/s', '--run-dir', '/r', '--node', 'n1'], {})).toEqual({
      root: '/s/node-agent',
      socket: '/r/node-agent.sock',
      snapshotterSocket: '/r/snapshotter.sock',
      mirrorSocket: '/r/registry-mirror.sock',
      layerStoreSocket: '/r/layer-store.sock',
      natsUrl: 'nats://127.0.0.1:4222',
      node: 'n1',
      bridge: 'strata0',
      subnet: '10.88.0.0/16',
      chainPrefix: 'STRATA',
      netnsPrefix: 'strata-',
      cgroupParent: '/strata',
      defaultPidsLimit: 4096,
      logMaxBytes: 10 * 1024 * 1024,
      logMaxFiles: 3,
      userNamespaceRange: { hostId: 100000, size: 65536 },
      heartbeatSeconds: 5,
      logLevel: 'warn',
    });
  });

  it('takes sockets, runc root and limits from flags and the environment', () => {
    const c = loadNodeAgentConfig(['--snapshotter-socket', '/x/s.sock', '--runc-root', '/x/runc', '--default-pids-limit', '-1', '--userns-range', '200000:131072'], {
      STRATA_MIRROR_SOCKET: '/x/m.sock',
      STRATA_LAYER_STORE_SOCKET: '/x/l.sock',
      STRATA_LOG_MAX_FILES: '5',
    });
    expect(c).toMatchObject({ snapshotterSocket: '/x/s.sock', mirrorSocket: '/x/m.sock', layerStoreSocket: '/x/l.sock', runcRoot: '/x/runc', defaultPidsLimit: -1, logMaxFiles: 5, userNamespaceRange: { hostId: 200000, size: 131072 } });
  });

  it.each([
    [['--node', ''], 'config node: must not be empty'],
    [['--default-pids-limit', '0'], 'config default-pids-limit: use a positive number, or -1 for no limit'],
    [['--log-max-files', '0'], 'config log-max-files: 0 is out of range 1..100'],
    [['--runc-root', ''], "config runc-root: must not be empty; leave it out for runc's default"],
    [['--userns-range', '100000'], 'config userns-range: 100000 is not FIRST:COUNT with FIRST >= 1, COUNT >= 65536 and FIRST+COUNT below 2^32-1'],
    [['--userns-range', '0:65536'], 'config userns-range: 0:65536 is not FIRST:COUNT with FIRST >= 1, COUNT >= 65536 and FIRST+COUNT below 2^32-1'],
  ])('refuses %j', (argv, message) => {
    let err: unknown;
    try {
      loadNodeAgentConfig(argv, {});
    } catch (e) {
      err = e;
    }
    expect({ kind: errorKind(err), message: (err as Error).message }).toEqual({ kind: 'InvalidArgument', message });
  });
});
