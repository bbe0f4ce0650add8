#!/usr/bin/env node
// Runs the node-agent from its TypeScript sources: `node apps/node-agent/bin/node-agent.mjs --help`.
import { register } from 'tsx/esm/api';

register();
await import('../src/main.ts');
