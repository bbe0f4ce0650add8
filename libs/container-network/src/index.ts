export * from './bridge-network.js';
export * from './etc-files.js';
export * from './iptables.js';
export * from './ipam.js';
export * from './ports.js';
export * from './subnet.js';
export { runCommand, mustRun, type CommandResult } from './command.js';
