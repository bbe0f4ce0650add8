import { createServer, ServerResponse, type IncomingMessage } from 'node:http';
import { chmod } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import type { Logger } from '@strata/kit';
import { bindPrivateSocket } from '@strata/grpc-kit';
import { dockerError, dockerErrorBody, dockerStatusOf } from './docker-error.js';
import { createDockerRouter, DOCKER_API_VERSION, type DockerContext, type DockerRoute } from './docker-router.js';

/** Default cap on request header bytes (answered 431 above it). */
export const DEFAULT_MAX_HEADER_BYTES = 16 * 1024;

/** Default cap on a JSON request body (answered 413 above it). */
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

export interface DockerApiServerOptions {
  /** The unix socket to serve on; its directory is created 0700 when missing. */
  socketPath: string;
  /** The socket's mode; 0o660 by default. */
  mode?: number;
  routes: DockerRoute[];
  logger: Logger;
  /** Request header cap in bytes; DEFAULT_MAX_HEADER_BYTES by default. */
  maxHeaderBytes?: number;
  /** JSON body cap in bytes; DEFAULT_MAX_BODY_BYTES by default. */
  maxBodyBytes?: number;
  /** The `Server` header's product, `Strata/<version>`; `Strata` by default. */
  serverName?: string;
}

/** A running Docker Engine API server. */
export interface DockerApiServer {
  readonly socketPath: string;
  /** Stops accepting, ends every open and taken-over connection and removes the socket. Safe to call twice. */
  close(): Promise<void>;
}

function statusText(status: number): string {
  const texts: Record<number, string> = { 400: 'Bad Request', 413: 'Payload Too Large', 431: 'Request Header Fields Too Large' };
  return texts[status] ?? 'Error';
}

/** Writes a whole error response onto a socket the HTTP parser gave up on. */
function rawError(socket: Duplex, status: number, message: string): void {
  const body = JSON.stringify({ message });
  socket.end(
    `HTTP/1.1 ${status} ${statusText(status)}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
      `Connection: close\r\n\r\n${body}`,
  );
}

/** Reads exactly length bytes of an upgrade request's body from head, then the socket; the rest goes back to the socket. */
function readUpgradeBody(socket: Socket, head: Buffer, length: number, max: number): Promise<Buffer> {
  if (length > max) return Promise.reject(dockerError(413, `request body too large: at most ${max} bytes`));
  if (head.length >= length) {
    if (head.length > length) socket.unshift(head.subarray(length));
    return Promise.resolve(head.subarray(0, length));
  }
  return new Promise((resolve, reject) => {
    const chunks = [head];
    let got = head.length;
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      got += chunk.length;
      if (got < length) return;
      cleanup();
      socket.pause();
      const all = Buffer.concat(chunks);
      if (all.length > length) socket.unshift(all.subarray(length));
      resolve(all.subarray(0, length));
    };
    const onEnd = () => {
      cleanup();
      reject(dockerError(400, `request body ended after ${got} of ${length} bytes`));
    };
    const cleanup = () => {
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('close', onEnd);
    };
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('close', onEnd);
    socket.resume();
  });
}

function readRequestBody(req: IncomingMessage, max: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? '0');
  if (declared > max) return Promise.reject(dockerError(413, `request body too large: at most ${max} bytes`));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let got = 0;
    req.on('data', (chunk: Buffer) => {
      got += chunk.length;
      if (got > max) {
        req.removeAllListeners('data');
        req.resume();
        reject(dockerError(413, `request body too large: at most ${max} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    req.once('end', () => resolve(Buffer.concat(chunks)));
    req.once('error', (err) => reject(dockerError(400, `cannot read the request body: ${err.message}`)));
  });
}

