import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: ['libs/*/vitest.config.ts', 'apps/*/vitest.config.ts', 'examples/*/vitest.config.ts'],
    // Integration tests start real processes (nats-server, runc, registries): keep them roomy.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Two test files at a time. vitest's default is one fewer than the cores
    // (one worker on this 2-core machine), which suits CPU-bound tests; most
    // of ours wait on processes, mounts and the network. Two workers ran the
    // suite in 509 s against 763 s with one, every test passing. Every test
    // makes its own ports, directories, bridges, chains and cgroups, so files
    // do not meet; more workers are untested.
    maxWorkers: 2,
    minWorkers: 1,
    reporters: ['default'],
  },
});
