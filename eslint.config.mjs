// Lint rules, including the architecture: @nx/enforce-module-boundaries
// enforces which kind of project may import which (STYLE.md "Layout").
import js from '@eslint/js';
import nx from '@nx/eslint-plugin';
import tseslint from 'typescript-eslint';
import globals from 'globals';

const infrastructure = ['@grpc/grpc-js', 'grpc-health-check', '@nats-io/*', 'minio', 's3rver', 'pino'];

/** Which kind of project may import which (STYLE.md "Layout"). */
function depConstraints({ tests }) {
  return [
    // apps wire everything together
    { sourceTag: 'type:app', onlyDependOnLibsWithTags: ['*'] },
    // a service's core logic that composes adapters (the pull-through cache
    // composes the upstream client and the registry API's ports)
    {
      sourceTag: 'type:service',
      onlyDependOnLibsWithTags: ['type:adapter', 'type:domain', 'type:util', 'type:api', 'type:platform'],
    },
    // adapters implement domain ports with real technology; their tests may
    // put another adapter behind them (the gRPC adapter over the fs store)
    {
      sourceTag: 'type:adapter',
      onlyDependOnLibsWithTags: ['type:domain', 'type:util', 'type:api', 'type:platform', ...(tests ? ['type:adapter'] : [])],
    },
    // the platform (gRPC, NATS connections) knows the generated API, never a domain
    { sourceTag: 'type:platform', onlyDependOnLibsWithTags: ['type:util', 'type:api'] },
    // domains: interfaces, types, rules; no generated protos, no I/O technology
    { sourceTag: 'type:domain', onlyDependOnLibsWithTags: ['type:util'], bannedExternalImports: infrastructure },
    // utils depend on nothing of ours but utils (kit may use pino for the logger type)
    {
      sourceTag: 'type:util',
      onlyDependOnLibsWithTags: ['type:util'],
      bannedExternalImports: infrastructure.filter((p) => p !== 'pino'),
    },
    { sourceTag: 'type:api', onlyDependOnLibsWithTags: [] },
  ];
}

// The CLI loads gRPC and generated code inside command handlers so that
// `--help` and light commands start fast; that lazy loading is about start-up
// time, not bundle splitting, so static imports of the same libraries
// elsewhere are fine.
const boundaries = (tests) => [
  'error',
  {
    enforceBuildableLibDependency: false,
    allow: [],
    checkDynamicDependenciesExceptions: ['@strata/**'],
    depConstraints: depConstraints({ tests }),
  },
];

export default tseslint.config(
  { ignores: ['**/node_modules/**', '**/dist/**', 'libs/api/src/gen/**', '.nx/**', 'bench/.work/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts', '**/*.mjs'],
    languageOptions: { globals: { ...globals.node } },
    plugins: { '@nx': nx },
    rules: {
      '@nx/enforce-module-boundaries': boundaries(false),
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  {
    files: ['**/*.spec.ts', '**/testing/**/*.ts', 'bench/**', 'tools/**'],
    rules: { '@typescript-eslint/no-non-null-assertion': 'off', '@nx/enforce-module-boundaries': boundaries(true) },
  },
);
