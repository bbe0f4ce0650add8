import { SnapshotCommitted, SnapshotRemoved } from '@strata/api/events/v1/snapshots';
import type { EventSink } from '@strata/kit';
import type { Info, Snapshotter } from '@strata/snapshots';

/** Settings of {@link withSnapshotEvents}. */
export interface SnapshotEventsOptions {
  /** The host that holds the snapshots: the `node` of every event's data. */
  node: string;
}

/**
 * The snapshotter itself, publishing to sink after every successful commit
 * and remove: `snapshot.committed` (subject: the name; data
 * SnapshotCommitted) and `snapshot.removed` (subject: the key; data
 * SnapshotRemoved, with the kind the snapshot had). A failed call publishes
 * nothing and raises what the snapshotter raised. The event's source is the
 * sink's (e.g. `strata/snapshotter/<node>` for a NATS sink).
 *
 * Every other member is the snapshotter's own, so a LocalSnapshotter stays
 * one (its directories() included): wrap it once in the service process and
 * hand the result to both the Snapshots and the Diff service, so their
 * commits publish the same events.
 */
export function withSnapshotEvents<S extends Snapshotter>(snapshotter: S, sink: EventSink, options: SnapshotEventsOptions): S {
  const { node } = options;
  const statOrUndefined = (key: string): Promise<Info | undefined> => snapshotter.stat(key).catch(() => undefined);

  const commit: Snapshotter['commit'] = async (name, key, commitOptions) => {
    const active = await statOrUndefined(key);
    await snapshotter.commit(name, key, commitOptions);
    sink.publish('snapshot.committed', name, SnapshotCommitted.toJSON({ name, parent: active?.parent ?? '', key, node }));
  };
  const remove: Snapshotter['remove'] = async (key) => {
    const removed = await statOrUndefined(key);
    await snapshotter.remove(key);
    sink.publish('snapshot.removed', key, SnapshotRemoved.toJSON({ key, kind: removed?.kind ?? '', node }));
  };

  return new Proxy(snapshotter, {
    get(target, property) {
      if (property === 'commit') return commit;
      if (property === 'remove') return remove;
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}
