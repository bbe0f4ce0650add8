import { writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { errorKind } from '@strata/kit';
import { tempDir } from '@strata/kit/testing';
import { loadLayerStoreConfig } from './config.js';

const dir = tempDir('layer-store-config-');
const pem = (name: string) => {
  const path = join(dir.path, name);
  writeFileSync(path, `-----BEGIN ${name}-----\n`);
  return path;
};
const cert = pem('cert');
const key = pem('key');
const ca = pem('ca');

afterAll(() => dir.remove());

describe('loadLayerStoreConfig', () => {
  it('fills the defaults', () => {
    expect(loadLayerStoreConfig([], {})).toEqual({
      stateDir: '/var/lib/strata',
      blobRoot: '/var/lib/strata/layer-store',
      socket: '/run/strata/layer-store.sock',
      dataSocket: '/run/strata/layer-store.data.sock',
      backend: 'fs',
      events: { bufferSize: 10_000, streamMaxAgeSeconds: 604_800, streamMaxBytes: 1_073_741_824, streamMaxMsgs: -1, streamDuplicateWindowSeconds: 120 },
      natsUrl: 'nats://127.0.0.1:4222',
      node: hostname(),
      gcIntervalSeconds: 0,
      logLevel: 'warn',
    });
  });

  it('takes flags over the environment, and derives the paths', () => {
    const config = loadLayerStoreConfig(['--state-dir', '/srv/state', '--nats-url', '', '--log-level', 'info'], {
      STRATA_STATE_DIR: '/ignored',
      STRATA_RUN_DIR: '/tmp/run',
      STRATA_LOG_LEVEL: 'debug',
      STRATA_LAYER_STORE_GC_INTERVAL: '30',
    });
    expect(config).toMatchObject({
      stateDir: '/srv/state',
      blobRoot: '/srv/state/layer-store',
      socket: '/tmp/run/layer-store.sock',
      dataSocket: '/tmp/run/layer-store.data.sock',
      natsUrl: '',
      logLevel: 'info',
      gcIntervalSeconds: 30,
    });
    expect(loadLayerStoreConfig(['--socket', '/x/y.sock'], {}).socket).toBe('/x/y.sock');
    expect(loadLayerStoreConfig(['--data-socket', '/x/d.sock'], {}).dataSocket).toBe('/x/d.sock');
    expect(loadLayerStoreConfig(['--data-socket', ''], {}).dataSocket).toBe('');
  });

  it('reads the S3 settings and the TLS files', () => {
    const config = loadLayerStoreConfig(
      ['--backend', 's3', '--s3-endpoint', 'http://127.0.0.1:9000', '--tcp-listen', '[::]:7443', '--tls-cert', cert, '--tls-key', key, '--tls-ca', ca],
      { STRATA_S3_ACCESS_KEY: 'ak', STRATA_S3_SECRET_KEY: 'sk', STRATA_S3_PREFIX: 'blobs/' },
    );
    expect(config.s3).toEqual({ endpoint: 'http://127.0.0.1:9000', bucket: 'strata-blobs', accessKey: 'ak', secretKey: 'sk', region: 'us-east-1', prefix: 'blobs/' });
    expect(config.tcp).toEqual({
      host: '::',
      port: 7443,
      tls: { cert: Buffer.from('-----BEGIN cert-----\n'), key: Buffer.from('-----BEGIN key-----\n'), ca: Buffer.from('-----BEGIN ca-----\n') },
    });
  });

  it.each([
    { argv: ['--backend', 'ftp'], message: 'config backend: expected one of fs, s3, got "ftp"' },
    { argv: ['--backend', 's3'], message: 'config backend s3 needs --s3-endpoint, --s3-access-key, --s3-secret-key' },
    { argv: ['--tcp-listen', '0.0.0.0:7443', '--tls-cert', cert], message: 'config tcp-listen (TCP is served only with mutual TLS) needs --tls-key, --tls-ca' },
    { argv: ['--tcp-listen', '0.0.0.0:99999'], message: 'config tcp-listen: expected host:port (e.g. 0.0.0.0:7443 or [::]:7443), got "0.0.0.0:99999"' },
    { argv: ['--tls-ca', ca], message: 'config tls-cert, tls-key and tls-ca are only used with --tcp-listen; set it or remove them' },
    {
      argv: ['--tcp-listen', '127.0.0.1:7443', '--tls-cert', join(dir.path, 'missing'), '--tls-key', key, '--tls-ca', ca],
      message: `config tls-cert: cannot read ${join(dir.path, 'missing')}: ENOENT: no such file or directory, open '${join(dir.path, 'missing')}'`,
    },
    { argv: ['--gc-interval-seconds', '-1'], message: 'config gc-interval-seconds: -1 is out of range 0..604800' },
    { argv: ['--state-dir', ''], message: 'config state-dir: must not be empty' },
    { argv: ['--log-level', 'verbose'], message: 'config log-level: expected one of fatal, error, warn, info, debug, trace, silent, got "verbose"' },
  ])('refuses $argv with InvalidArgument naming the setting', ({ argv, message }) => {
    let err: unknown;
    try {
      loadLayerStoreConfig(argv, {});
    } catch (e) {
      err = e;
    }
    expect(errorKind(err)).toBe('InvalidArgument');
    expect((err as Error).message).toBe(message);
  });
});
