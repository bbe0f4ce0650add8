#!/usr/bin/env node
// Regenerates libs/api/src/gen from proto/ with buf + ts-proto (both npm
// packages, so this works offline on a fresh clone). Run by `npm install`
// (postinstall) and by the Nx target `api:generate`.
//
// The code is generated into a staging directory first and swapped in only
// when it differs, with renames: processes running from the tree (a `strata
// up` stack, a test run) never see libs/api/src/gen missing or half-written.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const buf = join(root, 'node_modules', '.bin', 'buf');
if (!existsSync(buf)) {
  console.error('gen-proto: node_modules/.bin/buf is missing; run `npm install` first');
  process.exit(1);
}
const live = join(root, 'libs/api/src/gen');
const staging = join(root, 'libs/api', `.gen-${process.pid}`);
// buf.gen.yaml writes to ../libs/api/src/gen relative to the output base, so
// an output base of <staging>/proto puts the code in <staging>/libs/api/src/gen.
const fresh = join(staging, 'libs/api/src/gen');

/** Every file under dir, as paths relative to it, sorted. */
function files(dir) {
  if (!existsSync(dir)) return [];
  const out = [];
  const walk = (d) => {
    for (const name of readdirSync(d)) {
      const path = join(d, name);
      if (statSync(path).isDirectory()) walk(path);
      else out.push(relative(dir, path));
    }
  };
  walk(dir);
  return out.sort();
}

function same(a, b) {
  const fa = files(a);
  const fb = files(b);
  return fa.length === fb.length && fa.every((f, i) => f === fb[i] && readFileSync(join(a, f)).equals(readFileSync(join(b, f))));
}

try {
  execFileSync(buf, ['generate', '--output', join(staging, 'proto')], { cwd: join(root, 'proto'), stdio: 'inherit' });
  if (!same(fresh, live)) {
    const old = `${live}.old-${process.pid}`;
    if (existsSync(live)) renameSync(live, old);
    mkdirSync(dirname(live), { recursive: true });
    renameSync(fresh, live);
    rmSync(old, { recursive: true, force: true });
  }
} finally {
  rmSync(staging, { recursive: true, force: true });
}
