import { createLeaseManager } from '../leases.js';
import { contentStoreSuite } from './content-store-suite.js';
import { createMemoryMetadataStore } from './memory-metadata-store.js';
import { createMemoryStore } from './memory-store.js';

contentStoreSuite('memory', async () => {
  const store = createMemoryStore();
  return { store, leases: createLeaseManager(createMemoryMetadataStore()), cleanup: () => store.close() };
});
