import {
  Client,
  Metadata,
  credentials as grpcCredentials,
  type CallOptions,
  type ChannelCredentials,
  type ChannelOptions,
  type ClientDuplexStream,
  type MethodDefinition,
  type ServiceError,
} from '@grpc/grpc-js';
import { isNotFound, unavailable, type StrataError } from '@strata/kit';
import { DEFAULT_MAX_MESSAGE_BYTES } from './message-size.js';
import type { TlsMaterial } from './server.js';
import { fromGrpcError } from './status.js';

/** Where a service listens: a unix socket, or a TCP address with mutual TLS. */
export type Target = { unixSocket: string } | { address: string; tls: TlsMaterial & { serverName?: string } };

/** What a gRPC client constructor takes: `new XClient(c.address, c.credentials, c.options)`. */
export interface Connection {
  address: string;
  credentials: ChannelCredentials;
  options: ChannelOptions;
  /** The target as people write it, for messages: `unix:/run/strata/layer-store.sock` or `host:port`. */
  name: string;
}

/** The target as people write it: `unix:<path>` or `host:port`. */
export function describeTarget(target: Target): string {
  return 'unixSocket' in target ? `unix:${target.unixSocket}` : target.address;
}

/**
 * The address, credentials and channel options for a client of target:
 * plain HTTP/2 over a unix socket (protected by the socket's mode), or TLS
 * presenting a client certificate over TCP. Reconnects quickly (100 ms
 * growing to 2 s) so a restarted service is found again soon.
 */
export function connect(target: Target, options: { maxMessageBytes?: number; localPool?: boolean } = {}): Connection {
  const max = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  const channelOptions: ChannelOptions = {
    'grpc.max_receive_message_length': max,
    'grpc.max_send_message_length': max,
    'grpc.initial_reconnect_backoff_ms': 100,
    'grpc.max_reconnect_backoff_ms': 2_000,
    'grpc.enable_retries': 0,
    'grpc-node.flow_control_window': 16 * 1024 * 1024,
    // Nothing reads the channel's channelz statistics: without them a call is not tracked per channel and subchannel.
    'grpc.enable_channelz': 0,
    ...(options.localPool ? { 'grpc.use_local_subchannel_pool': 1 } : {}),
  };
  if ('unixSocket' in target) {
    return {
      address: `unix:${target.unixSocket}`,
      credentials: grpcCredentials.createInsecure(),
      options: channelOptions,
      name: describeTarget(target),
    };
  }
  const { tls } = target;
  if (tls.serverName !== undefined) channelOptions['grpc.ssl_target_name_override'] = tls.serverName;
  return {
    address: target.address,
    credentials: grpcCredentials.createSsl(tls.ca, tls.key, tls.cert),
    options: channelOptions,
    name: describeTarget(target),
  };
}

/**
 * A typed gRPC client over generated method definitions (`ContentService.info`
 * and the like). Unary and server-streaming calls raise StrataErrors
 * translated by fromGrpcError; a bidirectional stream is returned raw, and
 * its errors are translated with {@link RpcClient.translate}.
 */
export interface RpcClient {
  /** The target as people write it. */
  readonly name: string;
  unary<Req, Res>(method: MethodDefinition<Req, Res>, request: Req, options?: CallOptions): Promise<Res>;
  serverStream<Req, Res>(method: MethodDefinition<Req, Res>, request: Req, options?: CallOptions): AsyncIterable<Res>;
  bidiStream<Req, Res>(method: MethodDefinition<Req, Res>, options?: CallOptions): ClientDuplexStream<Req, Res>;
  /** The StrataError for an error of a call of this client. */
  translate(err: unknown): StrataError;
  /** Closes the channel; calls in flight are canceled. */
  close(): void;
}

