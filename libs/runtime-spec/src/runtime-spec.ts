/**
 * The parts of the OCI runtime specification (config.json, runtime-spec
 * 1.0.x as runc 1.1 reads it) that Strata writes. Field names are the
 * spec's JSON names, so a value serialises to config.json as it is.
 */

/** The OCI runtime-spec version Strata's config.json declares (what runc 1.1 implements). */
export const OCI_VERSION = '1.0.2-dev';

/** The user a process runs as, in the container's user namespace. */
export interface SpecUser {
  uid: number;
  gid: number;
  additionalGids?: number[];
  umask?: number;
}

/** Capability names (`CAP_CHOWN`…) per capability set. */
export interface SpecCapabilities {
  bounding: string[];
  effective: string[];
  permitted: string[];
  inheritable: string[];
  ambient: string[];
}

/** One resource limit (`RLIMIT_NOFILE`…). */
export interface SpecRlimit {
  type: string;
  soft: number;
  hard: number;
}

/** The container's process (or a process run in it with `runc exec --process`). */
export interface SpecProcess {
  terminal: boolean;
  consoleSize?: { height: number; width: number };
  user: SpecUser;
  args: string[];
  env: string[];
  cwd: string;
  capabilities: SpecCapabilities;
  rlimits: SpecRlimit[];
  noNewPrivileges: boolean;
  oomScoreAdj?: number;
}

/** A mount, applied in array order. */
export interface SpecMount {
  destination: string;
  type?: string;
  source?: string;
  options?: string[];
}

/** A namespace to create (no path) or to join (path). */
export interface SpecNamespace {
  type: 'pid' | 'network' | 'mount' | 'ipc' | 'uts' | 'user' | 'cgroup';
  path?: string;
}

/** Maps `size` ids from `hostID` on the host to `containerID` in the container. */
export interface IdMapping {
  containerID: number;
  hostID: number;
  size: number;
}

/** One rule of the device cgroup, applied in order. */
export interface SpecDeviceRule {
  allow: boolean;
  type?: 'a' | 'c' | 'b';
  major?: number;
  minor?: number;
  access?: string;
}

/** cgroup limits. */
export interface SpecResources {
  devices: SpecDeviceRule[];
  memory?: { limit?: number; swap?: number };
  cpu?: { quota?: number; period?: number; shares?: number; cpus?: string; mems?: string };
  pids?: { limit: number };
}

/** A seccomp argument comparison; for `SCMP_CMP_MASKED_EQ`, `value` is the mask and `valueTwo` the expected result. */
export interface SeccompArg {
  index: number;
  value: number;
  valueTwo?: number;
  op: 'SCMP_CMP_NE' | 'SCMP_CMP_LT' | 'SCMP_CMP_LE' | 'SCMP_CMP_EQ' | 'SCMP_CMP_GE' | 'SCMP_CMP_GT' | 'SCMP_CMP_MASKED_EQ';
}

/** A seccomp action. */
export type SeccompAction =
  | 'SCMP_ACT_ALLOW'
  | 'SCMP_ACT_ERRNO'
  | 'SCMP_ACT_KILL'
  | 'SCMP_ACT_KILL_PROCESS'
  | 'SCMP_ACT_KILL_THREAD'
  | 'SCMP_ACT_TRAP'
  | 'SCMP_ACT_TRACE'
  | 'SCMP_ACT_LOG';

/** A seccomp rule: the action for these syscalls (when every arg comparison holds). */
export interface SeccompRule {
  names: string[];
  action: SeccompAction;
  errnoRet?: number;
  args?: SeccompArg[];
}

/** A seccomp filter (runc compiles it with libseccomp). */
export interface SeccompProfile {
  defaultAction: SeccompAction;
  defaultErrnoRet?: number;
  architectures: string[];
  /** seccomp(2) filter flags (SECCOMP_FILTER_FLAG_LOG, …). */
  flags?: string[];
  syscalls: SeccompRule[];
}

/** The `linux` section. */
export interface SpecLinux {
  namespaces: SpecNamespace[];
  uidMappings?: IdMapping[];
  gidMappings?: IdMapping[];
  cgroupsPath: string;
  resources: SpecResources;
  seccomp?: SeccompProfile;
  maskedPaths: string[];
  readonlyPaths: string[];
}

/** A whole config.json. */
export interface RuntimeSpec {
  ociVersion: string;
  process: SpecProcess;
  root: { path: string; readonly: boolean };
  hostname: string;
  mounts: SpecMount[];
  linux: SpecLinux;
  annotations?: Record<string, string>;
}
