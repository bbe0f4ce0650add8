#!/usr/bin/env node
// Runs the snapshotter from its TypeScript sources: `node apps/snapshotter/bin/snapshotter.mjs --help`.
import { register } from 'tsx/esm/api';

register();
await import('../src/main.ts');
