import { SnapshotsService, type ListSnapshotsResponse, type SnapshotsServer } from '@strata/api/snapshots/v1';
import { serverStream, unary, type ServiceRegistration } from '@strata/grpc-kit';
import { invalidArgument, type Logger } from '@strata/kit';
import type { Snapshotter } from '@strata/snapshots';
import { toProtoInfo, toProtoMount } from './convert.js';

/** Snapshots sent in one List message. */
export const LIST_BATCH = 100;

/** Settings of {@link createSnapshotsService}. */
export interface SnapshotsServiceOptions {
  /** Errors the service did not foresee are logged here (see grpc-kit's toGrpcStatus). */
  logger: Logger;
}

const optional = (value: string): string | undefined => (value === '' ? undefined : value);

/**
 * Serves a Snapshotter as `strata.snapshots.v1.Snapshots` (see
 * snapshots.proto), ready for grpc-kit's createServer. Requests are
 * converted at this edge and passed on unchecked: the snapshotter validates
 * keys, labels and filters, and every error it raises reaches the client
 * with its kind and message through toGrpcStatus (anything else becomes
 * INTERNAL with a generic message). An empty parent means none. Events are
 * not published here: give it a snapshotter wrapped by withSnapshotEvents,
 * so that snapshots committed in-process (by the Diff service) publish the
 * same events.
 */
export function createSnapshotsService(snapshotter: Snapshotter, options: SnapshotsServiceOptions): ServiceRegistration {
  const { logger } = options;

  const list = async function* (filters: readonly string[]): AsyncIterable<ListSnapshotsResponse> {
    let batch: ListSnapshotsResponse['info'] = [];
    for await (const info of snapshotter.list(filters)) {
      batch.push(toProtoInfo(info));
      if (batch.length === LIST_BATCH) {
        yield { info: batch };
        batch = [];
      }
    }
    if (batch.length > 0) yield { info: batch };
  };

  const implementation: SnapshotsServer = {
    prepare: unary(logger, async (req) => ({
      mounts: (await snapshotter.prepare(req.key, optional(req.parent), { labels: req.labels })).map(toProtoMount),
    })),
    view: unary(logger, async (req) => ({
      mounts: (await snapshotter.view(req.key, optional(req.parent), { labels: req.labels })).map(toProtoMount),
    })),
    mounts: unary(logger, async (req) => ({ mounts: (await snapshotter.mounts(req.key)).map(toProtoMount) })),
    commit: unary(logger, async (req) => {
      await snapshotter.commit(req.name, req.key, req.replaceLabels ? { labels: req.labels } : {});
      return {};
    }),
    remove: unary(logger, async (req) => {
      await snapshotter.remove(req.key);
      return {};
    }),
    stat: unary(logger, async (req) => ({ info: toProtoInfo(await snapshotter.stat(req.key)) })),
    update: unary(logger, async (req) => {
      if (req.info === undefined) throw invalidArgument('update needs info with the snapshot name and its new labels');
      return { info: toProtoInfo(await snapshotter.update(req.info.name, req.info.labels, req.updateMask)) };
    }),
    list: serverStream(logger, (req) => list(req.filters)),
    usage: unary(logger, async (req) => await snapshotter.usage(req.key)),
    cleanup: unary(logger, async () => {
      await snapshotter.cleanup();
      return {};
    }),
  };
  return { definition: SnapshotsService, implementation };
}
