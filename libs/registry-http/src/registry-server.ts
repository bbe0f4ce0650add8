import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Logger } from '@strata/kit';
import type { RegistryHandler } from './registry-handler.js';
import { errorBody } from './registry-error.js';

/** Settings of {@link startRegistryServer}. */
export interface RegistryServerOptions {
  /** Address to listen on; 127.0.0.1 by default (nothing serves unauthenticated TCP beyond the host by default). */
  host?: string;
  /** Port; 0 picks a free one. */
  port: number;
  handler: RegistryHandler;
  logger?: Logger;
  /** Largest request head (request line and headers) in bytes; 16 KiB by default. Larger: 431. */
  maxHeaderBytes?: number;
  /** A connection with no traffic for this long is closed; 120 s by default. */
  idleTimeoutMs?: number;
}

/** A listening registry server. */
export interface RegistryServer {
  /** `http://host:port`, the base URL clients use. */
  readonly url: string;
  readonly port: number;
  readonly server: Server;
  /** Stops listening and closes every connection. */
  close(): Promise<void>;
}

/**
 * Serves handler on node:http at host:port. Long uploads are not cut by a
 * request timeout (a connection idle for idleTimeoutMs is); the request head
 * must arrive within 30 s. Malformed requests and oversized heads get the
 * Distribution API's JSON error (400, 431) and the connection is closed.
 * Rejects when the address cannot be bound.
 */
export async function startRegistryServer(options: RegistryServerOptions): Promise<RegistryServer> {
  const host = options.host ?? '127.0.0.1';
  const { logger } = options;
  // Each request is logged at debug (when it ends, with its time); at other levels the handler serves alone.
  const handler: RequestListener =
    logger?.isLevelEnabled('debug') === true
      ? (req, res) => {
          const started = performance.now();
          res.once('close', () =>
            logger.debug({ method: req.method, url: req.url?.slice(0, 300), status: res.statusCode, ms: Math.round(performance.now() - started), finished: res.writableFinished }, 'registry request'),
          );
          options.handler(req, res);
        }
      : options.handler;
  const server = createServer({ maxHeaderSize: options.maxHeaderBytes ?? 16 * 1024, requestTimeout: 0, headersTimeout: 30_000, keepAliveTimeout: 5_000 }, handler);
  server.timeout = options.idleTimeoutMs ?? 120_000;
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    options.logger?.debug({ err: err.message, code: err.code }, 'malformed HTTP request');
    if (!socket.writable) {
      socket.destroy();
      return;
    }
    const tooLarge = err.code === 'HPE_HEADER_OVERFLOW';
    const body = errorBody({
      status: tooLarge ? 431 : 400,
      code: tooLarge ? 'SIZE_INVALID' : 'UNSUPPORTED',
      message: tooLarge ? 'request headers are too large' : 'malformed HTTP request',
    });
    socket.end(
      `HTTP/1.1 ${tooLarge ? '431 Request Header Fields Too Large' : '400 Bad Request'}\r\n` +
        `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shownHost}:${port}`,
    port,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
