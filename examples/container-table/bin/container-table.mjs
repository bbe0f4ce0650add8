#!/usr/bin/env node
// Runs the example from its TypeScript sources: `node examples/container-table/bin/container-table.mjs --help`.
import { register } from 'tsx/esm/api';

register();
await import('../src/main.ts');
