import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { readSameHostLayerStore, sameHostLayerStoreSpec } from '@strata/content-grpc';
import { resolveUpstream, type UpstreamConfig, type UpstreamCredentials } from '@strata/distribution-client';
import { int, invalidArgument, loadConfig, oneOf, optionalStr, str, type ConfigOf, type Setting } from '@strata/kit';
import { eventsConfigSpec, eventSinkLimits, type EventSinkLimits } from '@strata/events-nats';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** The upstream when none is configured: Docker Hub. */
export const DOCKER_HUB: UpstreamConfig = { host: 'docker.io', endpoint: 'https://registry-1.docker.io' };

/** Parses `host:port` (or `[v6]:port`) of a TCP listener; port 0 picks a free one. */
function parseHostPort(raw: string, name: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(raw.trim());
  const port = m === null ? NaN : Number(m[3]);
  if (m === null || port > 65_535) {
    throw invalidArgument(`config ${name}: expected host:port (e.g. 127.0.0.1:5050 or [::1]:5050), got ${JSON.stringify(raw)}`);
  }
  return { host: (m[1] ?? m[2]) as string, port };
}

/**
 * Parses one `--upstream` value: `host[=endpoint][,insecure]`, e.g.
 * `ghcr.io`, `docker.io=https://mirror.gcr.io`, `registry.lan:5000,insecure`,
 * `127.0.0.1:5000=http://127.0.0.1:5000`. InvalidArgument for an unknown
 * option after a comma or an empty host; the host and endpoint are checked
 * by {@link loadRegistryMirrorConfig}.
 */
export function parseUpstreamFlag(value: string): UpstreamConfig {
  const [spec = '', ...options] = value.split(',');
  const eq = spec.indexOf('=');
  const host = eq === -1 ? spec : spec.slice(0, eq);
  if (host === '') {
    throw invalidArgument(`config upstream: expected host[=endpoint][,insecure], got ${JSON.stringify(value)}`);
  }
  const upstream: UpstreamConfig = { host };
  if (eq !== -1) upstream.endpoint = spec.slice(eq + 1);
  for (const option of options) {
    if (option !== 'insecure') {
      throw invalidArgument(`config upstream ${host}: unknown option ${JSON.stringify(option)}; the only option is "insecure"`);
    }
    upstream.insecure = true;
  }
  return upstream;
}

const UPSTREAM_KEYS = new Set(['host', 'endpoint', 'insecure', 'credentials', 'ca', 'allowPrivateHosts']);

function credentialsOf(raw: unknown, where: string): UpstreamCredentials {
  if (typeof raw === 'object' && raw !== null && !Array.isArray(raw)) {
    const c = raw as Record<string, unknown>;
    const keys = Object.keys(c).sort().join(',');
    if (keys === 'token' && typeof c.token === 'string') return { token: c.token };
    if (keys === 'password,username' && typeof c.username === 'string' && typeof c.password === 'string') {
      return { username: c.username, password: c.password };
    }
  }
  throw invalidArgument(`${where}: credentials must be {"username": …, "password": …} or {"token": …}`);
}

/** Checks one entry of an upstreams file: an object with the keys of UpstreamConfig, correctly typed. */
function upstreamEntry(raw: unknown, where: string): UpstreamConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw invalidArgument(`${where}: expected an object with a "host"`);
  const e = raw as Record<string, unknown>;
  const unknown = Object.keys(e).filter((k) => !UPSTREAM_KEYS.has(k));
  if (unknown.length > 0) {
    throw invalidArgument(`${where}: unknown key ${JSON.stringify(unknown[0])}; known: ${[...UPSTREAM_KEYS].join(', ')}`);
  }
  if (typeof e.host !== 'string') throw invalidArgument(`${where}: "host" must be a string`);
  const upstream: UpstreamConfig = { host: e.host };
  const strings = ['endpoint', 'ca'] as const;
  for (const key of strings) {
    if (e[key] === undefined) continue;
    if (typeof e[key] !== 'string') throw invalidArgument(`${where}: "${key}" must be a string`);
    upstream[key] = e[key];
  }
  for (const key of ['insecure', 'allowPrivateHosts'] as const) {
    if (e[key] === undefined) continue;
    if (typeof e[key] !== 'boolean') throw invalidArgument(`${where}: "${key}" must be true or false`);
    upstream[key] = e[key];
  }
  if (e.credentials !== undefined) upstream.credentials = credentialsOf(e.credentials, where);
  return upstream;
}

