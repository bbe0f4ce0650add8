#!/usr/bin/env node
// Bundles the `strata` command (apps/cli/src/main.ts and the workspace libs it
// imports) into apps/cli/dist/ with esbuild, so a start loads plain
// JavaScript instead of compiling TypeScript through tsx. npm packages stay
// external (resolved from node_modules at run time) except the few listed in
// bundledPackages and what they import; dynamic imports become chunks loaded
// only by the commands that need them.
//
// Beside the bundle it writes apps/cli/dist/inputs.json: every source file
// that went into it. apps/cli/bin/strata.mjs runs the bundle only while none
// of them is newer than it, so an edited source never runs stale code.
//
// Usage: node tools/scripts/build-cli.mjs   (npm run build:cli; setup.sh runs it)
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const outdir = join(root, 'apps', 'cli', 'dist');
const staging = `${outdir}.tmp-${process.pid}`;

/**
 * Sources that locate files relative to themselves (`new URL('../x',
 * import.meta.url)`) keep doing so from their own place in the repo: each
 * workspace file's `import.meta.url` becomes its own file URL.
 */
const workspace = ['apps', 'libs'].map((dir) => join(root, dir, ''));
const sourceUrls = {
  name: 'source-import-meta-url',
  setup(b) {
    b.onLoad({ filter: /\.[cm]?ts$/ }, (args) => {
      if (!workspace.some((dir) => args.path.startsWith(dir))) return undefined;
      const text = readFileSync(args.path, 'utf8');
      if (!text.includes('import.meta.url')) return undefined;
      return { contents: text.replaceAll('import.meta.url', JSON.stringify(pathToFileURL(args.path).href)), loader: 'ts' };
    });
  },
};

/**
 * Bare imports of npm packages stay imports; workspace packages (@strata/*)
 * are bundled. Neither the libraries nor the npm packages they use are
 * imported for side effects, so a chunk leaves out the files and packages
 * whose exports it does not use: `export * from './logger.js'` in
 * @strata/kit does not load pino on every start, nor does createClient of
 * @strata/grpc-kit load grpc-health-check (which parses a .proto on import).
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
 *   Bundled, each is one piece of a chunk. CommonJS code calls `require`
 *   for Node's own modules, which an ES module lacks: the banner gives every
 *   chunk one (createRequire).
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
    outExtension: { '.js': '.mjs' },
    chunkNames: 'chunks/[name]-[hash]',
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    tsconfig: join(root, 'tsconfig.base.json'),
    plugins: [workspaceModules, sourceUrls],
    metafile: true,
    logLevel: 'warning',
    legalComments: 'none',
    banner: { js: "import { createRequire as __strataCreateRequire } from 'node:module'; const require = __strataCreateRequire(import.meta.url);" },
  });
  const files = Object.keys(result.metafile.inputs).map((p) => relative(root, join(root, p)));
  const inputs = [...new Set(files.map((p) => (p.startsWith('node_modules/') ? packageJsonOf(p) : p)))].sort();
  writeFileSync(join(staging, 'inputs.json'), `${JSON.stringify({ inputs }, null, 1)}\n`);
  install();
} finally {
  rmSync(staging, { recursive: true, force: true });
}

/**
 * Moves the staged build into outdir without a moment where a running
 * `strata` misses a file: chunks are named by content hash, so new ones are
 * added beside the old (a command started before this build still loads its
 * lazy chunks), then inputs.json and the entry are replaced by rename. The
 * entry's mtime is the build's start, so a source saved during the build
 * makes it stale. Chunks no build refers to are removed after an hour.
 */
function install() {
  const chunks = join(outdir, 'chunks');
  mkdirSync(chunks, { recursive: true });
  const fresh = new Set(readdirSync(join(staging, 'chunks')));
  for (const name of fresh) {
    if (!existsSync(join(chunks, name))) renameSync(join(staging, 'chunks', name), join(chunks, name));
    else utimesSync(join(chunks, name), new Date(), new Date());
  }
  renameSync(join(staging, 'inputs.json'), join(outdir, 'inputs.json'));
  utimesSync(join(staging, 'strata.mjs'), started, started);
  renameSync(join(staging, 'strata.mjs'), join(outdir, 'strata.mjs'));
  const hourAgo = Date.now() - 3600_000;
  for (const name of readdirSync(chunks)) {
    if (!fresh.has(name) && statSync(join(chunks, name)).mtimeMs < hourAgo) rmSync(join(chunks, name), { force: true });
  }
}
