#!/usr/bin/env node
// Runs the registry-mirror from its TypeScript sources: `node apps/registry-mirror/bin/registry-mirror.mjs --help`.
import { register } from 'tsx/esm/api';

register();
await import('../src/main.ts');
