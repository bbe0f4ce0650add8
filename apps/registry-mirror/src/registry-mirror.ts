import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { createFsBlobProvider, fsLayout, removeStaleImports } from '@strata/content-fs';
import { createGrpcStore } from '@strata/content-grpc';
import { createRegistryClient } from '@strata/distribution-client';
import { createNatsEventSink } from '@strata/events-nats';
import { createServer, type Server } from '@strata/grpc-kit';
import { createImageEvents, createImagesService, type ImageEvents } from '@strata/images-service';
import { createNatsTagStore } from '@strata/images-nats';
import { failedPrecondition, isFailedPrecondition, type Logger } from '@strata/kit';
import { createLocalBackend, createRegistryHandler, startRegistryServer, type RegistryServer } from '@strata/registry-http';
import { createMirrorBackend } from '@strata/registry-proxy';
import type { RegistryMirrorConfig } from './config.js';

/** A running registry-mirror. */
export interface RegistryMirror {
  /** Base URL of the OCI Distribution HTTP endpoint, e.g. `http://127.0.0.1:5050`. */
  readonly url: string;
  /** The unix socket of its gRPC server: `strata.images.v1.Images` and health. */
  readonly socket: string;
  /**
   * The hosts its local repositories are named under in the Images API
   * (`<host>/local/app:v1`): the HTTP address, and `localhost:<port>` when
   * it listens on loopback.
   */
  readonly localDomains: readonly string[];
  /**
   * Stops serving HTTP (open connections are closed) and gRPC (calls in
   * flight may finish within graceMs), then closes the image index and the
   * layer-store client. Safe to call more than once.
   */
  stop(graceMs?: number): Promise<void>;
}

async function listen(config: RegistryMirrorConfig, start: () => Promise<RegistryServer>): Promise<RegistryServer> {
  try {
    return await start();
  } catch (cause) {
    const { host, port } = config.listen;
    const address = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
    const why = (cause as NodeJS.ErrnoException).code === 'EADDRINUSE' ? 'the address is already in use' : (cause as Error).message;
    throw failedPrecondition(`cannot listen on ${address}: ${why}; stop what listens there or pass --listen`, { cause });
  }
}

/** The HTTP address as image names spell it, and its `localhost` alias on loopback. */
export function localDomainsOf(url: string): string[] {
  const { host, hostname, port } = new URL(url);
  const loopback = hostname === '127.0.0.1' || hostname === '[::1]' || hostname === 'localhost';
  return loopback && hostname !== 'localhost' ? [host, `localhost:${port}`] : [host];
}

/**
 * Starts the registry-mirror: the OCI Distribution HTTP API on
 * config.listen, a pull-through cache of the configured upstreams beside
 * local (pushed) repositories under `local/…` (routing: see
 * createMirrorBackend), with blobs and manifests kept in the layer-store
 * (over gRPC; blob bytes over its data socket and read from its blob root
 * directly when those are configured) and tags in the NATS image index; the gRPC Images API
 * (createImagesService: pulls share the HTTP API's single-flight fetches)
 * and health on `<runDir>/registry-mirror.sock`; events (`image.pulled`,
 * `image.tagged`, `image.deleted`) to NATS with source
 * `strata/registry-mirror/<node>`, from the Images API and from pushes and
 * manifest deletes of local repositories over HTTP alike. Blobs being fetched upstream for clients are spooled
 * under `<stateDir>/registry-mirror/spool`, or, with the layer-store's data socket and root, in its imports
 * directory, from where the layer-store imports them once complete. The layer-store and NATS (and
 * the image index bucket) are connected to in the background as it starts,
 * so the first request does not wait for them: while they are down,
 * requests fail with 503 and the mirror stays up. Raises FailedPrecondition when the HTTP address or
 * the socket is taken, InvalidArgument for upstreams the registry client
 * refuses; whatever was opened is closed again then.
 */