/** Creates an {@link RpcClient} for target; it connects on the first call. */
export function createClient(target: Target, options: { maxMessageBytes?: number; localPool?: boolean } = {}): RpcClient {
  const c = connect(target, options);
  const client = new Client(c.address, c.credentials, c.options);
  const translate = (err: unknown) => fromGrpcError(err, c.name);
  return {
    name: c.name,
    translate,
    unary<Req, Res>(method: MethodDefinition<Req, Res>, request: Req, callOptions: CallOptions = {}) {
      return new Promise<Res>((resolve, reject) => {
        client.makeUnaryRequest(
          method.path,
          method.requestSerialize,
          method.responseDeserialize,
          request,
          new Metadata(),
          callOptions,
          (err: ServiceError | null, response?: Res) => (err ? reject(translate(err)) : resolve(response as Res)),
        );
      });
    },
    serverStream<Req, Res>(method: MethodDefinition<Req, Res>, request: Req, callOptions: CallOptions = {}): AsyncIterable<Res> {
      return {
        async *[Symbol.asyncIterator]() {
          const call = client.makeServerStreamRequest(
            method.path,
            method.requestSerialize,
            method.responseDeserialize,
            request,
            new Metadata(),
            callOptions,
          );
          let finished = false;
          try {
            for await (const message of call) yield message as Res;
            finished = true;
          } catch (err) {
            finished = true;
            throw translate(err);
          } finally {
            if (!finished) call.cancel();
          }
        },
      };
    },
    bidiStream<Req, Res>(method: MethodDefinition<Req, Res>, callOptions: CallOptions = {}) {
      return client.makeBidiStreamRequest(method.path, method.requestSerialize, method.responseDeserialize, new Metadata(), callOptions);
    },
    close: () => client.close(),
  };
}

/** What `grpc.health.v1.Health/Check` answers; SERVICE_UNKNOWN when the server does not know the service. */
export type HealthStatus = 'UNKNOWN' | 'SERVING' | 'NOT_SERVING' | 'SERVICE_UNKNOWN';

// grpc-health-check parses a .proto file when it loads: only checkHealth pays for it.
let healthCheck: MethodDefinition<{ service: string }, { status: string }> | undefined;
async function healthCheckMethod(): Promise<MethodDefinition<{ service: string }, { status: string }>> {
  healthCheck ??= (await import('grpc-health-check')).service['Check'] as MethodDefinition<{ service: string }, { status: string }>;
  return healthCheck;
}

/**
 * Asks target's health service about service ('' = the server as a whole).
 * Raises Unavailable when target cannot be reached, DeadlineExceeded when it
 * does not answer within timeoutMs (2 s by default).
 */
export async function checkHealth(target: Target, service = '', options: { timeoutMs?: number } = {}): Promise<HealthStatus> {
  const method = await healthCheckMethod();
  const client = createClient(target, { localPool: true });
  try {
    const response = await client.unary(method, { service }, { deadline: Date.now() + (options.timeoutMs ?? 2_000) });
    const status = response.status;
    return status === 'SERVING' || status === 'NOT_SERVING' || status === 'SERVICE_UNKNOWN' ? status : 'UNKNOWN';
  } catch (err) {
    if (isNotFound(err)) return 'SERVICE_UNKNOWN';
    throw err;
  } finally {
    client.close();
  }
}

/**
 * Polls target's health every intervalMs (100 ms by default) until service
 * ('' = the server) is SERVING. Unavailable, naming the target and the last
 * answer or error, when it is not within timeoutMs.
 */
export async function waitForHealthy(
  target: Target,
  options: { timeoutMs: number; service?: string; intervalMs?: number },
): Promise<void> {
  const { timeoutMs, service = '', intervalMs = 100 } = options;
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  for (;;) {
    const left = deadline - Date.now();
    try {
      const status = await checkHealth(target, service, { timeoutMs: Math.max(100, Math.min(2_000, left)) });
      if (status === 'SERVING') return;
      last = `health ${status}`;
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() + intervalMs > deadline) {
      throw unavailable(`${describeTarget(target)} did not become healthy within ${timeoutMs} ms (last: ${last})`, {
        fields: { target: describeTarget(target) },
      });
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
