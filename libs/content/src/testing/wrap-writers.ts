import type { Store, Writer } from '../store.js';

/**
 * store, with each writer it opens changed by wrap: a method wrap returns
 * replaces the writer's, every other one delegates (for tests that make a
 * write or a commit fail, or wait).
 */
export function wrapWriters(store: Store, wrap: (writer: Writer) => Partial<Writer>): Store {
  return {
    ...store,
    async writer(options) {
      const writer = await store.writer(options);
      const changed = wrap(writer);
      return {
        ref: writer.ref,
        get offset() {
          return writer.offset;
        },
        status: changed.status ?? (() => writer.status()),
        write: changed.write ?? ((data) => writer.write(data)),
        commit: changed.commit ?? ((options) => writer.commit(options)),
        truncate: changed.truncate ?? (() => writer.truncate()),
        close: changed.close ?? (() => writer.close()),
      };
    },
  };
}
