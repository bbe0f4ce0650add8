import type { ServerWritableStream } from '@grpc/grpc-js';
import { DiffService, type DiffServer, type UnpackRequest, type UnpackResponse } from '@strata/api/diff/v1';
import { serverStream, unary, type ServiceRegistration } from '@strata/grpc-kit';
import type { Logger } from '@strata/kit';
import { parseDigest } from '@strata/oci';
import type { Differ } from './differ.js';
import { fromProtoDescriptor, toProtoDescriptor, toProtoUnpackResponse } from './proto-convert.js';

/** Settings of {@link createDiffService}. */
export interface DiffServiceOptions {
  logger: Logger;
}

/** The Diff gRPC service. */
export interface DiffServices {
  /** The `strata.diff.v1.Diff` implementation. */
  server: DiffServer;
  /** Ready for grpc-kit's createServer. */
  registrations: ServiceRegistration[];
}

/**
 * Serves a Differ as `strata.diff.v1.Diff` (see diff.proto). Descriptors
 * and digests from requests are checked before the differ sees them
 * (InvalidArgument); errors reach clients only through grpc-kit's status
 * translation. An Apply the client cancels stops between archive entries
 * (the snapshot then holds a partial layer, as after any failed apply); an
 * Unpack the client cancels stops and removes the layer it was applying;
 * layers committed before stay.
 */
export function createDiffService(differ: Differ, options: DiffServiceOptions): DiffServices {
  const { logger } = options;
  const server: DiffServer = {
    apply: unary(logger, async (request, call) => {
      const layer = fromProtoDescriptor(request.layer, 'layer');
      const diffId = request.diffId === '' ? undefined : parseDigest(request.diffId);
      const abort = new AbortController();
      call.on('cancelled', () => abort.abort());
      const applied = await differ.apply(layer, request.key, diffId, { signal: abort.signal });
      return { applied: toProtoDescriptor(applied) };
    }),
    diff: unary(logger, async (request) => {
      const result = await differ.diff(request.key, {
        ...(request.mediaType === '' ? {} : { mediaType: request.mediaType }),
        labels: request.labels,
        ...(request.lease === '' ? {} : { lease: request.lease }),
        ...(request.mountPoints.length === 0 ? {} : { mountPoints: request.mountPoints }),
      });
      return { layer: toProtoDescriptor(result.layer), diffId: result.diffId };
    }),
    unpack: serverStream(logger, (request: UnpackRequest, call: ServerWritableStream<UnpackRequest, UnpackResponse>) => {
      const abort = new AbortController();
      call.on('cancelled', () => abort.abort());
      call.on('close', () => abort.abort());
      const manifest = fromProtoDescriptor(request.manifest, 'manifest');
      return (async function* () {
        for await (const progress of differ.unpack(manifest, { signal: abort.signal })) yield toProtoUnpackResponse(progress);
      })();
    }),
  };
  return { server, registrations: [{ definition: DiffService, implementation: server }] };
}
