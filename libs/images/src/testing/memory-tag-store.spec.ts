import { createMemoryTagStore } from './memory-tag-store.js';
import { tagStoreSuite } from './tag-store-suite.js';

tagStoreSuite('in memory', async () => createMemoryTagStore());