/** Reads the upstreams file setting: a path to a JSON array (or, in a --config file, the array itself). */
function upstreamsFile(description: string, env: string): Setting<UpstreamConfig[] | undefined> {
  return {
    description,
    env,
    default: undefined,
    parse: (raw, name) => {
      let list: unknown = raw;
      let source = `config ${name}`;
      if (typeof raw === 'string') {
        source = `config ${name} ${raw}`;
        try {
          list = JSON.parse(readFileSync(raw, 'utf8'));
        } catch (cause) {
          throw invalidArgument(`${source}: cannot read a JSON array of upstreams: ${(cause as Error).message}`, { cause });
        }
      }
      if (!Array.isArray(list)) throw invalidArgument(`${source}: expected a JSON array of upstreams`);
      return list.map((entry, i) => upstreamEntry(entry, `${source}: upstream ${i}`));
    },
  };
}

/** Reads `--upstream` values: whitespace-separated `host[=endpoint][,insecure]` (a --config file may give an array of them). */
function upstreamFlags(description: string, env: string): Setting<UpstreamConfig[] | undefined> {
  return {
    description,
    env,
    default: undefined,
    parse: (raw, name) => {
      const items = Array.isArray(raw) ? raw : typeof raw === 'string' ? raw.split(/\s+/).filter((s) => s !== '') : undefined;
      if (items === undefined || items.some((i) => typeof i !== 'string')) {
        throw invalidArgument(`config ${name}: expected host[=endpoint][,insecure] values, got ${JSON.stringify(raw)}`);
      }
      return (items as string[]).map((item) => parseUpstreamFlag(item));
    },
  };
}

/** Every setting of the registry-mirror: flags are the kebab-case keys, `--config FILE` reads JSON. */
export const registryMirrorSpec = {
  stateDir: str('Directory of persistent state; blobs being fetched upstream are spooled under <state-dir>/registry-mirror/spool.', {
    default: '/var/lib/strata',
    env: 'STRATA_STATE_DIR',
  }),
  runDir: str('Directory of runtime files: <run-dir>/registry-mirror.sock (gRPC Images API and health), and the layer-store socket by default.', {
    default: '/run/strata',
    env: 'STRATA_RUN_DIR',
  }),
  listen: str('host:port of the OCI Distribution HTTP endpoint (plain HTTP; keep it on loopback or behind a TLS proxy).', {
    default: '127.0.0.1:5050',
    env: 'STRATA_MIRROR_LISTEN',
  }),
  layerStoreSocket: optionalStr('Unix socket of the layer-store, where blobs and manifests are kept; <run-dir>/layer-store.sock by default.', {
    env: 'STRATA_LAYER_STORE_SOCKET',
  }),
  ...sameHostLayerStoreSpec,
  natsUrl: str('NATS server URL of the image index (KV bucket strata_images).', {
    default: 'nats://127.0.0.1:4222',
    env: 'STRATA_NATS_URL',
  }),
  upstreams: upstreamsFile(
    'JSON file: an array of {"host", "endpoint"?, "insecure"?, "credentials"?: {"username", "password"} | {"token"}, "ca"?, "allowPrivateHosts"?}.',
    'STRATA_MIRROR_UPSTREAMS',
  ),
  upstream: upstreamFlags(
    'An upstream registry, host[=endpoint][,insecure]; repeat the flag for more (the environment takes them separated by spaces). ' +
      'With neither this nor --upstreams: docker.io=https://registry-1.docker.io.',
    'STRATA_MIRROR_UPSTREAM',
  ),
  defaultUpstream: optionalStr(
    'Upstream of repository names without a registry host; docker.io when it is configured, else none. "" for none.',
    { env: 'STRATA_MIRROR_DEFAULT_UPSTREAM' },
  ),
  tagTtlSeconds: int('Seconds a tag resolved upstream is served from the cache before it is checked again (with a HEAD).', {
    default: 60,
    min: 0,
    max: 7 * 24 * 3600,
    env: 'STRATA_MIRROR_TAG_TTL',
  }),
  node: str('Name of this node in event sources (strata/registry-mirror/<node>).', { default: hostname(), env: 'STRATA_NODE' }),
  logLevel: oneOf('Least severe log level written to stderr.', LOG_LEVELS, { default: 'warn', env: 'STRATA_LOG_LEVEL' }),
  ...eventsConfigSpec,
};

type Raw = ConfigOf<typeof registryMirrorSpec>;

