#!/usr/bin/env node
// The `strata` command. Runs the bundle of tools/scripts/build-cli.mjs
// (apps/cli/dist/strata.mjs, made by setup.sh and `npm run build:cli`) when
// it is there and no source that went into it (apps/cli/dist/inputs.json) is
// newer; otherwise the TypeScript sources through tsx, so an edit never runs
// stale code.
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

// Started by ./strata without NODE_EXTRA_CA_CERTS (see there): the variable
// goes back into the environment the processes this one starts inherit.
if (process.env.STRATA_NODE_EXTRA_CA_CERTS !== undefined) {
  process.env.NODE_EXTRA_CA_CERTS = process.env.STRATA_NODE_EXTRA_CA_CERTS;
  delete process.env.STRATA_NODE_EXTRA_CA_CERTS;
}

const dist = fileURLToPath(new URL('../dist/', import.meta.url));
const root = fileURLToPath(new URL('../../../', import.meta.url));

function bundleIsFresh() {
  try {
    const built = statSync(join(dist, 'strata.mjs')).mtimeMs;
    const { inputs } = JSON.parse(readFileSync(join(dist, 'inputs.json'), 'utf8'));
    return inputs.every((path) => statSync(join(root, path)).mtimeMs <= built);
  } catch {
    return false;
  }
}

if (bundleIsFresh()) {
  await import('../dist/strata.mjs');
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/main.ts');
}
