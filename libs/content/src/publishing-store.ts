import type { EventSink } from '@strata/kit';
import { findInfo } from './blob-bytes.js';
import type { ImportOptions, Store, Writer } from './store.js';
import type { Info } from './types.js';

/**
 * Wraps a store so that each commit, and each import of a file (importFile,
 * when the store has it), publishes `blob.stored`, and each delete
 * `blob.deleted` (reason "delete"). Everything else passes through.
 */
export function publishingStore(store: Store, events: EventSink): Store {
  const stored = (info: Info): Info => {
    events.publish('blob.stored', info.digest, { digest: info.digest, size: info.size, labels: info.labels });
    return info;
  };
  const wrapWriter = (w: Writer): Writer => ({
    get ref() {
      return w.ref;
    },
    get offset() {
      return w.offset;
    },
    status: () => w.status(),
    write: (data) => w.write(data),
    truncate: () => w.truncate(),
    close: () => w.close(),
    async commit(options) {
      return stored(await w.commit(options));
    },
  });
  return {
    read: (d, r) => store.read(d, r),
    info: (d) => store.info(d),
    find: (d) => findInfo(store, d),
    update: (d, l, p) => store.update(d, l, p),
    walk: (f) => store.walk(f),
    status: (r) => store.status(r),
    listStatuses: (f) => store.listStatuses(f),
    abort: (r) => store.abort(r),
    close: () => store.close(),
    writer: async (o) => wrapWriter(await store.writer(o)),
    ...(store.importFile === undefined
      ? {}
      : {
          async importFile(name: string, options: ImportOptions) {
            return stored(await store.importFile!(name, options));
          },
        }),
    async delete(digest) {
      await store.delete(digest);
      events.publish('blob.deleted', digest, { digest, reason: 'delete' });
    },
  };
}
