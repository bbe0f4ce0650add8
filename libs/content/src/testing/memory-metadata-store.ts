import type { MetadataStore } from '../store.js';

/**
 * A MetadataStore kept in memory. Values go through JSON like on disk (Dates
 * become strings; what get returns is a fresh copy). For tests and
 * throw-away programs.
 */
export function createMemoryMetadataStore(): MetadataStore {
  const values = new Map<string, string>();
  return {
    async get<T>(key: string) {
      const text = values.get(key);
      return text === undefined ? undefined : (JSON.parse(text) as T);
    },
    async put(key, value) {
      values.set(key, JSON.stringify(value));
    },
    async delete(key) {
      values.delete(key);
    },
    async list(prefix) {
      return [...values.keys()].filter((k) => k.startsWith(prefix));
    },
  };
}
