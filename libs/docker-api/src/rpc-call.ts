import type { MethodDefinition } from '@grpc/grpc-js';
import type { RpcClient } from '@strata/grpc-kit';
import { aborted, isCanceled } from '@strata/kit';

/**
 * A unary or server-streaming call that the HTTP side can cancel when its
 * client goes away (a `logs -f` or a `wait` whose client disconnected must
 * not hold a gRPC call open). Made as a stream carrying the one request
 * then its end, which is the same exchange on the wire.
 */
export interface CancellableCall<Res> {
  /** The responses; ends quietly after cancel(); raises the call's StrataError otherwise. */
  responses: AsyncIterable<Res>;
  /** Cancels the call; safe to call at any time and more than once. */
  cancel(): void;
}

/** Starts method with request on client as a {@link CancellableCall}. */
export function cancellableCall<Req, Res>(client: RpcClient, method: MethodDefinition<Req, Res>, request: Req): CancellableCall<Res> {
  const call = client.bidiStream(method);
  let canceled = false;
  call.on('error', () => undefined);
  call.write(request);
  call.end();
  return {
    responses: {
      async *[Symbol.asyncIterator]() {
        try {
          for await (const message of call) yield message as Res;
        } catch (err) {
          const translated = client.translate(err);
          if (canceled && isCanceled(translated)) return;
          throw translated;
        } finally {
          if (!canceled) {
            canceled = true;
            call.cancel();
          }
        }
      },
    },
    cancel() {
      if (canceled) return;
      canceled = true;
      call.cancel();
    },
  };
}

/** The one response of a unary method made cancellable; Aborted when it was canceled before answering. */
export async function cancellableUnary<Res>(call: CancellableCall<Res>): Promise<Res> {
  for await (const response of call.responses) return response;
  throw aborted('the call was canceled before it answered');
}
