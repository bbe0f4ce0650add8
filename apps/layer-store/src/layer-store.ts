import { collectGarbage, type LeaseManager, type Store } from '@strata/content';
import { createFsContent } from '@strata/content-fs';
import { createContentService, startDataServer, type DataServer } from '@strata/content-grpc';
import { createServer, type Listening } from '@strata/grpc-kit';
import { discardEvents, type EventSink, type Logger } from '@strata/kit';
import type { LayerStoreConfig } from './config.js';

/** A running layer-store. */
export interface LayerStore {
  listening: Listening;
  /** The data socket's path, when one is served. */
  dataSocket?: string;
  /**
   * Stops accepting calls, lets calls in flight finish (up to graceMs),
   * waits for a garbage collection pass in progress, then closes the store
   * and the event sink.
   */
  stop(graceMs?: number): Promise<void>;
}

type ClosableSink = EventSink & { close(): Promise<void> };

// The NATS and S3 clients are loaded only when configured: a quicker start for the common case.
async function openEvents(config: LayerStoreConfig, logger: Logger): Promise<ClosableSink> {
  if (config.natsUrl === '') return { ...discardEvents, close: async () => undefined };
  const { createNatsEventSink } = await import('@strata/events-nats');
  return createNatsEventSink({ ...config.events, servers: config.natsUrl, source: `strata/layer-store/${config.node}`, logger: logger.child({ component: 'events' }) });
}

async function openBackend(config: LayerStoreConfig, logger: Logger): Promise<{ store: Store; leases: LeaseManager }> {
  const log = logger.child({ component: `content-${config.backend}` });
  if (config.s3 !== undefined) {
    const { createS3Content } = await import('@strata/content-s3');
    return createS3Content({ ...config.s3, logger: log });
  }
  return createFsContent({ root: config.blobRoot, logger: log });
}

/**
 * Starts the layer-store: the backend config names, the Content and Leases
 * gRPC services with health on the unix socket (and TCP with mutual TLS when
 * configured), the data socket beside it (blob bytes over HTTP/1.1 for
 * clients on this host, mode 0600; see createDataHandler) unless disabled, events to NATS unless disabled, and periodic garbage
 * collection when an interval is set. Raises what the parts raise when they
 * cannot start (FailedPrecondition for a socket in use, Unavailable for an
 * unreachable S3); whatever was opened is closed again then.
 */
export async function startLayerStore(config: LayerStoreConfig, logger: Logger): Promise<LayerStore> {
  const events = await openEvents(config, logger);
  let backend: { store: Store; leases: LeaseManager };
  try {
    backend = await openBackend(config, logger);
  } catch (err) {
    await events.close();
    throw err;
  }
  const { store, leases } = backend;
  const service = createContentService(store, leases, { logger, events });
  const server = createServer({
    logger,
    services: service.registrations,
    unixSocket: config.socket,
    ...(config.tcp === undefined ? {} : { tcp: config.tcp }),
  });
  let listening: Listening;
  let data: DataServer | undefined;
  try {
    listening = await server.start();
    if (config.dataSocket !== '') data = await startDataServer({ socket: config.dataSocket, handler: service.data, logger });
  } catch (err) {
    await server.shutdown(0);
    await store.close();
    await events.close();
    throw err;
  }

  let gcRunning: Promise<void> | undefined;
  const gcTimer =
    config.gcIntervalSeconds > 0
      ? setInterval(() => {
          if (gcRunning !== undefined) return;
          gcRunning = collectGarbage({ store, leases, logger, events })
            .then(
              () => undefined,
              (err: unknown) => logger.error({ err }, 'garbage collection failed'),
            )
            .finally(() => {
              gcRunning = undefined;
            });
        }, config.gcIntervalSeconds * 1000)
      : undefined;

  let stopped: Promise<void> | undefined;
  return {
    listening,
    ...(data === undefined ? {} : { dataSocket: data.socket }),
    stop(graceMs = 10_000) {
      stopped ??= (async () => {
        clearInterval(gcTimer);
        await Promise.all([server.shutdown(graceMs), data?.close()]);
        await gcRunning;
        await store.close();
        await events.close();
      })();
      return stopped;
    },
  };
}
