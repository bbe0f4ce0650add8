import type { GrpcStore } from '@strata/content-grpc';
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
  /** The sink of the process (source `strata/snapshotter/<node>`). */
  events: EventSink;
  logger: Logger;
}

/**
 * The gRPC services the snapshotter serves, in one list: a new service
 * (the Diff service) is one more entry built from the same parts.
 */
export function snapshotterServices(parts: SnapshotterParts): ServiceRegistration[] {
  const { snapshotter, logger } = parts;
  return [createSnapshotsService(snapshotter, { logger: logger.child({ service: 'snapshots' }) })];
}
