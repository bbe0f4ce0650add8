#!/usr/bin/env node
// Regenerates libs/api/src/gen from proto/ with buf + ts-proto (both npm
// packages, so this works offline on a fresh clone). Run by `npm install`
// (postinstall) and by the Nx target `api:generate`.
import { execFileSync } from 'node:child_process';
import { rmSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const buf = join(root, 'node_modules', '.bin', 'buf');
if (!existsSync(buf)) {
  console.error('gen-proto: node_modules/.bin/buf is missing; run `npm install` first');
  process.exit(1);
}
rmSync(join(root, 'libs/api/src/gen'), { recursive: true, force: true });
execFileSync(buf, ['generate'], { cwd: join(root, 'proto'), stdio: 'inherit' });
