import { silentLogger, type Logger } from '@strata/kit';
import type { Store } from '@strata/content';
import { createMemoryStore } from '@strata/content/testing';
import type { TagStore } from '@strata/images';
import { createMemoryTagStore } from '@strata/images/testing';
import { createLocalBackend, type LocalBackend } from '../local-backend.js';
import { createRegistryHandler } from '../registry-handler.js';
import { startRegistryServer } from '../registry-server.js';

/** Settings of {@link startTestRegistry}. */
export interface TestRegistryOptions {
  /** A memory store by default (closed with the registry). */
  store?: Store;
  /** A memory tag store by default. */
  tags?: TagStore;
  logger?: Logger;
  maxManifestBytes?: number;
}

/** A registry of local repositories listening on a free port of 127.0.0.1. */
export interface TestRegistry {
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** `127.0.0.1:PORT`, for `docker://` references. */
  host: string;
  store: Store;
  tags: TagStore;
  backend: LocalBackend;
  /** Stops the server; closes the stores it created. */
  close(): Promise<void>;
}

/**
 * Starts the Distribution API over a local backend, for tests of clients
 * (push, pull, skopeo). Stop it with close(), also when the test fails.
 */
export async function startTestRegistry(options: TestRegistryOptions = {}): Promise<TestRegistry> {
  const logger = options.logger ?? silentLogger();
  const store = options.store ?? createMemoryStore();
  const tags = options.tags ?? createMemoryTagStore();
  const backend = createLocalBackend({ store, tags, logger, ...(options.maxManifestBytes === undefined ? {} : { maxManifestBytes: options.maxManifestBytes }) });
  const handler = createRegistryHandler({ backend, logger, ...(options.maxManifestBytes === undefined ? {} : { maxManifestBytes: options.maxManifestBytes }) });
  const server = await startRegistryServer({ port: 0, handler, logger });
  return {
    url: server.url,
    host: `127.0.0.1:${server.port}`,
    store,
    tags,
    backend,
    async close() {
      await server.close();
      if (options.store === undefined) await store.close();
      if (options.tags === undefined) await tags.close();
    },
  };
}