export async function startRegistryMirror(config: RegistryMirrorConfig, logger: Logger): Promise<RegistryMirror> {
  const spoolDir = join(config.stateDir, 'registry-mirror', 'spool');
  await mkdir(spoolDir, { recursive: true, mode: 0o700 });
  // With the layer-store's data socket and root on this host, cold blobs are spooled into its imports directory and
  // imported from there, instead of each byte going through its socket to an ingest as well. What a mirror that
  // crashed was spooling there goes first.
  const importsRoot = config.layerStoreDataSocket === undefined ? undefined : config.layerStoreRoot;
  if (importsRoot !== undefined) {
    await removeStaleImports(importsRoot, logger).catch((err: unknown) => logger.warn({ err }, "cannot clean the layer-store's imports directory"));
  }
  const upstreams = createRegistryClient({ upstreams: config.upstreams, logger: logger.child({ component: 'upstreams' }) });
  const store = createGrpcStore(
    { unixSocket: config.layerStoreSocket },
    {
      logger: logger.child({ component: 'layer-store-client' }),
      ...(config.layerStoreDataSocket === undefined ? {} : { dataSocket: config.layerStoreDataSocket }),
      ...(config.layerStoreRoot === undefined ? {} : { localBlobs: createFsBlobProvider({ root: config.layerStoreRoot }) }),
    },
  );
  // Connected now, in the background, so that the first pull does not wait
  // for the channel; a layer-store still starting is waited for a while, one
  // that is down is reached on first use as before.
  store.connect().then(
    () => logger.debug('connected to the layer-store'),
    (err: unknown) => {
      if (!isFailedPrecondition(err)) logger.warn({ err }, 'the layer-store is not reachable yet; requests will try again');
    },
  );
  // Opens the image index bucket in the background as soon as NATS is connected.
  const tags = createNatsTagStore({ servers: config.natsUrl, logger });
  const events = createNatsEventSink({ ...config.events, servers: config.natsUrl, source: `strata/registry-mirror/${config.node}`, logger: logger.child({ component: 'events' }) });
  const closeClients = async () => {
    upstreams.close();
    await tags.close();
    await store.close();
    await events.close();
  };
  let grpc: Server | undefined;
  let http: RegistryServer | undefined;
  let localDomains: string[] = [];
  // Set as soon as the HTTP address is known, before the first request can be read.
  let imageEvents: ImageEvents | undefined;
  try {
    const local = createLocalBackend({
      store,
      tags,
      leases: store.leases,
      onReferenceChange: (change) => imageEvents?.publish(change),
      logger: logger.child({ component: 'local-backend' }),
    });
    const backend = createMirrorBackend({
      store,
      tags,
      upstreams,
      local,
      defaultUpstream: config.defaultUpstream === '' ? null : config.defaultUpstream,
      tagTtlSeconds: config.tagTtlSeconds,
      spoolDir,
      ...(importsRoot === undefined ? {} : { importsDir: fsLayout(importsRoot).imports }),
      logger: logger.child({ component: 'mirror-backend' }),
    });
    const handler = createRegistryHandler({ backend, logger: logger.child({ component: 'http' }) });
    http = await listen(config, () => startRegistryServer({ host: config.listen.host, port: config.listen.port, handler, logger }));
    localDomains = localDomainsOf(http.url);
    imageEvents = createImageEvents({ events, localDomains });
    const images = createImagesService({
      store,
      tags,
      backend,
      leases: store.leases,
      events,
      localDomains,
      registries: upstreams,
      spoolDir,
      logger: logger.child({ component: 'images' }),
    });
    grpc = createServer({ logger, services: images.registrations, unixSocket: config.socket });
    await grpc.start();
  } catch (err) {
    await http?.close();
    await grpc?.shutdown(0);
    await closeClients();
    throw err;
  }
  const server = http;
  const grpcServer = grpc;
  logger.info({ url: server.url, socket: config.socket, upstreams: config.upstreams.map((u) => u.host) }, 'registry-mirror serving');

  let stopped: Promise<void> | undefined;
  return {
    url: server.url,
    socket: config.socket,
    localDomains,
    stop(graceMs = 10_000) {
      stopped ??= (async () => {
        await Promise.all([server.close(), grpcServer.shutdown(graceMs)]);
        await closeClients();
      })();
      return stopped;
    },
  };
}
