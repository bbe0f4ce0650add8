export * from './syscall-probe.js';
