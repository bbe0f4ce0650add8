export * from './local-snapshotter.js';
export * from './mount.js';
export { bindMount, copyTree, overlayMounts, overlaySupported } from './drivers.js';
export { diskUsage } from './disk-usage.js';
