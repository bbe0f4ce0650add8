import type {
  handleBidiStreamingCall,
  handleServerStreamingCall,
  handleUnaryCall,
  ServerDuplexStream,
  ServerUnaryCall,
  ServerWritableStream,
} from '@grpc/grpc-js';
import { canceled, type Logger } from '@strata/kit';
import type { Writable } from 'node:stream';
import { toGrpcStatus } from './status.js';

/**
 * Writes one message to a stream and resolves when it may take the next:
 * at once while its buffer has room, after 'drain' otherwise. Canceled when
 * the stream closes first (the peer went away).
 */
export function send<T>(stream: Writable, message: T): Promise<void> {
  if (stream.destroyed || stream.writableEnded) return Promise.reject(canceled('the stream was closed by the other side'));
  if (stream.write(message)) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const done = (err?: Error) => {
      stream.off('drain', onDrain);
      stream.off('close', onClose);
      if (err) reject(err);
      else resolve();
    };
    const onDrain = () => done();
    const onClose = () => done(canceled('the stream was closed by the other side'));
    stream.on('drain', onDrain);
    stream.on('close', onClose);
  });
}

function logFor(logger: Logger, call: { getPath(): string }): Logger {
  return logger.child({ rpc: call.getPath() });
}

/**
 * Adapts an async function to a grpc-js unary handler. Whatever it throws
 * is translated by toGrpcStatus, nowhere else.
 */
export function unary<Req, Res>(
  logger: Logger,
  fn: (request: Req, call: ServerUnaryCall<Req, Res>) => Promise<Res>,
): handleUnaryCall<Req, Res> {
  return (call, callback) => {
    fn(call.request, call).then(
      (response) => callback(null, response),
      (err: unknown) => callback(toGrpcStatus(err, logFor(logger, call))),
    );
  };
}

/**
 * Adapts an async iterable of responses to a grpc-js server-streaming
 * handler: each message is sent as the client takes it (backpressure), the
 * iteration stops when the client cancels, and an error ends the call with
 * the status toGrpcStatus gives.
 */
export function serverStream<Req, Res>(
  logger: Logger,
  fn: (request: Req, call: ServerWritableStream<Req, Res>) => AsyncIterable<Res>,
): handleServerStreamingCall<Req, Res> {
  return (call) => {
    void (async () => {
      try {
        for await (const message of fn(call.request, call)) {
          if (call.cancelled) return;
          await send(call, message);
        }
        call.end();
      } catch (err) {
        if (call.cancelled || call.destroyed) return;
        call.emit('error', toGrpcStatus(err, logFor(logger, call)));
      }
    })();
  };
}

/**
 * Adapts an async function to a grpc-js bidirectional-streaming handler.
 * It reads requests from an async iterable that ends when the client
 * half-closes (and throws when the client cancels), and sends responses
 * with `reply` (which waits for room). When it returns the call ends OK;
 * when it throws, with the status toGrpcStatus gives.
 */
export function bidiStream<Req, Res>(
  logger: Logger,
  fn: (requests: AsyncIterable<Req>, reply: (response: Res) => Promise<void>, call: ServerDuplexStream<Req, Res>) => Promise<void>,
): handleBidiStreamingCall<Req, Res> {
  return (call) => {
    const requests: AsyncIterable<Req> = { [Symbol.asyncIterator]: () => call.iterator({ destroyOnReturn: false }) };
    const reply = (response: Res) => send(call, response);
    fn(requests, reply, call).then(
      () => {
        if (!call.cancelled && !call.destroyed) call.end();
      },
      (err: unknown) => {
        if (call.cancelled || call.destroyed) {
          logFor(logger, call).debug({ err }, 'call ended by the client');
          return;
        }
        call.emit('error', toGrpcStatus(err, logFor(logger, call)));
      },
    );
  };
}
