#!/usr/bin/env node
// Bundles the `strata` command (apps/cli/src/main.ts and the workspace libs it
// imports) into one CommonJS file, apps/cli/dist/strata.cjs, with esbuild, so
// a start loads plain JavaScript instead of compiling TypeScript through tsx.
// npm packages stay external (required from node_modules at run time) except
// the few listed in bundledPackages and what they import. A dynamic import
// stays lazy: its module is a function of the file that runs on first use.
//
// One file, not an ES module and its chunks, because apps/cli/bin/strata.cjs
// runs it through vm.Script with a V8 code cache (Node.js 20 has no compile
// cache for modules): a start deserializes the compiled functions instead of
// compiling them, and loads no module graph. After installing the bundle the
// build runs one command that loads gRPC (`strata run` against a run dir with
// no agent) and has the launcher write the cache, so it holds the functions a
// command that calls a service needs, not only the top level.
//
// Beside the bundle it writes apps/cli/dist/inputs.json: every source file
// that went into it. The launcher runs the bundle only while none of them is
// newer than it, so an edited source never runs stale code.
//
// Usage: node tools/scripts/build-cli.mjs   (npm run build:cli; setup.sh runs it)
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const outdir = join(root, 'apps', 'cli', 'dist');
const staging = `${outdir}.tmp-${process.pid}`;

/**
 * Sources that locate files relative to themselves (`new URL('../x',
 * import.meta.url)`) keep doing so from their own place in the repo: each
 * workspace file's `import.meta.url` becomes its own file URL. A package
 * a source loads only when first needed, `createRequire(import.meta.url)('x')`
 * (pino in @strata/kit's logger), becomes a plain `require('x')` first, which
 * esbuild bundles and still evaluates only at that call.
 */
const workspace = ['apps', 'libs'].map((dir) => join(root, dir, ''));
const sourceUrls = {
  name: 'source-import-meta-url',
  setup(b) {
    b.onLoad({ filter: /\.[cm]?ts$/ }, (args) => {
      if (!workspace.some((dir) => args.path.startsWith(dir))) return undefined;
      const text = readFileSync(args.path, 'utf8');
      if (!text.includes('import.meta.url')) return undefined;
      const contents = text
        .replaceAll(/createRequire\(import\.meta\.url\)\((['"][^'"]+['"])\)/g, 'require($1)')
        .replaceAll('import.meta.url', JSON.stringify(pathToFileURL(args.path).href));
      return { contents, loader: 'ts' };
    });
  },
};

/**
 * Bare imports of npm packages stay imports (a `require` in the bundle);
 * workspace packages (@strata/*) are bundled. Neither the libraries nor the
 * npm packages they use are imported for side effects, so the bundle leaves
 * out the files and packages whose exports it does not use: createClient of
 * @strata/grpc-kit does not load grpc-health-check (which parses a .proto on
 * import).
 */
const libs = join(root, 'libs', '');
const resolving = Symbol('resolving');
/**
 * npm packages bundled rather than loaded from node_modules, with the
 * packages they import (npmDependencyOf), except those in notBundled.
 * - @bufbuild/protobuf is the generated API's wire codec: its `wire` entry
 *   loads some twenty modules (text format, reflection, size-delimited
 *   streams; ~30 ms on every command that calls a service) for the
 *   BinaryReader and BinaryWriter the generated code uses. It is pure ESM
 *   with `"sideEffects": false`, so the bundle keeps only what is used.
 * - @grpc/grpc-js and pino are CommonJS spread over some 130 files that
 *   Node.js would find, read, scan for exports and wrap one by one on every
 *   command that calls a service (~40 ms of CPU on this 2-core machine).
 *   Bundled, each is one piece of the file.
 * The bundle lists each bundled package's package.json in inputs.json, so
 * an upgrade (npm rewrites it) makes the bundle stale until it is built
 * again.
 */
const bundledPackages = ['@bufbuild/protobuf', '@grpc/grpc-js', 'pino'];
/** Imported by a bundled package only where the CLI never goes: @grpc/grpc-js needs @grpc/proto-loader for channelz alone. */
const notBundled = ['@grpc/proto-loader'];
const packageOf = (specifier) => specifier.split('/').slice(0, specifier.startsWith('@') ? 2 : 1).join('/');
const nodeModules = join(root, 'node_modules', '');
/** Whether an import made by `importer` is one of a bundled package's own dependencies. */
const npmDependencyOf = (importer) => importer.startsWith(nodeModules);
const isBundledPackage = (specifier, importer) => {
  const name = packageOf(specifier);
  if (notBundled.includes(name)) return false;
  return bundledPackages.includes(name) || npmDependencyOf(importer);
};
const workspaceModules = {
  name: 'workspace-modules',
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, (args) => {
      if (args.path.startsWith('@strata/') || args.path.startsWith('node:') || isBundledPackage(args.path, args.importer)) return undefined;
      return { path: args.path, external: true, sideEffects: false };
    });
    b.onResolve({ filter: /.*/ }, async (args) => {
      if (args.pluginData?.[resolving] || args.path.startsWith('node:')) return undefined;
      const resolved = await b.resolve(args.path, { kind: args.kind, resolveDir: args.resolveDir, importer: args.importer, pluginData: { [resolving]: true } });
      if (resolved.errors.length > 0 || !resolved.path.startsWith(libs)) return resolved;
      return { ...resolved, sideEffects: false };
    });
  },
};

