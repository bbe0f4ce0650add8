import { SnapshotsService } from '@strata/api/snapshots/v1';
import { createClient, type Target } from '@strata/grpc-kit';
import type { Logger } from '@strata/kit';
import { snapshotterClosed, type Info, type Snapshotter } from '@strata/snapshots';
import { fromProtoInfo, fromProtoMount } from './convert.js';

/** Settings of {@link createGrpcSnapshotter}. */
export interface GrpcSnapshotterOptions {
  /** Narrowed with the target; debug messages only. */
  logger: Logger;
}

/**
 * Creates the gRPC client of the Snapshots service at target (a unix
 * socket, or TCP with mutual TLS): a {@link Snapshotter} with the same
 * contract and the same error kinds and messages as the snapshotter behind
 * the service (translated by grpc-kit's fromGrpcError), so callers and
 * snapshotterSuite cannot tell it from a local one. Unavailable, naming the
 * target, when the service cannot be reached. It connects on first use;
 * close() closes the channel, and every call after it raises Unavailable
 * (snapshotterClosed). The mounts it returns are performed on the
 * snapshotter's host: their paths are that host's.
 */
export function createGrpcSnapshotter(target: Target, options: GrpcSnapshotterOptions): Snapshotter {
  const client = createClient(target);
  const logger = options.logger.child({ target: client.name });
  let closed = false;
  const open = (): void => {
    if (closed) throw snapshotterClosed();
  };

  return {
    async stat(key) {
      open();
      return fromProtoInfo((await client.unary(SnapshotsService.stat, { key })).info);
    },
    async update(key, labels, fieldPaths = []) {
      open();
      const info = { name: key, parent: '', kind: 0, createdAt: undefined, updatedAt: undefined, labels: { ...labels } };
      return fromProtoInfo((await client.unary(SnapshotsService.update, { info, updateMask: [...fieldPaths] })).info);
    },
    async usage(key) {
      open();
      const { size, inodes } = await client.unary(SnapshotsService.usage, { key });
      return { size, inodes };
    },
    async mounts(key) {
      open();
      return (await client.unary(SnapshotsService.mounts, { key })).mounts.map(fromProtoMount);
    },
    async prepare(key, parent, prepareOptions = {}) {
      open();
      const req = { key, parent: parent ?? '', labels: { ...(prepareOptions.labels ?? {}) } };
      return (await client.unary(SnapshotsService.prepare, req)).mounts.map(fromProtoMount);
    },
    async view(key, parent, viewOptions = {}) {
      open();
      const req = { key, parent: parent ?? '', labels: { ...(viewOptions.labels ?? {}) } };
      return (await client.unary(SnapshotsService.view, req)).mounts.map(fromProtoMount);
    },
    async commit(name, key, commitOptions = {}) {
      open();
      const { labels } = commitOptions;
      await client.unary(SnapshotsService.commit, { name, key, labels: { ...(labels ?? {}) }, replaceLabels: labels !== undefined });
      logger.debug({ name, key }, 'committed');
    },
    async remove(key) {
      open();
      await client.unary(SnapshotsService.remove, { key });
    },
    async *list(filters = []): AsyncIterable<Info> {
      open();
      for await (const batch of client.serverStream(SnapshotsService.list, { filters: [...filters] })) {
        for (const info of batch.info) yield fromProtoInfo(info);
      }
    },
    async cleanup() {
      open();
      await client.unary(SnapshotsService.cleanup, {});
    },
    async close() {
      if (closed) return;
      closed = true;
      client.close();
    },
  };
}
