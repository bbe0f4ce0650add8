import { describe, expect, it } from 'vitest';
import { digestOf } from './digest.js';
import { parseImageConfig, type ParseImageConfigOptions } from './image-config.js';
import { MAX_MANIFEST_BYTES } from './manifest.js';
import { errorOf } from './testing/error-of.js';

const json = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
const diffId = `sha256:${'3'.repeat(64)}`;

// The shape `docker build` writes, nulls and legacy fields included.
const dockerConfig = {
  architecture: 'amd64',
  config: {
    Hostname: '',
    AttachStdin: false,
    User: '',
    Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
    Cmd: ['sh'],
    Image: `sha256:${'9'.repeat(64)}`,
    Volumes: null,
    WorkingDir: '',
    Entrypoint: null,
    OnBuild: null,
    Labels: null,
  },
  container: 'f7e6c2a1',
  container_config: { Cmd: ['/bin/sh', '-c', '#(nop) ', 'CMD ["sh"]'] },
  created: '2023-07-18T23:19:33.655005962Z',
  docker_version: '20.10.23',
  history: [
    { created: '2023-07-18T23:19:33.538571854Z', created_by: '/bin/sh -c #(nop) ADD file:7e90 in / ' },
    { created: '2023-07-18T23:19:33.655005962Z', created_by: '/bin/sh -c #(nop)  CMD ["sh"]', empty_layer: true },
  ],
  os: 'linux',
  rootfs: { type: 'layers', diff_ids: [diffId] },
};

const ociConfig = {
  created: '2024-01-02T03:04:05+01:00',
  author: 'Strata <strata@example.com>',
  architecture: 'arm64',
  variant: 'v8',
  os: 'linux',
  config: {
    User: '1000:1000',
    ExposedPorts: { '80/tcp': {}, '53/udp': {} },
    Env: ['A=1', 'B=2'],
    Entrypoint: ['/entrypoint.sh'],
    Cmd: ['serve', '--port', '80'],
    Volumes: { '/data': {} },
    WorkingDir: '/srv',
    Labels: { 'org.opencontainers.image.source': 'https://example.com/repo' },
    StopSignal: 'SIGQUIT',
    ArgsEscaped: true,
    Healthcheck: { Test: ['CMD', 'true'], Interval: 30_000_000_000, Timeout: 5_000_000_000, Retries: 3 },
    OnBuild: ['RUN true'],
    Shell: ['/bin/bash', '-c'],
  },
  rootfs: { type: 'layers', diff_ids: [diffId, `sha256:${'4'.repeat(64)}`] },
  history: [{ created: '2024-01-02T03:04:05Z', author: 'a', comment: 'c', created_by: 'x' }, { empty_layer: false }],
};

