#!/usr/bin/env node
// Entry point of the service image: runs the service STRATA_SERVICE names
// (set from the image's SERVICE build argument) with the given arguments.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const service = process.env.STRATA_SERVICE ?? '';
const bin = join(dirname(fileURLToPath(import.meta.url)), '..', 'apps', service, 'bin', `${service}.mjs`);
if (!/^[a-z][a-z-]*$/.test(service) || !existsSync(bin)) {
  process.stderr.write(`service.mjs: STRATA_SERVICE=${JSON.stringify(service)} names no service under apps/ (build with --build-arg SERVICE=<app>)\n`);
  process.exit(2);
}
await import(bin);
