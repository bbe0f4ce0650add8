export { openCgroup, type Cgroup, type CgroupOptions, type CgroupStats, type WaitOptions } from './cgroup.js';
export { DEFAULT_CGROUP_PARENT, validateCgroupPath } from './cgroup-path.js';
export { DEFAULT_CGROUP_ROOT, detectCgroupVersion, type CgroupVersion } from './detect.js';
export {
  CPU_PERIOD_US,
  MAX_CPU_SHARES,
  MIN_CPU_QUOTA_US,
  MIN_CPU_SHARES,
  cpuSharesOfWeight,
  cpuWeightOfShares,
  parseCpuList,
  MIN_MEMORY_BYTES,
  cpuQuota,
  hostCpuCount,
  parseMemory,
  validateLimits,
  type Limit,
  type Limits,
  type LimitsUpdate,
} from './limits.js';