/** The registry-mirror's configuration, validated, with derived paths and defaults filled in. */
export interface RegistryMirrorConfig {
  stateDir: string;
  runDir: string;
  /** `<runDir>/registry-mirror.sock`: gRPC (Images API, health). */
  socket: string;
  /** The HTTP endpoint's address; port 0 picks a free one. */
  listen: { host: string; port: number };
  layerStoreSocket: string;
  /** Set when the layer-store's data socket is to be used. */
  layerStoreDataSocket?: string;
  /** Set when blobs are read from a filesystem layer-store's root directly. */
  layerStoreRoot?: string;
  /** Buffering and STRATA_EVENTS stream limits of the event sink. */
  events: EventSinkLimits;
  natsUrl: string;
  /** Checked with resolveUpstream; hosts are lower-cased and distinct. */
  upstreams: UpstreamConfig[];
  /** A host among upstreams, or '' for none. */
  defaultUpstream: string;
  tagTtlSeconds: number;
  node: string;
  logLevel: (typeof LOG_LEVELS)[number];
}

/** Collects every `--upstream` value (the flag may repeat) and leaves the other arguments. */
function extractUpstreamFlags(argv: readonly string[]): { rest: string[]; values: string[] } {
  const rest: string[] = [];
  const values: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    let value: string | undefined;
    if (arg.startsWith('--upstream=')) value = arg.slice('--upstream='.length);
    else if (arg === '--upstream') value = argv[++i] ?? '';
    else {
      rest.push(arg);
      continue;
    }
    if (value.trim() === '' || value.startsWith('--')) throw invalidArgument('config upstream: --upstream needs a value, host[=endpoint][,insecure]');
    values.push(value);
  }
  return { rest, values };
}

function checkedUpstreams(raw: Raw): UpstreamConfig[] {
  const upstreams = [...(raw.upstreams ?? []), ...(raw.upstream ?? [])];
  if (upstreams.length === 0) return [DOCKER_HUB];
  const seen = new Set<string>();
  return upstreams.map((upstream) => {
    let host: string;
    try {
      host = resolveUpstream(upstream).host;
    } catch (err) {
      throw invalidArgument(`config upstream: ${(err as Error).message}`, { cause: err });
    }
    if (seen.has(host)) throw invalidArgument(`config upstream: ${host} is configured twice; give each upstream once`);
    seen.add(host);
    return { ...upstream, host };
  });
}

/**
 * Loads the registry-mirror's configuration from flags (`--upstream` may
 * repeat), environment and an optional JSON file (`--config FILE`), checks
 * every upstream (host, endpoint, plain HTTP only to loopback or
 * `insecure`), and fills in the derived paths. InvalidArgument, with a
 * sentence naming the setting, for anything wrong.
 */
export function loadRegistryMirrorConfig(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): RegistryMirrorConfig {
  const { rest, values } = extractUpstreamFlags(argv);
  const raw = loadConfig(registryMirrorSpec, { argv: values.length > 0 ? [...rest, '--upstream', values.join(' ')] : rest, env });
  if (raw.stateDir === '') throw invalidArgument('config state-dir: must not be empty');
  if (raw.runDir === '') throw invalidArgument('config run-dir: must not be empty');
  if (raw.natsUrl === '') throw invalidArgument('config nats-url: must not be empty; the image index is kept in NATS');
  if (raw.layerStoreSocket === '') throw invalidArgument('config layer-store-socket: must not be empty');
  const sameHost = readSameHostLayerStore(raw);
  const upstreams = checkedUpstreams(raw);
  const hosts = upstreams.map((u) => u.host);
  let defaultUpstream = raw.defaultUpstream ?? (hosts.includes('docker.io') ? 'docker.io' : '');
  defaultUpstream = defaultUpstream.toLowerCase();
  if (defaultUpstream !== '' && !hosts.includes(defaultUpstream)) {
    throw invalidArgument(
      `config default-upstream: ${defaultUpstream} is not among the upstreams (${hosts.join(', ')}); add it with --upstream or set --default-upstream ""`,
    );
  }
  const runDir = resolve(raw.runDir);
  return {
    stateDir: resolve(raw.stateDir),
    runDir,
    socket: join(runDir, 'registry-mirror.sock'),
    listen: parseHostPort(raw.listen, 'listen'),
    layerStoreSocket: resolve(raw.layerStoreSocket ?? join(runDir, 'layer-store.sock')),
    ...sameHost,
    events: eventSinkLimits(raw),
    natsUrl: raw.natsUrl,
    upstreams,
    defaultUpstream,
    tagTtlSeconds: raw.tagTtlSeconds,
    node: raw.node,
    logLevel: raw.logLevel,
  };
}