describe('parseImageConfig', () => {
  it('reads the fields of a Docker-built config, dropping nulls and legacy fields', () => {
    expect(parseImageConfig(json(dockerConfig))).toEqual({
      architecture: 'amd64',
      os: 'linux',
      created: '2023-07-18T23:19:33.655005962Z',
      config: { User: '', Env: dockerConfig.config.Env, Cmd: ['sh'], WorkingDir: '' },
      rootfs: { type: 'layers', diff_ids: [diffId] },
      history: dockerConfig.history,
    });
  });

  it('reads every field of an OCI config', () => {
    expect(parseImageConfig(json(ociConfig))).toEqual(ociConfig);
  });

  it('reads a minimal config and checks the expected digest', () => {
    const bytes = json({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } });
    expect(parseImageConfig(bytes, { expectedDigest: digestOf(bytes) })).toEqual({
      architecture: 'amd64',
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: [] },
    });
  });

  const withTop = (patch: Record<string, unknown>) => json({ ...ociConfig, ...patch });
  const withRun = (patch: Record<string, unknown>) => json({ ...ociConfig, config: { ...ociConfig.config, ...patch } });
  const withRootFs = (patch: Record<string, unknown>) => json({ ...ociConfig, rootfs: { ...ociConfig.rootfs, ...patch } });

  it.each<[string, Uint8Array, ParseImageConfigOptions, string]>([
    [
      'an oversized config',
      new Uint8Array(MAX_MANIFEST_BYTES + 1),
      {},
      `image config is ${MAX_MANIFEST_BYTES + 1} bytes, over the limit of ${MAX_MANIFEST_BYTES} bytes`,
    ],
    [
      'bytes that do not hash to the expected digest',
      json(ociConfig),
      { expectedDigest: digestOf('other') },
      `image config content has digest ${digestOf(json(ociConfig))}, not the expected ${digestOf('other')}`,
    ],
    ['invalid UTF-8', new Uint8Array([0x7b, 0xff, 0x7d]), {}, 'image config is not valid UTF-8 text'],
    ['invalid JSON', new TextEncoder().encode('{"os":'), {}, 'image config is not valid JSON'],
    ['an array', json([]), {}, 'image config must be a JSON object, got an array'],
    ['no architecture', withTop({ architecture: undefined }), {}, 'image config is missing field architecture'],
    ['no os', withTop({ os: null }), {}, 'image config is missing field os'],
    ['os as a number', withTop({ os: 1 }), {}, 'image config field os must be a string, got 1'],
    ['no rootfs', withTop({ rootfs: undefined }), {}, 'image config is missing field rootfs'],
    ['rootfs.type other than layers', withRootFs({ type: 'tar' }), {}, 'image config field rootfs.type must be "layers", got "tar"'],
    ['no rootfs.diff_ids', withRootFs({ diff_ids: undefined }), {}, 'image config is missing field rootfs.diff_ids'],
    ['rootfs.diff_ids as a string', withRootFs({ diff_ids: diffId }), {}, `image config field rootfs.diff_ids must be an array, got "${diffId}"`],
    [
      'a malformed diff_id',
      withRootFs({ diff_ids: [diffId, 'sha256:../../etc'] }),
      {},
      'image config field rootfs.diff_ids[1] is not a valid digest: invalid digest "sha256:../../etc": expected algorithm:hex, e.g. sha256:<64 hex>',
    ],
    [
      'a diff_id that is not a string',
      withRootFs({ diff_ids: [null] }),
      {},
      'image config field rootfs.diff_ids[0] must be a digest string, got null',
    ],
    [
      'a created time that is not RFC 3339',
      withTop({ created: 'yesterday' }),
      {},
      'image config field created must be an RFC 3339 time, got "yesterday"',
    ],
    ['config as an array', withTop({ config: [] }), {}, 'image config field config must be an object, got an array'],
    ['Env as a string', withRun({ Env: 'A=1' }), {}, 'image config field config.Env must be an array, got "A=1"'],
    ['an Env entry that is a number', withRun({ Env: ['A=1', 2] }), {}, 'image config field config.Env[1] must be a string, got 2'],
    ['Cmd as a string', withRun({ Cmd: 'sh' }), {}, 'image config field config.Cmd must be an array, got "sh"'],
    ['Entrypoint with an object', withRun({ Entrypoint: [{}] }), {}, 'image config field config.Entrypoint[0] must be a string, got an object'],
    ['User as a number', withRun({ User: 0 }), {}, 'image config field config.User must be a string, got 0'],
    ['WorkingDir as an array', withRun({ WorkingDir: ['/'] }), {}, 'image config field config.WorkingDir must be a string, got an array'],
    [
      'an ExposedPorts value that is a string',
      withRun({ ExposedPorts: { '80/tcp': 'yes' } }),
      {},
      'image config field config.ExposedPorts["80/tcp"] must be an object, got "yes"',
    ],
    ['Volumes as a list', withRun({ Volumes: ['/data'] }), {}, 'image config field config.Volumes must be an object, got an array'],
    ['a label that is a number', withRun({ Labels: { version: 2 } }), {}, 'image config field config.Labels["version"] must be a string, got 2'],
    ['StopSignal as a number', withRun({ StopSignal: 9 }), {}, 'image config field config.StopSignal must be a string, got 9'],
    ['ArgsEscaped as a string', withRun({ ArgsEscaped: 'true' }), {}, 'image config field config.ArgsEscaped must be true or false, got "true"'],
    [
      'a negative health check interval',
      withRun({ Healthcheck: { Interval: -1 } }),
      {},
      'image config field config.Healthcheck.Interval must be a non-negative integer, got -1',
    ],
    ['history as an object', withTop({ history: {} }), {}, 'image config field history must be an array, got an object'],
    ['a history entry that is a string', withTop({ history: ['x'] }), {}, 'image config field history[0] must be an object, got "x"'],
    [
      'empty_layer as a string',
      withTop({ history: [{ empty_layer: 'true' }] }),
      {},
      'image config field history[0].empty_layer must be true or false, got "true"',
    ],
    [
      'a history time that is not RFC 3339',
      withTop({ history: [{ created: '2024-01-02' }] }),
      {},
      'image config field history[0].created must be an RFC 3339 time, got "2024-01-02"',
    ],
    [
      'a key that differs from Env only in case',
      withRun({ env: ['LD_PRELOAD=/x.so'] }),
      {},
      'image config field config.env differs from config.Env only in case; other parsers read it as config.Env, so it is refused',
    ],
    [
      'a key that differs from rootfs only in case',
      withTop({ RootFS: { type: 'layers', diff_ids: [] } }),
      {},
      'image config field RootFS differs from rootfs only in case; other parsers read it as rootfs, so it is refused',
    ],
  ])('refuses %s', (_name, bytes, options, message) => {
    expect(errorOf(() => parseImageConfig(bytes, options))).toEqual({ kind: 'InvalidArgument', message });
  });
});
