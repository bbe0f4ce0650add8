import { createServer } from '@strata/grpc-kit';
import type { Logger } from '@strata/kit';
import { tempDir } from '@strata/kit/testing';
import type { Snapshotter } from '@strata/snapshots';
import { createGrpcSnapshotter } from '../grpc-snapshotter.js';
import { createSnapshotsService } from '../snapshots-service.js';

/** A snapshotter served over gRPC for a test, and its client. */
export interface ServedSnapshotter {
  /** The gRPC client: a Snapshotter that calls the served one. */
  client: Snapshotter;
  /** The unix socket the service listens on. */
  socket: string;
  /** Closes the client, shuts the server down and removes its socket directory; the served snapshotter stays open. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Serves snapshotter as the Snapshots service on a unix socket in a fresh
 * temporary directory and connects a client to it. Whatever was started is
 * stopped again when it fails.
 */
export async function serveSnapshotter(snapshotter: Snapshotter, logger: Logger): Promise<ServedSnapshotter> {
  const dir = tempDir('strata-snapshots-grpc-');
  const socket = `${dir.path}/snapshots.sock`;
  const server = createServer({ logger, services: [createSnapshotsService(snapshotter, { logger })], unixSocket: socket });
  try {
    await server.start();
  } catch (err) {
    dir.remove();
    throw err;
  }
  const client = createGrpcSnapshotter({ unixSocket: socket }, { logger });
  let stopped: Promise<void> | undefined;
  return {
    client,
    socket,
    stop() {
      stopped ??= (async () => {
        try {
          await client.close();
          await server.shutdown(1000);
        } finally {
          dir.remove();
        }
      })();
      return stopped;
    },
  };
}
