import { existsSync, readdirSync } from 'node:fs';
import { hostname, userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import type { RpcClient, TlsMaterial } from '@strata/grpc-kit';
import { errorKind, failedPrecondition, invalidArgument, isNotFound, isUnavailable, notFound, silentLogger } from '@strata/kit';
import type { NodeView } from '@strata/nodes';
import type { NatsNodeDirectory } from '@strata/nodes-nats';
import { flags } from '../framework/flags.js';

/** File name of the node-agent's gRPC socket under the run dir. */
const NODE_AGENT_SOCKET = 'node-agent.sock';

/** Where `strata ca` keeps the fleet CA unless STRATA_CA_DIR says otherwise. */
const DEFAULT_CA_DIR = '/var/lib/strata/ca';

/** `--nats`: the NATS server whose `strata_nodes` bucket lists the fleet. */
export const natsFlag = flags.string('NATS server URL of the fleet (default: the one `strata up` recorded in the run dir, else nats://127.0.0.1:4222)', {
  placeholder: 'URL',
  env: 'STRATA_NATS_URL',
});

/**
 * The flags of a command that reaches other nodes: NATS (to find them) and
 * the client certificate of mutual TLS (to call them). Without TLS flags the
 * files `strata ca issue client` wrote are used when present.
 */
export const fleetFlags = {
  nats: natsFlag,
  tlsCert: flags.string('Client certificate (PEM) for calling other nodes over mutual TLS', { placeholder: 'FILE', env: 'STRATA_TLS_CERT' }),
  tlsKey: flags.string('Private key (PEM, mode 0600) of the client certificate', { placeholder: 'FILE', env: 'STRATA_TLS_KEY' }),
  tlsCa: flags.string('The fleet CA certificate (PEM) that signs the nodes', { placeholder: 'FILE', env: 'STRATA_TLS_CA' }),
};

/** Values of {@link fleetFlags}. */
export interface FleetFlagValues {
  nats: string | undefined;
  tlsCert: string | undefined;
  tlsKey: string | undefined;
  tlsCa: string | undefined;
}

/** Paths of the client's TLS files. */
export interface ClientTlsFiles {
  cert: string;
  key: string;
  ca: string;
}

/**
 * The client TLS files to use: the flags (or STRATA_TLS_* variables) when
 * any is given — all three then — else what `strata ca issue client` wrote
 * under the CA directory (STRATA_CA_DIR, /var/lib/strata/ca by default):
 * `clients/<user>/` for the user running the CLI, or the only client
 * directory there is. Undefined when there is none. Raises InvalidArgument
 * when only some of the three flags are given.
 */
export function clientTlsFiles(values: FleetFlagValues, env: Readonly<Record<string, string | undefined>>): ClientTlsFiles | undefined {
  const given = [values.tlsCert, values.tlsKey, values.tlsCa];
  if (given.some((v) => v !== undefined)) {
    const missing = (['--tls-cert', '--tls-key', '--tls-ca'] as const).filter((_, i) => given[i] === undefined);
    if (missing.length > 0) throw invalidArgument(`calling other nodes over mutual TLS needs ${missing.join(', ')} too`);
    return { cert: resolve(values.tlsCert!), key: resolve(values.tlsKey!), ca: resolve(values.tlsCa!) };
  }
  const clients = join(env.STRATA_CA_DIR || DEFAULT_CA_DIR, 'clients');
  const filesOf = (name: string): ClientTlsFiles => ({ cert: join(clients, name, `${name}.crt`), key: join(clients, name, `${name}.key`), ca: join(clients, name, 'ca.crt') });
  const complete = (f: ClientTlsFiles) => existsSync(f.cert) && existsSync(f.key) && existsSync(f.ca);
  let user: string | undefined;
  try {
    user = userInfo().username;
  } catch {
    user = undefined;
  }
  if (user !== undefined && complete(filesOf(user))) return filesOf(user);
  let names: string[];
  try {
    names = readdirSync(clients).filter((n) => complete(filesOf(n)));
  } catch {
    return undefined;
  }
  return names.length === 1 ? filesOf(names[0]!) : undefined;
}

/** Settings of {@link createNodeClients}. */
export interface NodeClientsOptions {
  /** NATS server of the fleet's `strata_nodes` bucket. */
  natsUrl: string;
  /** Run dir of this host: its node-agent's unix socket is there. */
  runDir: string;
  /** This host's node name (STRATA_NODE, else the host name: the node-agent's default). */
  localNode: string;
  /** Client certificate, key and fleet CA files, read on the first call to another node; without them only the local node is reachable. */
  tlsFiles?: ClientTlsFiles;
  /** How long a lookup in the node directory waits for NATS; 2 s by default. */
  natsWaitMs?: number;
}

/** What one node answered in {@link NodeClients.each}. */
export type NodeResult<T> = { node: NodeView; value: T } | { node: NodeView; error: unknown };

/**
 * Containers clients of the fleet's nodes, by node name: the local node's
 * agent through its unix socket, the others over TCP with mutual TLS at the
 * address they heartbeat, checking that the server's certificate names the
 * node. Clients are made on first use and closed by close().
 */
export interface NodeClients {
  readonly localNode: string;
  /** True when a client certificate is set, so other nodes can be called. */
  readonly canReachFleet: boolean;
  /** Every node of the fleet with its state, by name. Unavailable when NATS cannot be reached. */
  nodes(): Promise<NodeView[]>;
  /** The node called name. NotFound when it never heartbeated; Unavailable when NATS cannot be reached. */
  node(name: string): Promise<NodeView>;
  /** The local node-agent's client (unix socket). */
  local(): Promise<RpcClient>;
  /**
   * The client of node (a name or a view): the local one for the local
   * node, else TCP with mutual TLS. NotFound for an unknown node;
   * FailedPrecondition when the node is down, serves no TCP address, or no
   * client certificate is configured.
   */
  client(node: string | NodeView): Promise<RpcClient>;
  /**
   * The client of the node called name whose agent serves at address (as a
   * placement decision names them), without a lookup in the node directory:
   * the local one for the local node, else TCP with mutual TLS.
   * FailedPrecondition when address is empty or no client certificate is
   * configured.
   */
  clientAt(name: string, address: string): Promise<RpcClient>;
  /**
   * Calls fn on every ready node in parallel (the local one through its
   * socket) and reports each node's value or error; one failing node does
   * not stop the others.
   */
  each<T>(fn: (client: RpcClient, node: NodeView) => Promise<T>): Promise<Array<NodeResult<T>>>;
  /**
   * Finds the ready node other than the local one whose agent knows the
   * container ref (an id, id prefix or name), asking all of them in
   * parallel. NotFound `No such container: ref` when none does;
   * InvalidArgument when several do (a name used on several nodes).
   */
  locate(ref: string): Promise<{ node: NodeView; client: RpcClient }>;
  close(): Promise<void>;
}

/**
 * The node name the CLI takes for this host: STRATA_NODE, else the host
 * name (what the node-agent takes by default).
 */
export function localNodeName(env: Readonly<Record<string, string | undefined>>): string {
  return env.STRATA_NODE || hostname();
}

/** Creates {@link NodeClients}; nothing connects until it is used. */
export function createNodeClients(options: NodeClientsOptions): NodeClients {
  const clients = new Map<string, RpcClient>();
  let directory: Promise<NatsNodeDirectory> | undefined;
  let localClient: RpcClient | undefined;
  let tls: Promise<TlsMaterial> | undefined;
  let factory: Promise<typeof import('../framework/rpc-client.js')> | undefined;
  const rpc = () => (factory ??= import('../framework/rpc-client.js'));

  const openDirectory = () =>
    (directory ??= import('@strata/nodes-nats').then(({ createNatsNodeDirectory }) =>
      createNatsNodeDirectory({ servers: options.natsUrl, logger: silentLogger(), connectWaitMs: options.natsWaitMs ?? 2000 }),
    ));

  const self: NodeClients = {
    localNode: options.localNode,
    canReachFleet: options.tlsFiles !== undefined,

    async nodes() {
      return (await openDirectory()).list();
    },

    async node(name) {
      const view = await (await openDirectory()).get(name);
      if (view === undefined) throw notFound(`no such node: ${name}; \`strata nodes\` lists the fleet`, { fields: { node: name } });
      return view;
    },

    local: () => localClientOf(),

    async client(node) {
      const name = typeof node === 'string' ? node : node.name;
      if (name === options.localNode) return localClientOf();
      const cached = clients.get(name);
      if (cached !== undefined) return cached;
      const view = typeof node === 'string' ? await self.node(node) : node;
      if (view.state === 'down') throw failedPrecondition(`node ${name} is down: no heartbeat since ${view.heartbeatAt.toISOString()}`, { fields: { node: name } });
      return self.clientAt(name, view.address);
    },

    async clientAt(name, address) {
      if (name === options.localNode) return localClientOf();
      const cached = clients.get(name);
      if (cached !== undefined) return cached;
      if (address === '') throw failedPrecondition(`node ${name} serves no TCP address: start its node-agent with --tcp-listen`, { fields: { node: name } });
      if (options.tlsFiles === undefined) {
        throw failedPrecondition(
          `calling node ${name} needs a client certificate of the fleet CA: pass --tls-cert, --tls-key and --tls-ca, or issue one with \`strata ca issue client NAME\``,
          { fields: { node: name } },
        );
      }
      const [{ createClient }, material] = await Promise.all([rpc(), tlsOf(options.tlsFiles)]);
      const existing = clients.get(name);
      if (existing !== undefined) return existing;
      const client = createClient({ address, tls: { ...material, serverName: name } });
      clients.set(name, client);
      return client;
    },

    async each(fn) {
      await localClientOf();
      const ready = (await self.nodes()).filter((n) => n.state === 'ready');
      if (!ready.some((n) => n.name === options.localNode)) ready.push(localView(options.localNode));
      return Promise.all(
        ready.map(async (node): Promise<NodeResult<Awaited<ReturnType<typeof fn>>>> => {
          try {
            return { node, value: await fn(await self.client(node), node) };
          } catch (error) {
            return { node, error };
          }
        }),
      );
    },

    async locate(ref) {
      const { ContainersService } = await import('@strata/api/containers/v1');
      const others = (await self.nodes()).filter((n) => n.state === 'ready' && n.name !== options.localNode && n.address !== '');
      const silent: string[] = [];
      const answers = await Promise.all(
        others.map(async (node) => {
          try {
            const client = await self.client(node);
            await client.unary(ContainersService.inspect, { id: ref }, { deadline: Date.now() + 5000 });
            return { node, client };
          } catch (err) {
            if (isNotFound(err)) return undefined;
            if (isUnavailable(err) || errorKind(err) === 'DeadlineExceeded') {
              silent.push(node.name);
              return undefined;
            }
            throw err;
          }
        }),
      );
      const found = answers.filter((a) => a !== undefined);
      if (found.length === 0) {
        const note = silent.length === 0 ? '' : ` (node${silent.length > 1 ? 's' : ''} ${silent.sort().join(', ')} did not answer)`;
        throw notFound(`No such container: ${ref}${note}`, { fields: { ref } });
      }
      if (found.length > 1) {
        throw invalidArgument(`container ${ref} is on several nodes (${found.map((f) => f.node.name).join(', ')}); use its id`, { fields: { ref } });
      }
      return found[0]!;
    },

    async close() {
      localClient?.close();
      for (const c of clients.values()) c.close();
      clients.clear();
      const d = directory;
      directory = undefined;
      if (d !== undefined) await (await d.catch(() => undefined))?.close();
    },
  };

  async function tlsOf(files: ClientTlsFiles): Promise<TlsMaterial> {
    tls ??= import('@strata/fleet-ca').then(({ readTlsFiles }) => readTlsFiles(files));
    return tls;
  }

  async function localClientOf(): Promise<RpcClient> {
    if (localClient === undefined) {
      const { createClient } = await rpc();
      localClient = createClient({ unixSocket: join(resolve(options.runDir), NODE_AGENT_SOCKET) });
    }
    return localClient;
  }

  return self;
}

/** The local node as the directory would show it, when it has not heartbeated (an agent without NATS). */
function localView(name: string): NodeView {
  return {
    name,
    address: '',
    cpus: 0,
    memoryBytes: 0,
    allocatableCpus: 0,
    allocatableMemoryBytes: 0,
    runningContainers: 0,
    containers: 0,
    labels: {},
    cgroupVersion: 0,
    runtime: '',
    kernel: '',
    heartbeatAt: new Date(0),
    heartbeatIntervalSeconds: 0,
    version: '',
    state: 'ready',
  };
}

/** True for the error an agent raises for a container it does not have, or for an agent that cannot be reached. */
export function isElsewhere(err: unknown): boolean {
  return (isNotFound(err) && err.message.startsWith('No such container')) || isUnavailable(err);
}

/**
 * Everything a container command needs to reach the fleet, from its flags:
 * the NATS URL (flag, then what `strata up` recorded, then the default), the
 * client TLS files (read on the first call to another node: fleet-ca's
 * readTlsFiles errors surface then), and this host's node name. Raises
 * InvalidArgument when only some TLS flags are given.
 */
export async function nodeClientsFromFlags(
  values: FleetFlagValues & { runDir: string },
  env: Readonly<Record<string, string | undefined>>,
): Promise<NodeClients> {
  const { resolveNatsUrl } = await import('../commands/events.js');
  const tlsFiles = clientTlsFiles(values, env);
  return createNodeClients({
    natsUrl: resolveNatsUrl(values.nats, values.runDir),
    runDir: values.runDir,
    localNode: localNodeName(env),
    ...(tlsFiles === undefined ? {} : { tlsFiles }),
  });
}
