export * from './runtime-spec.js';
export * from './hardened-defaults.js';
export * from './seccomp-profile.js';
export * from './seccomp-custom.js';
export * from './resolve-user.js';
export { readRootFile, resolveInRoot, MAX_ROOT_FILE_BYTES, type RootPath } from './root-file.js';
export * from './build-runtime-spec.js';
