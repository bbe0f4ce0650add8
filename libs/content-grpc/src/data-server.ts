import { createServer, type Server } from 'node:http';
import { bindPrivateSocket } from '@strata/grpc-kit';
import type { Logger } from '@strata/kit';
import type { DataHandler } from './data-handler.js';

/** What startDataServer serves. */
export interface DataServerOptions {
  /** Path of the unix socket (created 0600; its directory 0700 when created). */
  socket: string;
  handler: DataHandler;
  logger: Logger;
}

/** A running data socket server. */
export interface DataServer {
  readonly socket: string;
  /** Stops accepting connections, ends open ones and removes the socket file it created. Safe to call more than once. */
  close(): Promise<void>;
}

const listen = (server: Server, path: string) =>
  new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      server.off('error', reject);
      resolve();
    });
  });

/**
 * Serves handler (the data socket of createDataHandler) over HTTP/1.1 on a
 * unix socket, mode 0600: bound inside a private staging directory and moved
 * into place, so it is never reachable with wider permissions, like
 * grpc-kit's gRPC sockets. InvalidArgument for a path over the unix limit;
 * FailedPrecondition when a live server holds the socket or the path is not
 * a socket.
 */
export async function startDataServer(options: DataServerOptions): Promise<DataServer> {
  const { socket, handler, logger } = options;
  const server = createServer({ highWaterMark: 1 << 20 }, handler);
  server.keepAliveTimeout = 30_000;
  let bound;
  try {
    bound = await bindPrivateSocket(socket, (temp) => listen(server, temp), logger);
  } catch (err) {
    server.close();
    throw err;
  }
  let closed: Promise<void> | undefined;
  return {
    socket,
    close() {
      closed ??= (async () => {
        const done = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeAllConnections();
        await done;
        await bound.remove();
      })();
      return closed;
    },
  };
}
