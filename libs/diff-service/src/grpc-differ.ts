import { Client, Metadata, type MethodDefinition, type ServiceError } from '@grpc/grpc-js';
import { DiffService, type UnpackResponse } from '@strata/api/diff/v1';
import { connect, fromGrpcError, type Target } from '@strata/grpc-kit';
import { canceled, internal, type Logger } from '@strata/kit';
import { parseDigest } from '@strata/oci';
import type { Differ } from './differ.js';
import { fromProtoDescriptor, fromProtoUnpackResponse, toProtoDescriptor } from './proto-convert.js';

/** Settings of {@link createGrpcDiffer}. */
export interface GrpcDifferOptions {
  /** Narrowed with the target; debug messages only. */
  logger: Logger;
}

/** A Differ served by a snapshotter over gRPC; close() releases the channel. */
export interface GrpcDiffer extends Differ {
  /** Closes the channel; calls in flight are canceled. */
  close(): void;
}

/**
 * The client of `strata.diff.v1.Diff` at target (a unix socket, or TCP with
 * mutual TLS): the same Differ contract and error kinds as the local one
 * (translated by grpc-kit's fromGrpcError); Unavailable, naming the target,
 * when it cannot be reached. An unpack's signal, or leaving its iteration
 * early, cancels the call. It connects on first use.
 */
export function createGrpcDiffer(target: Target, options: GrpcDifferOptions): GrpcDiffer {
  const c = connect(target);
  const client = new Client(c.address, c.credentials, c.options);
  const logger = options.logger.child({ target: c.name });

  const unaryCall = <Req, Res>(method: MethodDefinition<Req, Res>, request: Req, signal?: AbortSignal): Promise<Res> =>
    new Promise<Res>((resolve, reject) => {
      const call = client.makeUnaryRequest(
        method.path,
        method.requestSerialize,
        method.responseDeserialize,
        request,
        new Metadata(),
        {},
        (err: ServiceError | null, response?: Res) => {
          signal?.removeEventListener('abort', onAbort);
          if (err) reject(fromGrpcError(err, c.name));
          else resolve(response as Res);
        },
      );
      const onAbort = () => call.cancel();
      if (signal?.aborted === true) call.cancel();
      else signal?.addEventListener('abort', onAbort, { once: true });
    });

  return {
    async apply(layer, key, diffId, applyOptions = {}) {
      const response = await unaryCall(
        DiffService.apply,
        { layer: toProtoDescriptor(layer), key, diffId: diffId ?? '' },
        applyOptions.signal,
      );
      return fromProtoDescriptor(response.applied, 'applied');
    },

    async diff(key, diffOptions = {}) {
      const response = await unaryCall(DiffService.diff, {
        key,
        mediaType: diffOptions.mediaType ?? '',
        labels: { ...(diffOptions.labels ?? {}) },
        lease: diffOptions.lease ?? '',
        mountPoints: [...(diffOptions.mountPoints ?? [])],
      });
      if (response.diffId === '') throw internal(`${c.name} answered a diff of ${key} without a diff_id`);
      return { layer: fromProtoDescriptor(response.layer, 'diff layer'), diffId: parseDigest(response.diffId) };
    },

    async *unpack(manifest, unpackOptions = {}) {
      const { signal } = unpackOptions;
      if (signal?.aborted === true) throw canceled('unpack was aborted');
      const method = DiffService.unpack;
      const call = client.makeServerStreamRequest(
        method.path,
        method.requestSerialize,
        method.responseDeserialize,
        { manifest: toProtoDescriptor(manifest) },
        new Metadata(),
        {},
      );
      const state = { aborted: false };
      const onAbort = () => {
        state.aborted = true;
        call.cancel();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      let finished = false;
      try {
        for await (const message of call) yield fromProtoUnpackResponse(message as UnpackResponse);
        finished = true;
      } catch (err) {
        finished = true;
        if (state.aborted) throw canceled('unpack was aborted', { cause: err });
        throw fromGrpcError(err, c.name);
      } finally {
        signal?.removeEventListener('abort', onAbort);
        if (!finished) {
          logger.debug({ manifest: manifest.digest }, 'unpack left early; canceling the call');
          call.cancel();
        }
      }
    },

    close: () => client.close(),
  };
}