function parseJsonObject(body: Buffer): unknown {
  const text = body.toString('utf8').trim();
  // The docker CLI sends `null` for a config it leaves out (docker commit): the same as no body.
  if (text === '' || text === 'null') return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw dockerError(400, `invalid JSON in request body: ${(err as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw dockerError(400, 'invalid JSON in request body: expected an object');
  }
  return value;
}

/**
 * Serves the Docker Engine API over HTTP/1.1 on a unix socket: routes
 * matched by createDockerRouter (versioned and unversioned paths); 404
 * `{"message":"page not found"}` for unknown endpoints; 400 for malformed
 * requests, 431 for headers over maxHeaderBytes, 413 for bodies over
 * maxBodyBytes; handler errors as `{"message": …}` with dockerStatusOf's
 * status. Requests with `Upgrade: tcp` may be taken over (attach, exec).
 * Every response carries `Api-Version`, `Ostype`, `Docker-Experimental` and
 * `Server`. Nothing a client sends crashes the process. The socket is bound
 * like bindPrivateSocket (a stale socket is replaced; FailedPrecondition
 * when a live server holds it) and then given mode (0660 by default).
 */
export async function startDockerApiServer(options: DockerApiServerOptions): Promise<DockerApiServer> {
  const { logger } = options;
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const maxHeaderBytes = options.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES;
  const router = createDockerRouter(options.routes);
  const commonHeaders: Record<string, string> = {
    'Api-Version': DOCKER_API_VERSION,
    'Docker-Experimental': 'false',
    Ostype: 'linux',
    Server: `${options.serverName ?? 'Strata'} (linux)`,
  };
  const taken = new Set<Socket>();

  async function dispatch(req: IncomingMessage, res: ServerResponse, upgradeSocket?: { socket: Socket; head: Buffer }): Promise<void> {
    for (const [name, value] of Object.entries(commonHeaders)) res.setHeader(name, value);
    const url = new URL(req.url ?? '/', 'http://docker');
    const log = logger.child({ method: req.method, path: url.pathname });
    let hijacked = false;
    try {
      const found = router.match(req.method ?? 'GET', url.pathname);
      if (found.kind === 'not-found') throw dockerError(404, 'page not found');
      let body: Promise<unknown> | undefined;
      const readBody = (): Promise<unknown> => {
        body ??= (
          upgradeSocket
            ? readUpgradeBody(upgradeSocket.socket, upgradeSocket.head, Number(req.headers['content-length'] ?? '0'), maxBodyBytes)
            : readRequestBody(req, maxBodyBytes)
        ).then(parseJsonObject);
        return body;
      };
      const ctx: DockerContext = {
        req,
        res,
        params: found.params,
        query: url.searchParams,
        apiVersion: found.apiVersion,
        logger: log,
        upgrade: upgradeSocket !== undefined,
        readJson: <T>() => readBody() as Promise<T>,
        json(status, value) {
          const text = value === undefined || status === 204 || status === 304 ? undefined : JSON.stringify(value);
          res.writeHead(status, text === undefined ? {} : { 'Content-Type': 'application/json' });
          res.end(text === undefined ? undefined : `${text}\n`);
        },
        async hijack(contentType) {
          await readBody().catch(() => undefined);
          hijacked = true;
          if (upgradeSocket) {
            const { socket } = upgradeSocket;
            const headers = Object.entries(commonHeaders)
              .map(([name, value]) => `${name}: ${value}\r\n`)
              .join('');
            socket.write(`HTTP/1.1 101 UPGRADED\r\nContent-Type: ${contentType}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n${headers}\r\n`);
            socket.resume();
            return socket;
          }
          res.writeHead(200, { 'Content-Type': contentType });
          res.flushHeaders();
          const stream = new Duplex({
            read() {},
            write(chunk: Buffer, _encoding, callback) {
              if (res.destroyed) callback(new Error('the client closed the connection'));
              else res.write(chunk, () => callback());
            },
            final(callback) {
              res.end(() => callback());
            },
          });
          stream.push(null);
          res.once('close', () => stream.destroy());
          return stream;
        },
      };
      await found.route.handle(ctx);
    } catch (err) {
      const status = dockerStatusOf(err);
      if (status >= 500) log.error({ err }, 'Docker API request failed');
      else log.debug({ err: (err as Error).message, status }, 'Docker API request refused');
      if (hijacked || res.headersSent) {
        if (upgradeSocket) upgradeSocket.socket.destroy();
        else res.destroy();
        return;
      }
      // An unread rest of an oversized body is not worth reading: close after answering.
      res.writeHead(status, { 'Content-Type': 'application/json', ...(status === 413 ? { Connection: 'close' } : {}) });
      res.end(`${JSON.stringify(dockerErrorBody(err))}\n`);
    }
  }

  const server = createServer({ maxHeaderSize: maxHeaderBytes, requestTimeout: 0 }, (req, res) => {
    req.on('error', (err) => logger.debug({ err }, 'Docker API request stream error'));
    void dispatch(req, res);
  });
  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    taken.add(socket);
    socket.on('error', (err) => logger.debug({ err }, 'Docker API connection error'));
    socket.once('close', () => taken.delete(socket));
    socket.pause();
    const res = new ServerResponse(req);
    res.shouldKeepAlive = false;
    res.assignSocket(socket);
    res.once('finish', () => {
      if (!socket.destroyed) socket.end();
    });
    void dispatch(req, res, { socket, head });
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    if (err.code === 'HPE_HEADER_OVERFLOW') {
      rawError(socket, 431, `request headers too large: at most ${maxHeaderBytes} bytes`);
      return;
    }
    if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      rawError(socket, 408, 'request timed out');
      return;
    }
    rawError(socket, 400, `malformed HTTP request: ${err.message}`);
  });
  server.on('connection', (socket: Socket) => socket.on('error', (err) => logger.debug({ err }, 'Docker API connection error')));

  const bound = await bindPrivateSocket(
    options.socketPath,
    (temp) =>
      new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(temp, () => {
          server.off('error', reject);
          resolve();
        });
      }),
    logger,
  );
  try {
    await chmod(options.socketPath, options.mode ?? 0o660);
  } catch (err) {
    server.close();
    await bound.remove();
    throw err;
  }
  server.on('error', (err) => logger.error({ err }, 'Docker API server error'));
  logger.info({ socket: options.socketPath }, 'Docker API listening');

  let closing: Promise<void> | undefined;
  return {
    socketPath: options.socketPath,
    close() {
      closing ??= (async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeAllConnections();
        for (const socket of taken) socket.destroy();
        await closed;
        await bound.remove();
      })();
      return closing;
    },
  };
}
