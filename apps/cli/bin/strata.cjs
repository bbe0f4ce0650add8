#!/usr/bin/env node
// The `strata` command. Runs the bundle of tools/scripts/build-cli.mjs
// (apps/cli/dist/strata.cjs, made by setup.sh and `npm run build:cli`) when
// it is there and no source that went into it (apps/cli/dist/inputs.json) is
// newer; otherwise the TypeScript sources through tsx, so an edit never runs
// stale code.
//
// CommonJS, not an ES module: node then starts without its ES module loader.
// The bundle runs as a vm.Script with the V8 code cache in
// apps/cli/dist/strata.cjs.cache, so a start deserializes the functions the
// CLI runs instead of compiling them. The cache begins with the bundle's
// size and mtime (V8 itself checks only the source's length); when it is
// missing, stale or rejected by V8 (another node, other V8 flags), the
// launcher writes a new one when the command ends. STRATA_WRITE_CODE_CACHE=1
// asks for one anyway (the build does, after a command that loads gRPC).
// Writing replaces the file by rename; a failure (a user who may not write
// dist/) is ignored.
'use strict';
/* global require, process, Buffer, __dirname -- eslint.config.mjs gives Node's globals to ES modules only */
/* eslint-disable @typescript-eslint/no-require-imports -- a CommonJS file */
const { isAscii } = require('node:buffer');
const { closeSync, fstatSync, openSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } = require('node:fs');
const { createRequire } = require('node:module');
const { join } = require('node:path');
const { Script } = require('node:vm');

// Started by ./strata without NODE_EXTRA_CA_CERTS (see there): the variable
// goes back into the environment the processes this one starts inherit.
if (process.env.STRATA_NODE_EXTRA_CA_CERTS !== undefined) {
  process.env.NODE_EXTRA_CA_CERTS = process.env.STRATA_NODE_EXTRA_CA_CERTS;
  delete process.env.STRATA_NODE_EXTRA_CA_CERTS;
}

const dist = join(__dirname, '..', 'dist');
/** The repo, ending in a slash: inputs.json's paths are appended (path.join for each of them costs ~4 ms). */
const root = join(__dirname, '..', '..', '..', '/');
const bundle = join(dist, 'strata.cjs');
const codeCache = join(dist, 'strata.cjs.cache');

/**
 * The bundle's text and the first line of its code cache (its size and
 * mtime) when no source in inputs.json is newer; otherwise undefined. Both
 * come from one open file, so a build replacing it meanwhile cannot pair
 * one bundle's text with another's cache.
 */
function freshBundle() {
  let fd;
  try {
    fd = openSync(bundle);
    const built = fstatSync(fd);
    const { inputs } = JSON.parse(readFileSync(join(dist, 'inputs.json'), 'utf8'));
    if (!inputs.every((path) => statSync(root + path).mtimeMs <= built.mtimeMs)) return undefined;
    return { source: text(readFileSync(fd)), key: `${built.size} ${built.mtimeMs}\n` };
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * The bundle's bytes as a string. The build writes it in ASCII, which
 * decodes as latin1 into a one-byte string: ~1.5 ms for the 1.7 MB bundle,
 * where UTF-8 decoding takes ~5 ms and, for a file with any other
 * character, makes a two-byte string of twice the size.
 */
function text(bytes) {
  return isAscii(bytes) ? bytes.latin1Slice(0, bytes.length) : bytes.toString('utf8');
}

/** The code cache's data when its first line is key; otherwise undefined. */
function readCodeCache(key) {
  try {
    const file = readFileSync(codeCache);
    return file.subarray(0, key.length).toString('latin1') === key ? file.subarray(key.length) : undefined;
  } catch {
    return undefined;
  }
}

/** Replaces the code cache with key and script's cached data; never throws (it runs on exit). */
function writeCodeCache(key, script) {
  const temp = `${codeCache}.${process.pid}`;
  try {
    writeFileSync(temp, Buffer.concat([Buffer.from(key, 'latin1'), script.createCachedData()]));
    renameSync(temp, codeCache);
  } catch {
    try {
      rmSync(temp, { force: true });
    } catch {
      // dist/ refused this too.
    }
  }
}

/** Runs the bundle as Node.js runs a CommonJS module, with the code cache. */
function runBundle({ source, key }) {
  const script = new Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, {
    filename: bundle,
    cachedData: readCodeCache(key),
  });
  if (process.env.STRATA_WRITE_CODE_CACHE === '1' || script.cachedDataRejected !== false) {
    process.once('exit', () => writeCodeCache(key, script));
  }
  const module = { exports: {} };
  script.runInThisContext()(module.exports, createRequire(bundle), module, bundle, dist);
}

async function runSources() {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/main.ts');
}

const fresh = freshBundle();
if (fresh !== undefined) runBundle(fresh);
else void runSources();
