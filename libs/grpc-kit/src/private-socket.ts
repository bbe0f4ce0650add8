import { connect as netConnect } from 'node:net';
import { chmod, lstat, mkdir, mkdtemp, rename, rm, stat, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { failedPrecondition, invalidArgument, type Logger } from '@strata/kit';

/** The longest unix socket path Linux takes (sun_path minus its NUL). */
export const MAX_SOCKET_PATH_BYTES = 107;

/** A unix socket bound by bindPrivateSocket. */
export interface PrivateSocket {
  readonly path: string;
  /** Unlinks the socket file if it is still the one bound here (not a successor's). Safe to call more than once. */
  remove(): Promise<void>;
}

function probeSocket(path: string): Promise<'live' | 'stale'> {
  return new Promise((resolve, reject) => {
    const socket = netConnect(path);
    socket.once('connect', () => {
      socket.destroy();
      resolve('live');
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      socket.destroy();
      if (err.code === 'ECONNREFUSED' || err.code === 'ENOENT') resolve('stale');
      else reject(failedPrecondition(`cannot check unix socket ${path}: ${err.message}`, { cause: err, fields: { socket: path } }));
    });
  });
}

async function removeStaleSocket(path: string, logger: Logger): Promise<void> {
  let info;
  try {
    info = await lstat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (!info.isSocket()) {
    throw failedPrecondition(`${path} exists and is not a unix socket; remove it or choose another socket path`, {
      fields: { socket: path },
    });
  }
  if ((await probeSocket(path)) === 'live') {
    throw failedPrecondition(`unix socket ${path} is already in use by another server; stop it or choose another socket path`, {
      fields: { socket: path },
    });
  }
  logger.info({ socket: path }, 'removing stale unix socket');
  await unlink(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
}

async function ensurePrivateDir(dir: string): Promise<void> {
  const created = await mkdir(dir, { recursive: true, mode: 0o700 });
  if (created === undefined) return;
  for (let d = dir; d.startsWith(created); d = dirname(d)) await chmod(d, 0o700);
}

/**
 * Binds a server to the unix socket path with mode 0600 without ever
 * exposing it with wider permissions: listen(temp) binds it inside a
 * private staging directory next to path, then it is chmod-ed and renamed
 * into place. The socket's directory is created 0700 when missing. A stale
 * socket (nobody accepts on it) is replaced. InvalidArgument for a path
 * over the unix limit; FailedPrecondition when a live server holds path or
 * path is not a socket; whatever listen raises otherwise.
 */
export async function bindPrivateSocket(path: string, listen: (temp: string) => Promise<void>, logger: Logger): Promise<PrivateSocket> {
  if (Buffer.byteLength(path) > MAX_SOCKET_PATH_BYTES - 11) {
    throw invalidArgument(`unix socket path ${path} is too long: at most ${MAX_SOCKET_PATH_BYTES - 11} bytes; choose a shorter run dir`, {
      fields: { socket: path },
    });
  }
  const dir = dirname(path);
  await ensurePrivateDir(dir);
  await removeStaleSocket(path, logger);
  const staging = await mkdtemp(join(dir, '.s'));
  try {
    const temp = join(staging, 's');
    await listen(temp);
    await chmod(temp, 0o600);
    await removeStaleSocket(path, logger);
    await rename(temp, path);
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
  const ino = (await stat(path)).ino;
  let removed = false;
  return {
    path,
    async remove() {
      if (removed) return;
      removed = true;
      try {
        if ((await lstat(path)).ino === ino) await unlink(path);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') logger.warn({ err, socket: path }, 'cannot remove unix socket');
      }
    },
  };
}
