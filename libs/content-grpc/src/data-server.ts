import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import { chmod, lstat, mkdir, mkdtemp, rename, rm, stat, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { failedPrecondition, invalidArgument, type Logger } from '@strata/kit';
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

const MAX_SOCKET_PATH_BYTES = 107;

function live(path: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', (err: NodeJS.ErrnoException) => {
      s.destroy();
      if (err.code === 'ECONNREFUSED' || err.code === 'ENOENT') resolve(false);
      else reject(failedPrecondition(`cannot check unix socket ${path}: ${err.message}`, { cause: err, fields: { socket: path } }));
    });
  });
}

async function removeStale(path: string, logger: Logger): Promise<void> {
  const info = await lstat(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (info === undefined) return;
  if (!info.isSocket()) throw failedPrecondition(`${path} exists and is not a unix socket; remove it or choose another socket path`, { fields: { socket: path } });
  if (await live(path)) {
    throw failedPrecondition(`unix socket ${path} is already in use by another server; stop it or choose another socket path`, { fields: { socket: path } });
  }
  logger.info({ socket: path }, 'removing stale unix socket');
  await unlink(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
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
  if (Buffer.byteLength(socket) > MAX_SOCKET_PATH_BYTES - 11) {
    throw invalidArgument(`unix socket path ${socket} is too long: at most ${MAX_SOCKET_PATH_BYTES - 11} bytes; choose a shorter run dir`, {
      fields: { socket },
    });
  }
  const dir = dirname(socket);
  const created = await mkdir(dir, { recursive: true, mode: 0o700 });
  if (created !== undefined) for (let d = dir; d.startsWith(created); d = dirname(d)) await chmod(d, 0o700);
  await removeStale(socket, logger);
  const server = createServer({ highWaterMark: 1 << 20 }, handler);
  server.keepAliveTimeout = 30_000;
  const staging = await mkdtemp(join(dir, '.d'));
  try {
    const temp = join(staging, 's');
    await listen(server, temp);
    await chmod(temp, 0o600);
    await removeStale(socket, logger);
    await rename(temp, socket);
  } catch (err) {
    server.close();
    throw err;
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
  const ino = (await stat(socket)).ino;
  let closed: Promise<void> | undefined;
  return {
    socket,
    close() {
      closed ??= (async () => {
        const done = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeAllConnections();
        await done;
        try {
          if ((await lstat(socket)).ino === ino) await unlink(socket);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') logger.warn({ err, socket }, 'cannot remove unix socket');
        }
      })();
      return closed;
    },
  };
}
