export * from './constraint.js';
export * from './placement.js';
export * from './placer.js';
export { formatBytes, formatCpus } from './format-bytes.js';
