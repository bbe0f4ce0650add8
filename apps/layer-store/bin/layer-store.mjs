#!/usr/bin/env node
// Runs the layer-store from its TypeScript sources: `node apps/layer-store/bin/layer-store.mjs --help`.
import { register } from 'tsx/esm/api';

register();
await import('../src/main.ts');
