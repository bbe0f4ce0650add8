import {
  Server as GrpcServer,
  ServerCredentials,
  type ServiceDefinition,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import { failedPrecondition, invalidArgument, isStrataError, type Logger } from '@strata/kit';
import { bindPrivateSocket, type PrivateSocket } from './private-socket.js';
import { DEFAULT_MAX_MESSAGE_BYTES } from './message-size.js';

/** PEM-encoded TLS material: this side's certificate chain and key, and the CA that signs the other side. */
export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  ca: Buffer;
}

/** One gRPC service to serve: a generated service definition and its implementation. */
export interface ServiceRegistration {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  definition: ServiceDefinition<any>;
  implementation: UntypedServiceImplementation;
}

/** What createServer serves, and where: at least one of unixSocket and tcp. */
export interface ServerOptions {
  logger: Logger;
  services: ServiceRegistration[];
  /** Path of the unix socket to serve on (created 0600; its directory 0700 when created). */
  unixSocket?: string;
  /** TCP listener; only ever with mutual TLS. Port 0 picks a free port. */
  tcp?: { host: string; port: number; tls: TlsMaterial };
  /** Largest message sent or received; 16 MiB by default. */
  maxMessageBytes?: number;
}

/** Where a started server listens. */
export interface Listening {
  socket?: string;
  tcpPort?: number;
}

/** A gRPC server with health checking; see {@link createServer}. */
export interface Server {
  /**
   * Binds the listeners and reports every service SERVING. InvalidArgument
   * for options that cannot work (nothing to listen on, TCP without TLS, a
   * socket path that is too long); FailedPrecondition when the socket is in
   * use by a live server, or the path is something other than a socket, or
   * the TCP address cannot be bound.
   */
  start(): Promise<Listening>;
  /**
   * Reports NOT_SERVING, stops accepting calls, lets calls in flight finish
   * for up to graceMs (10 s by default), then cancels the rest; removes the
   * socket file it created. Safe to call more than once.
   */
  shutdown(graceMs?: number): Promise<void>;
}


/** The full name of the service a generated definition describes, e.g. `strata.content.v1.Content`. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function serviceName(definition: ServiceDefinition<any>): string {
  const first = Object.values(definition)[0];
  const name = first?.path.split('/')[1];
  if (name === undefined || name === '') throw invalidArgument('service definition has no methods');
  return name;
}

function bind(server: GrpcServer, address: string, credentials: ServerCredentials): Promise<number> {
  return new Promise((resolve, reject) => server.bindAsync(address, credentials, (err, port) => (err ? reject(err) : resolve(port))));
}

/**
 * Creates a gRPC server for services, with `grpc.health.v1` registered. It
 * serves on a unix socket (mode 0600, bound under a private directory and
 * moved into place, so it is never reachable with wider permissions) and/or
 * on TCP with mutual TLS (clients must present a certificate signed by the
 * CA); never on TCP without TLS. Health reports NOT_SERVING until started
 * and again during shutdown, SERVING in between, for '' and every service.
 */
export function createServer(options: ServerOptions): Server {
  const { logger, services } = options;
  const maxMessage = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  const names = services.map((s) => serviceName(s.definition));
  const health = new HealthImplementation(Object.fromEntries(['', ...names].map((n) => [n, 'NOT_SERVING' as const])));
  const setAll = (status: 'SERVING' | 'NOT_SERVING') => {
    for (const n of ['', ...names]) health.setStatus(n, status);
  };
  const grpcServer = new GrpcServer({
    'grpc.max_receive_message_length': maxMessage,
    'grpc.max_send_message_length': maxMessage,
    'grpc.keepalive_time_ms': 60_000,
    'grpc.keepalive_timeout_ms': 20_000,
  });
  for (const s of services) grpcServer.addService(s.definition, s.implementation);
  health.addToServer(grpcServer);

  let boundSocket: PrivateSocket | undefined;
  let state: 'new' | 'starting' | 'started' | 'stopping' | 'stopped' = 'new';
  let stopped: Promise<void> | undefined;

  const bindUnix = async (path: string): Promise<void> => {
    boundSocket = await bindPrivateSocket(path, (temp) => bind(grpcServer, `unix:${temp}`, ServerCredentials.createInsecure()).then(() => undefined), logger);
  };

  const bindTcp = async (tcp: NonNullable<ServerOptions['tcp']>): Promise<number> => {
    const { tls } = tcp;
    if (!tls || !tls.cert?.length || !tls.key?.length || !tls.ca?.length) {
      throw invalidArgument('refusing to listen on TCP without mutual TLS: give a certificate, its key and the CA of clients');
    }
    const credentials = ServerCredentials.createSsl(tls.ca, [{ cert_chain: tls.cert, private_key: tls.key }], true);
    const address = tcp.host.includes(':') ? `[${tcp.host}]:${tcp.port}` : `${tcp.host}:${tcp.port}`;
    try {
      return await bind(grpcServer, address, credentials);
    } catch (cause) {
      throw failedPrecondition(`cannot listen on ${address}: ${(cause as Error).message}`, { cause, fields: { address } });
    }
  };

  const removeSocket = async () => {
    const socket = boundSocket;
    boundSocket = undefined;
    await socket?.remove();
  };


  const forceStop = async () => {
    grpcServer.forceShutdown();
    await removeSocket();
  };

  return {
    async start() {
      if (state !== 'new') throw failedPrecondition('server was already started');
      if (options.unixSocket === undefined && options.tcp === undefined) {
        throw invalidArgument('nothing to listen on: give a unix socket path or a TCP address with TLS');
      }
      state = 'starting';
      const listening: Listening = {};
      try {
        if (options.tcp !== undefined) listening.tcpPort = await bindTcp(options.tcp);
        if (options.unixSocket !== undefined) {
          await bindUnix(options.unixSocket);
          listening.socket = options.unixSocket;
        }
      } catch (err) {
        await forceStop();
        state = 'stopped';
        if (isStrataError(err)) throw err;
        throw failedPrecondition(`cannot start the gRPC server: ${(err as Error).message}`, { cause: err });
      }
      state = 'started';
      setAll('SERVING');
      logger.info({ ...listening, services: names }, 'serving');
      return listening;
    },
    shutdown(graceMs = 10_000) {
      stopped ??= (async () => {
        state = 'stopping';
        setAll('NOT_SERVING');
        const graceful = new Promise<boolean>((resolve) => grpcServer.tryShutdown(() => resolve(true)));
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(false), graceMs);
        });
        const clean = await Promise.race([graceful, timeout]);
        clearTimeout(timer);
        if (!clean) logger.warn({ graceMs }, 'calls still running after the grace period; canceling them');
        await forceStop();
        state = 'stopped';
      })();
      return stopped;
    },
  };
}
