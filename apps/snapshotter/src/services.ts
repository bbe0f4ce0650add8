import type { IngestFollower } from '@strata/content';
import type { GrpcStore } from '@strata/content-grpc';
import { createDiffer, createDiffService } from '@strata/diff-service';
import type { ServiceRegistration } from '@strata/grpc-kit';
import type { EventSink, Logger } from '@strata/kit';
import type { LocalSnapshotter } from '@strata/snapshots';
import { createSnapshotsService } from '@strata/snapshots-grpc';

/** What the snapshotter's gRPC services are built from. */
export interface SnapshotterParts {
  /** This host's snapshotter, already publishing snapshot.* events (withSnapshotEvents). */
  snapshotter: LocalSnapshotter;
  /** The layer-store client, where layer blobs are read from and diffs written to. */
  store: GrpcStore;
  /** Reads the layer-store's ingests as they are written (a layer-store on this host): an unpack then applies a layer while it downloads. */
  follower?: IngestFollower;
  /** The sink of the process (source `strata/snapshotter/<node>`). */
  events: EventSink;
  logger: Logger;
}

/**
 * The gRPC services the snapshotter serves, in one list: Snapshots, and
 * Diff (apply, diff, unpack) over the same snapshotter — one differ per
 * snapshotter, since its per-chain-ID unpack locks live in it.
 */
export function snapshotterServices(parts: SnapshotterParts): ServiceRegistration[] {
  const { snapshotter, store, logger } = parts;
  const differ = createDiffer({
    snapshotter,
    content: store,
    leases: store.leases,
    ...(parts.follower === undefined ? {} : { follower: parts.follower }),
    logger: logger.child({ component: 'differ' }),
  });
  return [
    createSnapshotsService(snapshotter, { logger: logger.child({ service: 'snapshots' }) }),
    ...createDiffService(differ, { logger: logger.child({ service: 'diff' }) }).registrations,
  ];
}
