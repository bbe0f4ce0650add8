import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { formatHostPort, hostPort, readTcpListener, tcpListenerSpec, type TcpListener } from '@strata/grpc-kit';
import { int, invalidArgument, labels, loadConfig, oneOf, optionalStr, str, type ConfigOf } from '@strata/kit';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** Every setting of the node-agent: flags are the kebab-case keys, `--config FILE` reads JSON. */
export const nodeAgentSpec = {
  stateDir: str('Directory of persistent state; the agent keeps its containers under <state-dir>/node-agent.', {
    default: '/var/lib/strata',
    env: 'STRATA_STATE_DIR',
  }),
  runDir: str('Directory of runtime files; the socket is <run-dir>/node-agent.sock.', { default: '/run/strata', env: 'STRATA_RUN_DIR' }),
  snapshotterSocket: optionalStr("Unix socket of this host's snapshotter; <run-dir>/snapshotter.sock by default.", {
    env: 'STRATA_SNAPSHOTTER_SOCKET',
  }),
  mirrorSocket: optionalStr("Unix socket of the registry-mirror's Images API; <run-dir>/registry-mirror.sock by default.", {
    env: 'STRATA_MIRROR_SOCKET',
  }),
  dockerSocket: optionalStr('Unix socket (mode 0660) of the Docker Engine API compatible endpoint; <run-dir>/docker.sock by default, an empty string disables it.', {
    env: 'STRATA_DOCKER_SOCKET',
  }),
  layerStoreSocket: optionalStr('Unix socket of the layer-store, where commits read image configs and write new ones; <run-dir>/layer-store.sock by default.', {
    env: 'STRATA_LAYER_STORE_SOCKET',
  }),
  natsUrl: str('NATS server URL for events and heartbeats; an empty string disables both.', {
    default: 'nats://127.0.0.1:4222',
    env: 'STRATA_NATS_URL',
  }),
  node: str('Name of this node: event sources (strata/node-agent/<node>), heartbeats, container records.', {
    default: hostname(),
    env: 'STRATA_NODE',
  }),
  bridge: str('Bridge device of the containers (at most 15 characters).', { default: 'strata0', env: 'STRATA_BRIDGE' }),
  subnet: str("IPv4 subnet of the bridge; its first address is the containers' gateway.", { default: '10.88.0.0/16', env: 'STRATA_SUBNET' }),
  chainPrefix: str("Prefix of the agent's iptables chains.", { default: 'STRATA', env: 'STRATA_CHAIN_PREFIX' }),
  netnsPrefix: str('Prefix of the network namespaces of containers.', { default: 'strata-', env: 'STRATA_NETNS_PREFIX' }),
  cgroupParent: str("Cgroup under which every container gets <parent>/<id>, and its monitors <parent>/monitors/<id> (outside the agent's own cgroup).", { default: '/strata', env: 'STRATA_CGROUP_PARENT' }),
  defaultPidsLimit: int('Pids limit of containers that ask for none; -1 for no limit.', {
    default: 4096,
    min: -1,
    max: 4_194_304,
    env: 'STRATA_DEFAULT_PIDS_LIMIT',
  }),
  logMaxBytes: int('Size of a container log file before it rotates.', { default: 10 * 1024 * 1024, min: 4096, env: 'STRATA_LOG_MAX_BYTES' }),
  logMaxFiles: int('Log files kept per container, the current one included.', { default: 3, min: 1, max: 100, env: 'STRATA_LOG_MAX_FILES' }),
  networkSpares: int('Bridge network attachments (namespace, veth, address) made ahead while the agent is idle, each with an active snapshot on the image run last, so a bridge container is created without waiting for them; 0 for none.', {
    default: 2,
    min: 0,
    max: 64,
    env: 'STRATA_NETWORK_SPARES',
  }),
  runcRoot: optionalStr("runc's state root (runc --root); runc's default when unset.", { env: 'STRATA_RUNC_ROOT' }),
  usernsRange: str('Host ids of user-namespaced containers (run --userns): FIRST:COUNT, container ids 0..COUNT-1 become FIRST.. for uids and gids.', {
    default: '100000:65536',
    env: 'STRATA_USERNS_RANGE',
  }),
  heartbeatSeconds: int('Seconds between node heartbeats in the strata_nodes KV bucket.', { default: 5, min: 1, max: 3600, env: 'STRATA_HEARTBEAT_SECONDS' }),
  ...tcpListenerSpec('STRATA_NODE_AGENT_TCP'),
  advertiseAddress: hostPort('host:port other hosts reach this agent at, written in heartbeats; the --tcp-listen address by default (required when that is a wildcard such as 0.0.0.0).', {
    env: 'STRATA_ADVERTISE_ADDRESS',
  }),
  label: labels('A label of this node, key=value (repeatable; comma-separated in the environment), written in heartbeats for placement constraints.', {
    env: 'STRATA_NODE_LABELS',
  }),
  logLevel: oneOf('Least severe log level written to stderr.', LOG_LEVELS, { default: 'warn', env: 'STRATA_LOG_LEVEL' }),
};

type Raw = ConfigOf<typeof nodeAgentSpec>;

