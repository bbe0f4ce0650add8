export * from './test-cgroups.js';
export * from './cgroup-suite.js';
