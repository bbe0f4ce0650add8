import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { errorKind } from '@strata/kit';
import { tempDir } from '@strata/kit/testing';
import { describe, expect, it } from 'vitest';
import { loadNodeAgentConfig } from './config.js';

describe('loadNodeAgentConfig', () => {
  it('derives its paths from the state and run dirs', () => {
    expect(loadNodeAgentConfig(['--state-dir', '/s', '--run-dir', '/r', '--node', 'n1'], {})).toEqual({
      root: '/s/node-agent',
      socket: '/r/node-agent.sock',
      snapshotterSocket: '/r/snapshotter.sock',
      mirrorSocket: '/r/registry-mirror.sock',
      dockerSocket: '/r/docker.sock',
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
      networkSpares: 2,
      userNamespaceRange: { hostId: 100000, size: 65536 },
      heartbeatSeconds: 5,
      advertiseAddress: '',
      labels: {},
      logLevel: 'warn',
    });
  });

  it('serves TCP with mutual TLS, advertises the listen address or the one given, and reads labels', () => {
    const dir = tempDir('strata-agent-config-');
    try {
      const [cert, key, ca] = ['n.crt', 'n.key', 'ca.crt'].map((f) => {
        writeFileSync(join(dir.path, f), `-----BEGIN ${f}-----\n`);
        return join(dir.path, f);
      }) as [string, string, string];
      const tls = ['--tls-cert', cert, '--tls-key', key, '--tls-ca', ca];
      const c = loadNodeAgentConfig(['--tcp-listen', '10.0.0.2:7443', ...tls, '--label', 'zone=a', '--label', 'ssd=true'], {});
      expect(c).toMatchObject({ advertiseAddress: '10.0.0.2:7443', labels: { zone: 'a', ssd: 'true' } });
      expect(c.tcp).toEqual({
        host: '10.0.0.2',
        port: 7443,
        tls: { cert: Buffer.from('-----BEGIN n.crt-----\n'), key: Buffer.from('-----BEGIN n.key-----\n'), ca: Buffer.from('-----BEGIN ca.crt-----\n') },
      });
      const wild = loadNodeAgentConfig(['--tcp-listen', '0.0.0.0:7443', ...tls, '--advertise-address', 'node-1.example:7443'], { STRATA_NODE_LABELS: 'rack=r1' });
      expect(wild).toMatchObject({ advertiseAddress: 'node-1.example:7443', labels: { rack: 'r1' } });
      expect(() => loadNodeAgentConfig(['--tcp-listen', '[::]:7443', ...tls], {})).toThrow(
        'config advertise-address: needed when --tcp-listen is a wildcard address ([::]:7443); set the host:port other hosts reach this node at',
      );
    } finally {
      dir.remove();
    }
  });

  it('serves the Docker API on the socket given, or not at all for an empty one', () => {
    expect(loadNodeAgentConfig(['--docker-socket', 'rel/d.sock'], {}).dockerSocket).toBe(join(process.cwd(), 'rel/d.sock'));
    expect(loadNodeAgentConfig([], { STRATA_DOCKER_SOCKET: '/x/docker.sock' }).dockerSocket).toBe('/x/docker.sock');
    expect(loadNodeAgentConfig(['--docker-socket', ''], {}).dockerSocket).toBe('');
  });

  it('takes sockets, runc root and limits from flags and the environment', () => {
    const c = loadNodeAgentConfig(['--snapshotter-socket', '/x/s.sock', '--runc-root', '/x/runc', '--default-pids-limit', '-1', '--userns-range', '200000:131072', '--network-spares', '0'], {
      STRATA_MIRROR_SOCKET: '/x/m.sock',
      STRATA_LAYER_STORE_SOCKET: '/x/l.sock',
      STRATA_LOG_MAX_FILES: '5',
    });
    expect(c).toMatchObject({ snapshotterSocket: '/x/s.sock', mirrorSocket: '/x/m.sock', layerStoreSocket: '/x/l.sock', runcRoot: '/x/runc', defaultPidsLimit: -1, logMaxFiles: 5, networkSpares: 0, userNamespaceRange: { hostId: 200000, size: 131072 } });
  });

  it.each([
    [['--node', ''], 'config node: must not be empty'],
    [['--default-pids-limit', '0'], 'config default-pids-limit: use a positive number, or -1 for no limit'],
    [['--log-max-files', '0'], 'config log-max-files: 0 is out of range 1..100'],
    [['--runc-root', ''], "config runc-root: must not be empty; leave it out for runc's default"],
    [['--userns-range', '100000'], 'config userns-range: 100000 is not FIRST:COUNT with FIRST >= 1, COUNT >= 65536 and FIRST+COUNT below 2^32-1'],
    [['--tcp-listen', '10.0.0.2:7443'], 'config tcp-listen (TCP is served only with mutual TLS) needs --tls-cert, --tls-key, --tls-ca'],
    [['--advertise-address', '10.0.0.2:7443'], 'config advertise-address: only used with --tcp-listen; set it or remove this'],
    [['--label', 'zone'], 'config label: expected key=value, got "zone"'],
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