/** The node-agent's configuration, validated, with derived paths. */
export interface NodeAgentConfig {
  /** `<stateDir>/node-agent` (0700): containers/, runtime/, network/. */
  root: string;
  /** `<runDir>/node-agent.sock`, mode 0600. */
  socket: string;
  snapshotterSocket: string;
  mirrorSocket: string;
  /** The Docker Engine API socket (0660); empty: not served. */
  dockerSocket: string;
  layerStoreSocket: string;
  /** Empty: no events and no heartbeats. */
  natsUrl: string;
  node: string;
  bridge: string;
  subnet: string;
  chainPrefix: string;
  netnsPrefix: string;
  cgroupParent: string;
  defaultPidsLimit: number;
  logMaxBytes: number;
  logMaxFiles: number;
  networkSpares: number;
  runcRoot?: string;
  /** Host ids of user-namespaced containers. */
  userNamespaceRange: { hostId: number; size: number };
  heartbeatSeconds: number;
  /** TCP listener with mutual TLS; none unless --tcp-listen is set. */
  tcp?: TcpListener;
  /** `host:port` written in heartbeats; '' when the agent serves only its unix socket. */
  advertiseAddress: string;
  /** Labels of this node, written in heartbeats. */
  labels: Record<string, string>;
  logLevel: Raw['logLevel'];
}

const WILDCARD_HOSTS = new Set(['0.0.0.0', '::', '']);

function advertiseAddress(advertise: Raw['advertiseAddress'], tcp: TcpListener | undefined): string {
  if (tcp === undefined) {
    if (advertise !== undefined) throw invalidArgument('config advertise-address: only used with --tcp-listen; set it or remove this');
    return '';
  }
  if (advertise !== undefined) return formatHostPort(advertise);
  if (WILDCARD_HOSTS.has(tcp.host)) {
    throw invalidArgument(`config advertise-address: needed when --tcp-listen is a wildcard address (${formatHostPort(tcp)}); set the host:port other hosts reach this node at`);
  }
  return formatHostPort(tcp);
}

/**
 * Loads the node-agent's configuration from flags, environment and an
 * optional JSON file (`--config FILE`). InvalidArgument, with a sentence
 * naming the setting, for anything wrong.
 */
export function loadNodeAgentConfig(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): NodeAgentConfig {
  const raw = loadConfig(nodeAgentSpec, { argv, env });
  for (const key of ['stateDir', 'runDir', 'node', 'bridge', 'subnet', 'chainPrefix', 'cgroupParent'] as const) {
    if (raw[key] === '') throw invalidArgument(`config ${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}: must not be empty`);
  }
  if (raw.defaultPidsLimit === 0) throw invalidArgument('config default-pids-limit: use a positive number, or -1 for no limit');
  if (raw.runcRoot === '') throw invalidArgument("config runc-root: must not be empty; leave it out for runc's default");
  const range = /^([0-9]{1,10}):([0-9]{1,10})$/.exec(raw.usernsRange);
  const userNamespaceRange = { hostId: Number(range?.[1]), size: Number(range?.[2]) };
  if (range === null || userNamespaceRange.hostId < 1 || userNamespaceRange.size < 65536 || userNamespaceRange.hostId + userNamespaceRange.size > 2 ** 32 - 1) {
    throw invalidArgument(`config userns-range: ${raw.usernsRange} is not FIRST:COUNT with FIRST >= 1, COUNT >= 65536 and FIRST+COUNT below 2^32-1`);
  }
  const tcp = readTcpListener(raw);
  const stateDir = resolve(raw.stateDir);
  const runDir = resolve(raw.runDir);
  return {
    root: join(stateDir, 'node-agent'),
    socket: join(runDir, 'node-agent.sock'),
    snapshotterSocket: resolve(raw.snapshotterSocket ?? join(runDir, 'snapshotter.sock')),
    mirrorSocket: resolve(raw.mirrorSocket ?? join(runDir, 'registry-mirror.sock')),
    dockerSocket: raw.dockerSocket === '' ? '' : resolve(raw.dockerSocket ?? join(runDir, 'docker.sock')),
    layerStoreSocket: resolve(raw.layerStoreSocket ?? join(runDir, 'layer-store.sock')),
    natsUrl: raw.natsUrl,
    node: raw.node,
    bridge: raw.bridge,
    subnet: raw.subnet,
    chainPrefix: raw.chainPrefix,
    netnsPrefix: raw.netnsPrefix,
    cgroupParent: raw.cgroupParent,
    defaultPidsLimit: raw.defaultPidsLimit,
    logMaxBytes: raw.logMaxBytes,
    logMaxFiles: raw.logMaxFiles,
    networkSpares: raw.networkSpares,
    ...(raw.runcRoot === undefined ? {} : { runcRoot: resolve(raw.runcRoot) }),
    userNamespaceRange,
    heartbeatSeconds: raw.heartbeatSeconds,
    ...(tcp === undefined ? {} : { tcp }),
    advertiseAddress: advertiseAddress(raw.advertiseAddress, tcp),
    labels: raw.label,
    logLevel: raw.logLevel,
  };
}