/** The package.json of the npm package a bundled file comes from (node_modules/<name>/package.json). */
function packageJsonOf(path) {
  const parts = path.slice('node_modules/'.length).split('/');
  const name = parts.slice(0, parts[0].startsWith('@') ? 2 : 1).join('/');
  return `node_modules/${name}/package.json`;
}

const started = new Date();
rmSync(staging, { recursive: true, force: true });
try {
  const result = await build({
    absWorkingDir: root,
    entryPoints: { strata: 'apps/cli/src/main.ts' },
    outdir: staging,
    outExtension: { '.js': '.cjs' },
    bundle: true,
    format: 'cjs',
    platform: 'node',
    target: 'node20',
    // The launcher runs the bundle as a vm.Script, which has no loader for import(): an import() of an
    // external package becomes a require (Node.js 20.19+ requires ES modules too).
    supported: { 'dynamic-import': false },
    tsconfig: join(root, 'tsconfig.base.json'),
    plugins: [workspaceModules, sourceUrls],
    metafile: true,
    logLevel: 'warning',
    legalComments: 'none',
  });
  asciiOnly(join(staging, 'strata.cjs'));
  const files = Object.keys(result.metafile.inputs).map((p) => relative(root, join(root, p)));
  const inputs = [...new Set(files.map((p) => (p.startsWith('node_modules/') ? packageJsonOf(p) : p)))].sort();
  writeFileSync(join(staging, 'inputs.json'), `${JSON.stringify({ inputs }, null, 1)}\n`);
  install();
} finally {
  rmSync(staging, { recursive: true, force: true });
}
writeCodeCache();

/**
 * Rewrites every non-ASCII character of the bundle as a \\uXXXX escape (each
 * UTF-16 unit of one outside the BMP). esbuild escapes those of string
 * literals itself, not those of comments and regular expressions; an
 * escape means the same character in a regular expression, an identifier
 * or a template, and nothing in a comment. The launcher then reads the
 * bundle as latin1 into a one-byte string (see apps/cli/bin/strata.cjs).
 */
function asciiOnly(path) {
  const source = readFileSync(path, 'utf8');
  const ascii = source.replaceAll(/[^\0-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  if (ascii !== source) writeFileSync(path, ascii);
}

/**
 * Moves the staged build into outdir: inputs.json, then the bundle, each by
 * rename, so a `strata` starting meanwhile reads one whole file. The
 * bundle's mtime is the build's start, so a source saved during the build
 * makes it stale. The old bundle's code cache goes with it, as does the ES
 * module bundle of earlier builds (strata.mjs and its chunks).
 */
function install() {
  mkdirSync(outdir, { recursive: true });
  renameSync(join(staging, 'inputs.json'), join(outdir, 'inputs.json'));
  utimesSync(join(staging, 'strata.cjs'), started, started);
  renameSync(join(staging, 'strata.cjs'), join(outdir, 'strata.cjs'));
  for (const old of ['strata.cjs.cache', 'strata.mjs', 'chunks']) rmSync(join(outdir, old), { recursive: true, force: true });
}

/**
 * Runs `strata run --rm busybox true` against a run dir without an agent
 * (it builds the spec, loads gRPC, the generated API and the session
 * module, connects and fails) with STRATA_WRITE_CODE_CACHE=1, so the
 * launcher writes the code cache after it. Without a cache the CLI still
 * runs and the launcher writes one itself: a failure here is only reported.
 */
function writeCodeCache() {
  const runDir = mkdtempSync(join(tmpdir(), 'strata-build-cli-'));
  try {
    execFileSync(process.execPath, [join(root, 'apps', 'cli', 'bin', 'strata.cjs'), 'run', '--rm', '--run-dir', runDir, 'busybox', 'true'], {
      env: { PATH: process.env.PATH, HOME: runDir, STRATA_WRITE_CODE_CACHE: '1' },
      stdio: 'ignore',
    });
  } catch {
    // `run` fails: nothing listens in runDir.
  } finally {
    rmSync(runDir, { recursive: true, force: true });
  }
  if (!existsSync(join(outdir, 'strata.cjs.cache'))) console.warn('build-cli: the code cache was not written; the CLI compiles its bundle on each start until it is');
}
