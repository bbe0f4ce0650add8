import { join } from 'node:path';
import { createLeaseManager, type LeaseManager, type Store } from '@strata/content';
import { contentStoreSuite, createMemoryMetadataStore, createMemoryStore } from '@strata/content/testing';
import { createServer } from '@strata/grpc-kit';
import { silentLogger } from '@strata/kit';
import { tempDir } from '@strata/kit/testing';
import { createFsContent } from '@strata/content-fs';
import { createContentService } from './content-service.js';
import { createGrpcStore } from './grpc-store.js';

async function serve(backend: Store, leases: LeaseManager, dir = tempDir('content-grpc-')) {
  const socket = join(dir.path, 'content.sock');
  const logger = silentLogger();
  const service = createContentService(backend, leases, { logger });
  const server = createServer({ logger, services: service.registrations, unixSocket: socket });
  await server.start();
  const client = createGrpcStore({ unixSocket: socket }, { logger });
  return {
    store: client,
    leases: client.leases,
    cleanup: async () => {
      await client.close();
      await server.shutdown(1000);
      await backend.close();
      dir.remove();
    },
  };
}

contentStoreSuite('grpc over memory', () => serve(createMemoryStore(), createLeaseManager(createMemoryMetadataStore())));

contentStoreSuite('grpc over fs', async () => {
  const dir = tempDir('content-grpc-fs-');
  const { store, leases } = await createFsContent({ root: join(dir.path, 'blobs'), logger: silentLogger() });
  return serve(store, leases, dir);
});
