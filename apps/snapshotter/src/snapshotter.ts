import { createFsBlobProvider, createFsIngestFollower } from '@strata/content-fs';
import { createGrpcStore, type GrpcStore } from '@strata/content-grpc';
import { createServer } from '@strata/grpc-kit';
import { discardEvents, type EventSink, type Logger } from '@strata/kit';
import type { Layout, LocalSnapshotter } from '@strata/snapshots';
import { removeUnpackLeftovers } from '@strata/diff-service';
import { withSnapshotEvents } from '@strata/snapshots-grpc';
import { createLocalSnapshotter, overlaySupported } from '@strata/snapshots-local';
import type { SnapshotterConfig } from './config.js';
import { snapshotterServices } from './services.js';

/** A running snapshotter. */
export interface RunningSnapshotter {
  /** The unix socket it serves gRPC on. */
  socket: string;
  /** The driver in use (config.driver, or the one chosen for this host). */
  driver: Layout;
  /** This host's snapshotter, publishing snapshot.* events: what the services serve. */
  snapshotter: LocalSnapshotter;
  /** The layer-store client (connects on first use). */
  store: GrpcStore;
  /**
   * Stops accepting calls, lets calls in flight finish (up to graceMs),
   * then closes the snapshotter (waiting for deletions in progress; the root
   * is unlocked), the layer-store client and the event sink. The snapshotter
   * mounts nothing itself, so nothing stays mounted. Idempotent.
   */
  stop(graceMs?: number): Promise<void>;
}

type ClosableSink = EventSink & { close(): Promise<void> };

// The NATS client is loaded only when configured: a quicker start without events.
async function openEvents(config: SnapshotterConfig, logger: Logger): Promise<ClosableSink> {
  if (config.natsUrl === '') return { ...discardEvents, close: async () => undefined };
  const { createNatsEventSink } = await import('@strata/events-nats');
  return createNatsEventSink({ ...config.events, servers: config.natsUrl, source: `strata/snapshotter/${config.node}`, logger: logger.child({ component: 'events' }) });
}

/** config.driver, or overlay when the kernel has overlayfs and native otherwise (logged). */
async function chooseDriver(config: SnapshotterConfig, logger: Logger): Promise<Layout> {
  if (config.driver !== undefined) return config.driver;
  if (await overlaySupported()) {
    logger.info({ driver: 'overlay' }, 'the kernel has overlayfs: using the overlay driver');
    return 'overlay';
  }
  logger.warn({ driver: 'native' }, 'the kernel has no overlayfs: using the native driver (every snapshot is a full copy)');
  return 'native';
}

/**
 * Starts the snapshotter: opens this host's snapshots under config.root
 * with the configured (or chosen) driver — taking the root's lock and
 * cleaning what a crash left — wraps it to publish snapshot.committed and
 * snapshot.removed, connects the layer-store client, and serves the
 * services of snapshotterServices with gRPC health on config.socket (0600).
 * Raises what the parts raise when they cannot start: Unavailable when
 * another live process holds the root, FailedPrecondition when the socket
 * is served by another process; whatever was opened is closed again then.
 */
export async function startSnapshotter(config: SnapshotterConfig, logger: Logger): Promise<RunningSnapshotter> {
  const driver = await chooseDriver(config, logger);
  const events = await openEvents(config, logger);
  let local: LocalSnapshotter;
  try {
    local = await createLocalSnapshotter({ root: config.root, driver, logger: logger.child({ component: 'snapshots' }) });
  } catch (err) {
    await events.close();
    throw err;
  }
  try {
    const leftovers = await removeUnpackLeftovers(local, logger);
    if (leftovers > 0) logger.info({ leftovers }, 'removed the snapshots of unpacks that a crash interrupted');
  } catch (err) {
    await local.close();
    await events.close();
    throw err;
  }
  const snapshotter = withSnapshotEvents(local, events, { node: config.node });
  const store = createGrpcStore(
    { unixSocket: config.layerStoreSocket },
    {
      logger: logger.child({ component: 'layer-store' }),
      ...(config.layerStoreDataSocket === undefined ? {} : { dataSocket: config.layerStoreDataSocket }),
      ...(config.layerStoreRoot === undefined ? {} : { localBlobs: createFsBlobProvider({ root: config.layerStoreRoot }) }),
    },
  );
  // With the layer-store's root on this host, an unpack reads a layer that a pull is still downloading as it is written.
  const follower = config.layerStoreRoot === undefined ? undefined : createFsIngestFollower({ root: config.layerStoreRoot });
  const server = createServer({
    logger,
    services: snapshotterServices({ snapshotter, store, events, logger, ...(follower === undefined ? {} : { follower }) }),
    unixSocket: config.socket,
  });
  const closeParts = async () => {
    try {
      await local.close();
    } finally {
      await store.close();
      await events.close();
    }
  };
  try {
    await server.start();
  } catch (err) {
    await closeParts();
    throw err;
  }
  logger.info({ socket: config.socket, root: config.root, driver }, 'snapshotter started');

  let stopped: Promise<void> | undefined;
  return {
    socket: config.socket,
    driver,
    snapshotter,
    store,
    stop(graceMs = 10_000) {
      stopped ??= (async () => {
        try {
          await server.shutdown(graceMs);
        } finally {
          await closeParts();
        }
      })();
      return stopped;
    },
  };
}
