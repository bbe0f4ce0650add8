import { writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { errorKind } from '@strata/kit';
import { tempDir } from '@strata/kit/testing';
import { DOCKER_HUB, loadRegistryMirrorConfig, parseUpstreamFlag } from './config.js';

const dir = tempDir('registry-mirror-config-');
const file = (name: string, text: string) => {
  const path = join(dir.path, name);
  writeFileSync(path, text);
  return path;
};
const upstreamsFile = file(
  'upstreams.json',
  JSON.stringify([
    { host: 'ghcr.io', credentials: { token: 't' } },
    { host: 'registry.lan:5000', insecure: true, credentials: { username: 'u', password: 'p' }, allowPrivateHosts: true },
  ]),
);
const notJson = file('not.json', '[{');
const notArray = file('object.json', '{"host": "ghcr.io"}');
const badKey = file('bad-key.json', '[{"host": "ghcr.io", "password": "p"}]');
const badCredentials = file('bad-credentials.json', '[{"host": "ghcr.io", "credentials": {"user": "u"}}]');

const jsonError = (text: string): string => {
  try {
    JSON.parse(text);
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error(`${text} is valid JSON`);
};

afterAll(() => dir.remove());

describe('parseUpstreamFlag', () => {
  it.each([
    ['ghcr.io', { host: 'ghcr.io' }],
    ['docker.io=https://mirror.gcr.io', { host: 'docker.io', endpoint: 'https://mirror.gcr.io' }],
    ['registry.lan:5000,insecure', { host: 'registry.lan:5000', insecure: true }],
    ['127.0.0.1:5000=http://127.0.0.1:5000,insecure', { host: '127.0.0.1:5000', endpoint: 'http://127.0.0.1:5000', insecure: true }],
  ])('reads %s', (value, expected) => {
    expect(parseUpstreamFlag(value)).toEqual(expected);
  });
});

describe('loadRegistryMirrorConfig', () => {
  it('fills the defaults: Docker Hub as the only and default upstream', () => {
    expect(loadRegistryMirrorConfig([], {})).toEqual({
      stateDir: '/var/lib/strata',
      runDir: '/run/strata',
      socket: '/run/strata/registry-mirror.sock',
      listen: { host: '127.0.0.1', port: 5050 },
      layerStoreSocket: '/run/strata/layer-store.sock',
      events: { bufferSize: 10_000, streamMaxAgeSeconds: 604_800, streamMaxBytes: 1_073_741_824, streamMaxMsgs: -1, streamDuplicateWindowSeconds: 120 },
      natsUrl: 'nats://127.0.0.1:4222',
      upstreams: [DOCKER_HUB],
      defaultUpstream: 'docker.io',
      tagTtlSeconds: 60,
      node: hostname(),
      logLevel: 'warn',
    });
  });

  it('takes flags over the environment, repeated --upstream flags, and derives the paths', () => {
    const config = loadRegistryMirrorConfig(
      ['--run-dir', '/tmp/run', '--upstream', '127.0.0.1:5000', '--upstream=docker.io=https://mirror.gcr.io', '--listen', '[::1]:0', '--log-level', 'info'],
      { STRATA_LOG_LEVEL: 'debug', STRATA_MIRROR_TAG_TTL: '0', STRATA_MIRROR_UPSTREAM: 'quay.io', STRATA_LAYER_STORE_SOCKET: '/x/ls.sock' },
    );
    expect(config).toMatchObject({
      socket: '/tmp/run/registry-mirror.sock',
      layerStoreSocket: '/x/ls.sock',
      listen: { host: '::1', port: 0 },
      upstreams: [{ host: '127.0.0.1:5000' }, { host: 'docker.io', endpoint: 'https://mirror.gcr.io' }],
      defaultUpstream: 'docker.io',
      tagTtlSeconds: 0,
      logLevel: 'info',
    });
  });

  it('reads upstreams from the environment and a JSON file, and has no default upstream without docker.io', () => {
    const config = loadRegistryMirrorConfig(['--upstreams', upstreamsFile], { STRATA_MIRROR_UPSTREAM: 'quay.io 127.0.0.1:5000' });
    expect(config.upstreams).toEqual([
      { host: 'ghcr.io', credentials: { token: 't' } },
      { host: 'registry.lan:5000', insecure: true, credentials: { username: 'u', password: 'p' }, allowPrivateHosts: true },
      { host: 'quay.io' },
      { host: '127.0.0.1:5000' },
    ]);
    expect(config.defaultUpstream).toBe('');
    expect(loadRegistryMirrorConfig(['--upstream', 'Ghcr.IO'], {}).upstreams).toEqual([{ host: 'ghcr.io' }]);
    expect(loadRegistryMirrorConfig(['--upstreams', upstreamsFile, '--default-upstream', 'GHCR.io'], {}).defaultUpstream).toBe('ghcr.io');
    expect(loadRegistryMirrorConfig(['--default-upstream', ''], {}).defaultUpstream).toBe('');
  });

  it('takes the upstreams array inline from a --config file', () => {
    const config = file('mirror.json', JSON.stringify({ upstreams: [{ host: 'ghcr.io' }], upstream: ['quay.io'], listen: '0.0.0.0:5050' }));
    expect(loadRegistryMirrorConfig(['--config', config], {})).toMatchObject({
      upstreams: [{ host: 'ghcr.io' }, { host: 'quay.io' }],
      listen: { host: '0.0.0.0', port: 5050 },
    });
  });

  it.each([
    { argv: ['--upstream'], message: 'config upstream: --upstream needs a value, host[=endpoint][,insecure]' },
    { argv: ['--upstream', '=http://x'], message: 'config upstream: expected host[=endpoint][,insecure], got "=http://x"' },
    { argv: ['--upstream', 'ghcr.io,tls'], message: 'config upstream ghcr.io: unknown option "tls"; the only option is "insecure"' },
    {
      argv: ['--upstream', 'registry.lan:5000=http://registry.lan:5000'],
      message:
        'config upstream: upstream registry.lan:5000: plain HTTP to registry.lan:5000 refused; only loopback upstreams may use http:// without "insecure: true" in their configuration',
    },
    {
      argv: ['--upstream', 'ghcr.io=https://ghcr.io/v2'],
      message: 'config upstream: upstream ghcr.io: endpoint "https://ghcr.io/v2" must be an origin (scheme, host and port) without a path or query',
    },
    { argv: ['--upstream', 'ghcr.io/team'], message: 'config upstream: upstream host "ghcr.io/team" is not a host name or address with an optional port' },
    { argv: ['--upstream', 'ghcr.io', '--upstream', 'ghcr.io'], message: 'config upstream: ghcr.io is configured twice; give each upstream once' },
    {
      argv: ['--upstream', 'ghcr.io', '--default-upstream', 'docker.io'],
      message: 'config default-upstream: docker.io is not among the upstreams (ghcr.io); add it with --upstream or set --default-upstream ""',
    },
    { argv: ['--upstreams', notJson], message: `config upstreams ${notJson}: cannot read a JSON array of upstreams: ${jsonError('[{')}` },
    { argv: ['--upstreams', notArray], message: `config upstreams ${notArray}: expected a JSON array of upstreams` },
    {
      argv: ['--upstreams', badKey],
      message: `config upstreams ${badKey}: upstream 0: unknown key "password"; known: host, endpoint, insecure, credentials, ca, allowPrivateHosts`,
    },
    {
      argv: ['--upstreams', badCredentials],
      message: `config upstreams ${badCredentials}: upstream 0: credentials must be {"username": …, "password": …} or {"token": …}`,
    },
    { argv: ['--listen', '127.0.0.1'], message: 'config listen: expected host:port (e.g. 127.0.0.1:5050 or [::1]:5050), got "127.0.0.1"' },
    { argv: ['--listen', '127.0.0.1:70000'], message: 'config listen: expected host:port (e.g. 127.0.0.1:5050 or [::1]:5050), got "127.0.0.1:70000"' },
    { argv: ['--nats-url', ''], message: 'config nats-url: must not be empty; the image index is kept in NATS' },
    { argv: ['--tag-ttl-seconds', '-1'], message: 'config tag-ttl-seconds: -1 is out of range 0..604800' },
    { argv: ['--run-dir', ''], message: 'config run-dir: must not be empty' },
    { argv: ['--registry', 'x'], message: expect.stringMatching(/^unknown flag --registry; known: --state-dir, --run-dir, --listen, /) },
  ])('refuses $argv with InvalidArgument naming the setting', ({ argv, message }) => {
    let err: unknown;
    try {
      loadRegistryMirrorConfig(argv, {});
    } catch (e) {
      err = e;
    }
    expect(errorKind(err)).toBe('InvalidArgument');
    expect((err as Error).message).toEqual(message);
  });
});
