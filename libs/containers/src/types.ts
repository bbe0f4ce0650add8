import type { HealthCheck, HealthSettings, HealthState } from './health.js';
import type { Ulimit } from './run-options.js';
import type { MountSpec } from './mounts.js';

/**
 * Where a container is in its life (`docker inspect` State.Status);
 * restarting: its process ended and the restart policy starts it again
 * after a delay.
 */
export type ContainerStatus = 'created' | 'restarting' | 'running' | 'paused' | 'exited' | 'removing' | 'dead';

/** Every status, in the order `docker ps --filter status=` lists them. */
export const CONTAINER_STATUSES: readonly ContainerStatus[] = ['created', 'restarting', 'running', 'paused', 'exited', 'removing', 'dead'];

/** How a container is networked: its own namespace on the node's bridge, loopback only, or the host's. */
export type NetworkMode = 'bridge' | 'none' | 'host';

/** One published port (`-p`): host address (`0.0.0.0` for all) and port (0 = pick one) to a container port. */
export interface PortSpec {
  hostIp: string;
  hostPort: number;
  containerPort: number;
  protocol: 'tcp' | 'udp';
}

/** Docker's restart policy names (`--restart`). */
export type RestartPolicyName = 'no' | 'always' | 'unless-stopped' | 'on-failure';

/** What happens when a container's process ends (Docker's HostConfig.RestartPolicy); see restart-policy.ts. */
export interface RestartPolicy {
  name: RestartPolicyName;
  /** on-failure only: restarts allowed before it stays exited; 0 for no limit. */
  maximumRetryCount: number;
}

/** The cgroup limits asked for. Undefined fields: no memory or CPU limit, the node's default pids limit; pidsLimit -1: none. */
export interface ResourceSpec {
  memoryBytes?: number;
  cpus?: number;
  pidsLimit?: number;
  /** `--cpu-shares` (2..262144). */
  cpuShares?: number;
  /** `--cpuset-cpus`, a list such as `0-2,4`. */
  cpusetCpus?: string;
  /** `--cpuset-mems`. */
  cpusetMems?: string;
}

/** What `run`/`create` asks for, without the image's config merged in. */
export interface ContainerSpec {
  /** Image reference or id, as the registry-mirror's Images API accepts it. */
  image: string;
  /** Replaces the image's Cmd when not empty. */
  cmd: string[];
  /** Replaces the image's Entrypoint (and drops its Cmd) when set; `[]` clears it. */
  entrypoint?: string[];
  env: string[];
  workingDir?: string;
  user?: string;
  tty: boolean;
  openStdin: boolean;
  hostname?: string;
  ports: PortSpec[];
  networkMode: NetworkMode;
  resources: ResourceSpec;
  autoRemove: boolean;
  /** What happens when its process ends (`--restart`); `no` when unset. */
  restartPolicy?: RestartPolicy;
  labels: Record<string, string>;
  stopSignal?: string;
  /** Seconds Stop waits before SIGKILL; 10 when unset. */
  stopTimeoutSeconds?: number;
  /** `os/arch[/variant]` of the image; the node's when unset. */
  platform?: string;
  userNamespace: boolean;
  /** Binds, volumes and tmpfs mounts (`-v`, `--mount`, `--tmpfs`), checked with checkMounts. */
  mounts: MountSpec[];
  /** The root file system read-only (`--read-only`); mounts stay as asked. */
  readOnly?: boolean;
  /** More /etc/hosts entries, `NAME:IP` (`--add-host`, see checkExtraHost). */
  extraHosts?: string[];
  /** Name servers, search domains and options of /etc/resolv.conf instead of the host's (`--dns`, `--dns-search`, `--dns-option`). */
  dns?: { servers: string[]; search: string[]; options: string[] };
  /** Resource limits of the process (`--ulimit`). */
  ulimits?: Ulimit[];
  /** Size of /dev/shm (`--shm-size`); 64 MiB when unset. */
  shmSizeBytes?: number;
  /** Capabilities added to and dropped from Docker's defaults (`--cap-add`, `--cap-drop`; `ALL` for every one). */
  capAdd?: string[];
  capDrop?: string[];
  /** Docker's security options (`--security-opt`, see parseSecurityOptions); a seccomp profile travels as its text. */
  securityOpt?: string[];
  /** `--health-*` (over the image's HEALTHCHECK); `test: ["NONE"]` for `--no-healthcheck`. */
  health?: HealthSettings;
}

/** A container's runtime state (`docker inspect` State). Times are RFC 3339 strings. */
export interface ContainerState {
  status: ContainerStatus;
  /** Host pid of the process while it runs; 0 otherwise. */
  pid: number;
  /** Exit code of the last run (128+N when killed by signal N), or of the last start that failed (126, 127, 128). */
  exitCode: number;
  oomKilled: boolean;
  startedAt?: string;
  finishedAt?: string;
  /** Why the container is dead or failed to start; empty otherwise. */
  error: string;
  /** The health checks' verdict since the last start, for a container that has checks. */
  health?: HealthState;
}

/** How the container is reached, as attached. */
export interface NetworkSettings {
  mode: NetworkMode;
  ipAddress?: string;
  gateway?: string;
  prefixLength?: number;
  /** Published ports with the host ports in use. */
  ports: PortSpec[];
}

/** What the node knows of one container: its durable record. */
export interface ContainerRecord {
  /** 64 lower-case hex characters. */
  id: string;
  name: string;
  /** The image as asked for. */
  image: string;
  /** The image id (config digest). */
  imageId: string;
  /** The image manifest's digest on this node. */
  manifestDigest: string;
  /** RFC 3339. */
  created: string;
  spec: ContainerSpec;
  state: ContainerState;
  network: NetworkSettings;
  /** The effective command line (entrypoint and cmd merged with the image's). */
  command: string[];
  node: string;
  logPath: string;
  snapshotKey: string;
  /** Restarts made by the restart policy since the last start by hand (Docker's RestartCount). */
  restartCount: number;
  /**
   * Stopped by stop or kill since the last start by hand (Docker's
   * HasBeenManuallyStopped): an unless-stopped container is not started
   * again, also when the agent starts. Unset: false.
   */
  manuallyStopped?: boolean;
  /** The cgroup's OOM-kill count already reported for the current run. */
  oomKillsSeen: number;
  /** The checks the container runs (its image's HEALTHCHECK with --health-* over it); none when unset. */
  healthCheck?: HealthCheck;
}
