import { existsSync } from 'node:fs';
import { connect as connectTcp } from 'node:net';
import { join } from 'node:path';
import { failedPrecondition } from '@strata/kit';
import type { ServiceSpec, StackContext } from './service.js';

/** True when something accepts TCP connections on 127.0.0.1:port. */
function portTaken(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connectTcp({ host: '127.0.0.1', port });
    socket.setTimeout(1000, () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** The unix socket a service serves gRPC on: `<runDir>/<name>.sock`. */
export function serviceSocket(ctx: StackContext, name: string): string {
  return join(ctx.runDir, `${name}.sock`);
}

/**
 * How `strata up` starts one of the repo's Node.js services: node with
 * apps/<name>/bin/<name>.mjs, the stack's state and run directories and NATS,
 * then extra. FailedPrecondition when the bin is missing.
 */
function appCommand(ctx: StackContext, name: string, extra: readonly string[] = [], nodeFlags: readonly string[] = []): { command: string; args: string[] } {
  const bin = join(ctx.repoRoot, `apps/${name}/bin/${name}.mjs`);
  if (!existsSync(bin)) throw failedPrecondition(`cannot start ${name}: ${bin} is missing`);
  return { command: process.execPath, args: [...nodeFlags, bin, '--state-dir', ctx.stateDir, '--run-dir', ctx.runDir, '--nats-url', ctx.natsUrl, ...extra] };
}

/**
 * The node-agent's Node.js flags (deploy/ starts it with the same): a young
 * generation of 1 MiB semi-spaces instead of 16. The agent forks a process
 * (ip, runc, a monitor) for every container, and a fork copies the page
 * tables of the agent's memory while its event loop waits: with V8's default
 * the agent's heap grew to ~135 MB and each spawn blocked it ~7 ms; with 1 MiB
 * ~70 MB and ~4 ms, for a little more garbage collection.
 */
export const NODE_AGENT_NODE_FLAGS = ['--max-semi-space-size=1'] as const;

/** NATS with JetStream, bound to 127.0.0.1, its store under `<stateDir>/nats`. */
export const natsService: ServiceSpec = {
  name: 'nats',
  command: (ctx) => {
    const store = join(ctx.stateDir, 'nats');
    return { command: 'nats-server', args: ['-js', '-a', '127.0.0.1', '-p', String(ctx.natsPort), '-sd', store], dirs: [store] };
  },
  endpoints: (ctx) => [{ protocol: 'nats', address: ctx.natsUrl }],
  conflict: async (ctx) =>
    (await portTaken(ctx.natsPort))
      ? `port ${ctx.natsPort} on 127.0.0.1 is already in use; stop what listens there or pass --nats-port`
      : undefined,
  probe: async (ctx) => (await import('@strata/events-nats')).probeNats(ctx.natsUrl, 1000),
  readyTimeoutMs: 15_000,
};

/**
 * The layer-store runs on this host: the flags that make a service write
 * blob bytes through its data socket and read committed blobs from its files.
 */
function sameHostLayerStoreArgs(ctx: { runDir: string; stateDir: string }): string[] {
  return ['--layer-store-data-socket', join(ctx.runDir, 'layer-store.data.sock'), '--layer-store-root', join(ctx.stateDir, 'layer-store')];
}

/** Checks the socket's gRPC health: resolves on SERVING, raises with the status or error otherwise. */
async function grpcServing(socket: string): Promise<void> {
  const { checkHealth } = await import('../framework/rpc-client.js');
  const status = await checkHealth({ unixSocket: socket }, '', { timeoutMs: 1000 });
  if (status !== 'SERVING') throw new Error(`health is ${status}`);
}

/** The layer-store on the local filesystem, gRPC on `<runDir>/layer-store.sock`, events to NATS. */
export const layerStoreService: ServiceSpec = {
  name: 'layer-store',
  command: (ctx) => appCommand(ctx, 'layer-store'),
  endpoints: (ctx) => [{ protocol: 'grpc', address: `unix:${serviceSocket(ctx, 'layer-store')}` }],
  conflict: (ctx) => socketConflict(ctx, 'layer-store'),
  probe: (ctx) => grpcServing(serviceSocket(ctx, 'layer-store')),
  readyTimeoutMs: 30_000,
};

/** Why a service cannot use socket: another one already serves it; or undefined. */
async function socketConflict(ctx: StackContext, name: string): Promise<string | undefined> {
  const socket = serviceSocket(ctx, name);
  if (!existsSync(socket)) return undefined;
  return (await grpcServing(socket).then(
    () => true,
    () => false,
  ))
    ? `another ${name} already serves ${socket}; stop it first`
    : undefined;
}

/**
 * The registry-mirror: the OCI Distribution HTTP API on
 * 127.0.0.1:<mirrorPort> (blobs in the layer-store, tags in NATS), gRPC
 * health on `<runDir>/registry-mirror.sock`.
 */
export const registryMirrorService: ServiceSpec = {
  name: 'registry-mirror',
  command: (ctx) => appCommand(ctx, 'registry-mirror', ['--listen', `127.0.0.1:${ctx.mirrorPort}`, ...sameHostLayerStoreArgs(ctx)]),
  endpoints: (ctx) => [
    { protocol: 'http', address: ctx.mirrorUrl },
    { protocol: 'grpc', address: `unix:${serviceSocket(ctx, 'registry-mirror')}` },
  ],
  conflict: async (ctx) =>
    (await socketConflict(ctx, 'registry-mirror')) ??
    ((await portTaken(ctx.mirrorPort))
      ? `port ${ctx.mirrorPort} on 127.0.0.1 is already in use; stop what listens there or pass --mirror-port`
      : undefined),
  probe: (ctx) => grpcServing(serviceSocket(ctx, 'registry-mirror')),
  readyTimeoutMs: 30_000,
};

/** Why a service that needs root cannot run for the user uid (why: what it needs root for), or undefined for root. */
export function rootRequired(uid: number | undefined, why: string): string | undefined {
  if (uid === undefined || uid === 0) return undefined;
  return `it needs root (${why}); run strata up as root to start it`;
}

/**
 * The snapshotter: this host's unpacked layers under `<stateDir>/snapshotter`
 * (overlay driver when the kernel has overlayfs), gRPC on
 * `<runDir>/snapshotter.sock`, layers read from the layer-store's socket in
 * the same run dir, events to NATS. Needs root, so it is left out for other
 * users.
 */
export const snapshotterService: ServiceSpec = {
  name: 'snapshotter',
  command: (ctx) => appCommand(ctx, 'snapshotter', sameHostLayerStoreArgs(ctx)),
  endpoints: (ctx) => [{ protocol: 'grpc', address: `unix:${serviceSocket(ctx, 'snapshotter')}` }],
  conflict: (ctx) => socketConflict(ctx, 'snapshotter'),
  unsupported: () => rootRequired(process.getuid?.(), 'layers hold files of every owner, and mounts need it'),
  probe: (ctx) => grpcServing(serviceSocket(ctx, 'snapshotter')),
  readyTimeoutMs: 30_000,
};

/**
 * The node-agent: this host's containers (runc under a per-container
 * monitor, rootfs from the snapshotter, images from the registry-mirror,
 * bridge network and cgroups), gRPC Containers on `<runDir>/node-agent.sock`,
 * container events and node heartbeats to NATS. Needs root, so it is left
 * out for other users, like the snapshotter it depends on. Its containers
 * keep running when it stops.
 */
export const nodeAgentService: ServiceSpec = {
  name: 'node-agent',
  command: (ctx) => appCommand(ctx, 'node-agent', [], NODE_AGENT_NODE_FLAGS),
  endpoints: (ctx) => [
    { protocol: 'grpc', address: `unix:${serviceSocket(ctx, 'node-agent')}` },
    { protocol: 'docker', address: `unix://${join(ctx.runDir, 'docker.sock')}` },
  ],
  conflict: (ctx) => socketConflict(ctx, 'node-agent'),
  unsupported: () => rootRequired(process.getuid?.(), 'containers need mounts, namespaces, cgroups and iptables'),
  probe: (ctx) => grpcServing(serviceSocket(ctx, 'node-agent')),
  readyTimeoutMs: 30_000,
};

/**
 * The services of the local stack in start order (each may use those before
 * it); `strata down` stops them in reverse.
 */
export const stackServices: readonly ServiceSpec[] = [natsService, layerStoreService, registryMirrorService, snapshotterService, nodeAgentService];
