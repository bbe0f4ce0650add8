import { EventEmitter } from 'node:events';
import { chmod, chown, mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { openCgroup, validateLimits, type Cgroup, type LimitsUpdate } from '@strata/cgroups';
import type { Attachment as NetworkAttachment, BridgeNetwork } from '@strata/container-network';
import type { Attachment, CreateOptions, ExecProcess, LogRecord, Runtime } from '@strata/container-runtime';
import {
  ANONYMOUS_VOLUME_LABEL,
  checkContainerName,
  checkMounts,
  checkRemovable,
  checkRestartPolicy,
  checkRunOptions,
  checkStartable,
  createdState,
  generateContainerId,
  generateContainerName,
  isRunning,
  listContainers,
  matchesPruneFilters,
  nameConflict,
  NO_RESTART,
  parsePruneFilters,
  parseSecurityOptions,
  checkHealthSettings,
  effectiveHealthCheck,
  imageHealthSettings,
  resolveContainer,
  shouldRestart,
  startFailureCode,
  withExited,
  withRestarting,
  withStartFailure,
  withStarted,
  type ContainerRecord,
  type ContainerSpec,
  type HealthCheck,
  type PortSpec,
  type ResourceSpec,
  type RestartPolicy,
} from '@strata/containers';
import {
  failedPrecondition,
  invalidArgument,
  isFailedPrecondition,
  isNotFound,
  isStrataError,
  parseOciJson,
  stringifyOciJson,
  unimplemented,
  type EventSink,
  type Logger,
} from '@strata/kit';
import type { Change, PathStat } from '@strata/layer-diff';
import { chainIds } from '@strata/oci';
import {
  buildExecProcess,
  buildRuntimeSpec,
  containerCapabilities,
  parseSeccompProfile,
  parseStopSignal,
  resolveUser,
  specResources,
  type ResolvedUser,
  type RuntimeSpec,
} from '@strata/runtime-spec';
import type { Mount, Snapshotter } from '@strata/snapshots';
import { mountAll, mountPoints, unmountAll } from '@strata/snapshots-local';
import { commitContainer, type CommitBackend, type CommitRequest, type CommitResult } from './commit.js';
import { imageVolumeMounts, populateVolumes, prepareMounts, runtimeMounts } from './container-mounts.js';
import { createVolumes, type Volumes } from './volumes.js';
import { DEFAULT_ID_RANGE, checkIdRange, mountIdmapped, type IdRange } from './idmapped-mounts.js';
import { KeyedLock } from './keyed-lock.js';
import { openMonitorCgroup } from './monitor-cgroups.js';
import { overlayLayers } from './overlay-layers.js';
import { createContainerFiles } from './container-files.js';
import { createStatsSampler, type ContainerStatsSample } from './container-stats.js';
import { createHealthMonitor } from './health-monitor.js';
import type { ImageInfo, ImageSource, Unpacker } from './ports.js';
import { RecordStore } from './record-store.js';
import { createRestartManager } from './restart-manager.js';
import { createNetworkSpares } from './network-spares.js';
import { parseSignal } from './signals.js';
import { containerTop, type ContainerTop } from './top.js';

/** How many image users {@link createContainerManager} keeps resolved (see resolvedUsers there). */
const RESOLVED_USERS_KEPT = 256;

/** Settings of {@link createContainerManager}. */
export interface ContainerManagerOptions {
  /** The agent's directory: container bundles and records go under `<dir>/containers/<id>` (0700). */
  dir: string;
  /** Name of this node (in records and event data). */
  node: string;
  images: ImageSource;
  unpacker: Unpacker;
  /** This host's snapshotter (its gRPC client). */
  snapshotter: Snapshotter;
  runtime: Runtime;
  network: BridgeNetwork;
  events: EventSink;
  logger: Logger;
  /** Cgroup parent of the containers' cgroups (`<parent>/<id>`); `/strata` by default. */
  cgroupParent?: string;
  /** Pids limit of containers that ask for none; the runtime-spec default (4096) when unset; -1 for no limit. */
  defaultPidsLimit?: number;
  /** Log file size before rotation, and files kept. */
  logMaxBytes?: number;
  logMaxFiles?: number;
  /** RLIMIT_NOFILE of container processes (grantableNofileLimit() of the host). */
  nofileLimit?: number;
  /**
   * Host ids of user-namespaced containers (ContainerSpec.userNamespace):
   * container ids 0..size-1 are host ids hostId.. (uids and gids); Docker's
   * 100000:65536 by default. Every such container of the node shares it.
   */
  userNamespaceRange?: IdRange;
  /** How often running containers' cgroups are read for OOM kills of a process other than the init; 2 s by default. */
  oomPollMs?: number;
  /** The layer-store, Diff service and mirror commits use; without it commit raises Unimplemented. */
  commit?: CommitBackend;
  /** Bridge attachments kept ready for the next containers (see createNetworkSpares); none by default. */
  networkSpares?: number;
}

/** How a run (or an exec) ended. */
export interface ExitStatus {
  exitCode: number;
  oomKilled: boolean;
  /** RFC 3339. */
  finishedAt?: string;
  /** Wait only: why the last start failed (the record's error), as Docker's wait answers it; unset after a run. */
  error?: string;
}

/** What Wait waits for. */
export type WaitCondition = 'not-running' | 'next-exit' | 'removed';

/** Settings of an exec. */
export interface ExecRequest {
  args: string[];
  env?: string[];
  workingDir?: string;
  user?: string;
  tty?: boolean;
  stdin?: boolean;
  size?: { cols: number; rows: number };
}

/** A running exec: its stdio, and its end (exec.exited is published by then). */
export interface RunningExec {
  execId: string;
  pid: number;
  stdin: ExecProcess['stdin'];
  stdout: ExecProcess['stdout'];
  stderr: ExecProcess['stderr'];
  resize(cols: number, rows: number): void;
  exited: Promise<ExitStatus>;
}

/** A connection to a container's stdio; `ended` resolves with the exit status when the run ended while attached. */
export interface ContainerAttachment {
  stdin: Attachment['stdin'];
  stdout: Attachment['stdout'];
  stderr: Attachment['stderr'];
  tty: boolean;
  resize(cols: number, rows: number): void;
  ended: Promise<ExitStatus | undefined>;
  detach(): void;
}

/** Totals for the node heartbeat. */
export interface ContainersSummary {
  containers: number;
  running: number;
  /** Sum of the CPU limits of running containers. */
  cpusLimited: number;
  /** Sum of the memory limits of running containers. */
  memoryLimited: number;
}

/**
 * The containers of one node, from image to process to removal (issue #5
 * "How a container is made"). Every method that names a container takes an
 * id, a unique id prefix or a name and raises NotFound "No such container:
 * x" or InvalidArgument "multiple containers match prefix x". Records are
 * durable: the manager can be closed (or its process killed) while
 * containers run, and {@link ContainerManager.recover} finds them again.
 */
export interface ContainerManager {
  /**
   * Makes a container: image lookup (NotFound "No such image: x"), unpack,
   * snapshot, rootfs mount, network (with its /etc files), runtime spec,
   * bundle and durable record; publishes container.created. InvalidArgument
   * for malformed options (limits out of range: cpus above this host's
   * count, memory under 6 MiB; mounts as prepareMounts checks them: a
   * missing bind source of a `--mount`, a `-v` one is created), AlreadyExists for a name in use,
   * FailedPrecondition for a host port in use, or for a user namespace the
   * host cannot give (no idmapped mounts of the layers, a state directory
   * others cannot search: the message says what it lacks) or with the
   * bridge network (user namespaces take --network none or host). A restart
   * policy is checked with checkRestartPolicy, and refused for an
   * auto-remove container ("can't create 'AutoRemove' container with
   * restart policy"). Nothing is left behind on failure.
   */
  create(spec: ContainerSpec & { name?: string }): Promise<ContainerRecord>;
  /**
   * Runs a created or exited container's process (re-mounting its rootfs
   * when a reboot unmounted it); publishes container.started. A running one
   * is left alone, so is a restarting one (Docker answers 304). A start by
   * hand starts the restart policy over: RestartCount 0, the first delay,
   * no stop by hand. FailedPrecondition for a dead or removing container or
   * when runc refuses: the record then says why (error, exit code
   * 126/127/128) and, as with Docker, keeps its status (created when it
   * never ran), may be started again and removed without force; nothing
   * ran, so no container.exited (Docker emits no `die`). An auto-remove
   * container is removed before the error is raised.
   */
  start(ref: string): Promise<ContainerRecord>;
  /**
   * Stop signal, up to timeoutSeconds (the container's, 10 by default), then
   * SIGKILL; returns after the exit is recorded. The exit is not restarted by
   * the policy, a waiting restart is cancelled (the container is exited
   * then), and the stop counts as one by hand (unless-stopped stays stopped,
   * also across agent restarts). Start, stop, kill and remove
   * of one container run one at a time, in call order (a kill or rm -f
   * behind a stop waits for it).
   */
  stop(ref: string, timeoutSeconds?: number): Promise<ContainerRecord>;
  /**
   * Sends a signal (see parseSignal). FailedPrecondition "Container x is not
   * running". As Docker's kill: it counts as a stop by hand; SIGKILL or the
   * stop signal also keeps the policy from restarting the exit it causes;
   * on a restarting container it only cancels the restart.
   */
  kill(ref: string, signal: string): Promise<void>;
  /**
   * Freezes every process of a running container (its cgroup's freezer), as
   * `docker pause`; the record says paused (also across agent restarts)
   * until unpause, and container.paused is published. FailedPrecondition
   * "Container x is not running" (a created or exited one), "is already
   * paused", or "is restarting". exec is refused while it is paused; stop,
   * kill with SIGKILL or the stop signal and rm -f thaw it after the
   * signal (see thawAfterSignal), as Docker's daemon does.
   */
  pause(ref: string): Promise<ContainerRecord>;
  /** Thaws a paused container; publishes container.unpaused. FailedPrecondition "Container x is not paused". */
  unpause(ref: string): Promise<ContainerRecord>;
  /**
   * The container's processes as this host's ps shows them with psArgs
   * (see containerTop), a paused container's too. FailedPrecondition
   * "Container x is not running" (or is restarting).
   */
  top(ref: string, psArgs: readonly string[]): Promise<ContainerTop>;
  /**
   * How the container's files differ from its image (see overlayChanges),
   * a stopped container's too. FailedPrecondition for one being removed or
   * dead, and when its snapshot is no overlay (the native driver keeps the
   * whole tree).
   */
  changes(ref: string): Promise<Change[]>;
  /**
   * The container's file system (its rootfs as mounted, mounted again
   * when a reboot unmounted it) as an uncompressed tar stream, as `docker
   * export` (see diffLayer: devices and sockets left out).
   * FailedPrecondition for one being removed or dead, or with a user
   * namespace.
   */
  exportFiles(ref: string): Promise<Readable>;
  /**
   * What a path of the container is, as its processes see it (see
   * container-paths.ts: links followed inside the container, the final one
   * only with a trailing `/` or `/.`). NotFound "Could not find the file
   * PATH in container ID"; FailedPrecondition for a container being
   * removed or with a user namespace, a path through a file, a link loop.
   */
  statPath(ref: string, path: string): Promise<PathStat>;
  /**
   * The path as a tar named by its base name (`docker cp CONTAINER:PATH`),
   * with its stat; a running container stays frozen until the stream ends
   * or is destroyed. Errors as statPath.
   */
  copyFrom(ref: string, path: string): Promise<{ stat: PathStat; tar: Readable }>;
  /**
   * Extracts the tar source into the directory path of the container
   * (`docker cp SRC CONTAINER:PATH`; see extractIntoContainer): owned by
   * the container's root unless copyUidGid; a running container frozen
   * meanwhile. InvalidArgument "extraction point is not a directory", or
   * for an entry that climbs out or is a device; FailedPrecondition
   * "container rootfs is marked read-only" (or a read-only mount), or a
   * directory and a file in each other's way with noOverwriteDirNonDir;
   * the rest as statPath. Resolves with the entries written.
   */
  copyTo(ref: string, path: string, source: AsyncIterable<Uint8Array>, options: { noOverwriteDirNonDir: boolean; copyUidGid: boolean }): Promise<number>;
  /**
   * Gives the container another name (see checkContainerName), running or
   * not; publishes container.renamed. AlreadyExists (Docker's text) when
   * another container has it or is being created with it, InvalidArgument
   * for its own name.
   */
  rename(ref: string, name: string): Promise<ContainerRecord>;
  /**
   * Removes every container that does not run (created, exited, dead) and
   * passes filters (see parsePruneFilters), as `docker container prune`;
   * one that starts or fails meanwhile is skipped (logged). Resolves with
   * the ids removed and the bytes their snapshots took.
   */
  prune(filters: readonly string[]): Promise<{ deleted: string[]; spaceReclaimed: number }>;
  /**
   * Removes the container and all it has on the node; publishes
   * container.deleted. FailedPrecondition for a running one unless force.
   * With options.volumes (`rm -v`), and for an auto-remove container, its
   * anonymous volumes go too (named ones stay).
   */
  remove(ref: string, force: boolean, options?: { volumes?: boolean }): Promise<string>;
  list(options: { all?: boolean; filters?: readonly string[] }): ContainerRecord[];
  inspect(ref: string): ContainerRecord;
  /** The recorded output (empty before the first start); with follow until the run ends or signal aborts. */
  logs(ref: string, options: { follow?: boolean; tail?: number; since?: Date; signal?: AbortSignal }): AsyncIterable<LogRecord>;
  /**
   * Connects to stdio; on a created or exited container, once it is
   * (re)started, before its process runs (so all output is seen).
   * options.ready is called once the attachment is in place: registered for
   * a container that does not run, connected for a running one. The exit
   * status is the monitor's record of the run attached to.
   * FailedPrecondition for a dead or removing container.
   */
  attach(ref: string, options?: { signal?: AbortSignal; ready?: () => void }): Promise<ContainerAttachment>;
  /** Runs a process in a running container; publishes exec.started and exec.exited. */
  exec(ref: string, request: ExecRequest): Promise<RunningExec>;
  /**
   * Waits for the condition and returns the last run's exit status, as
   * Docker's: not-running returns at once for a container that does not run
   * (a created one too), with the error of a start that failed; a failed
   * start is no exit, so next-exit waits on for a run that ends or the
   * removal; removed returns the exit code without the error.
   */
  wait(ref: string, condition: WaitCondition, signal?: AbortSignal): Promise<ExitStatus>;
  /** One sample per container named (every running one when refs is empty). */
  stats(refs: readonly string[]): Promise<ContainerStatsSample[]>;
  /**
   * Changes limits (zero/undefined fields stay) and, when given, the restart
   * policy, of a stopped container too; InvalidArgument for limits out of
   * range (cpus above this host's count included), for what the cgroup
   * refuses, and for a restart policy other than `no` of an auto-remove
   * container (Docker's "Restart policy cannot be updated because
   * AutoRemove is enabled for the container").
   */
  update(ref: string, resources: ResourceSpec, restartPolicy?: RestartPolicy): Promise<ContainerRecord>;
  /** Makes an image of the container's changes and tags it (see commitContainer); publishes container.committed. */
  commit(ref: string, request: CommitRequest): Promise<CommitResult>;
  /**
   * Loads the records and reconciles them with the runtime: running
   * containers are watched again, exits that happened meanwhile are
   * recorded and published once, removals left half-done are finished, a
   * start that runc refused just before the agent died leaves the container
   * as a failed start does (created when it never ran, with the error).
   * Then, as dockerd's restore, starts the containers that do not run and
   * whose restart policy says so (see restartOnRecover), and polls running containers for OOM kills that left the init alive
   * (oomPollMs), each published once as container.oom and kept in the
   * record (State.OOMKilled; the count seen survives restarts of the agent).
   */
  recover(): Promise<void>;
  summary(): ContainersSummary;
  /** The node's volumes (`<dir>/volumes`), in use while a container's mounts name them. */
  readonly volumes: Volumes;
  /** Stops watching; containers keep running. */
  close(): Promise<void>;
}

const DEFAULT_STOP_TIMEOUT_SECONDS = 10;

function nowIso(): string {
  return new Date().toISOString();
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function checkPorts(ports: readonly PortSpec[], mode: ContainerSpec['networkMode']): void {
  for (const p of ports) {
    const ok = [p.hostPort, p.containerPort].every((n) => Number.isInteger(n) && n >= 0 && n <= 65535) && p.containerPort > 0;
    if (!ok) throw invalidArgument(`invalid port mapping ${p.hostPort}:${p.containerPort}: ports must be 1-65535 (host port 0 picks one)`);
  }
  if (ports.length > 0 && mode !== 'bridge') {
    throw invalidArgument(`published ports need the bridge network; the container asks for network ${mode}`);
  }
}

/**
 * Checks the limits a container asks for with the cgroup rules before
 * anything is made or written: memory at least 6 MiB, cpus from 0.01 to
 * this host's CPU count (a larger CFS quota is no limit at all, and would
 * count as CPUs the node has given away), cpu shares within 2..262144,
 * cpusets of CPUs this node has. Zero fields are unset. InvalidArgument
 * naming the value.
 */
function checkResources(resources: ResourceSpec): void {
  validateLimits(limitsOf(resources));
}

/** The cgroup limits a ResourceSpec sets, as both the cgroup driver and the runtime spec take them (the pids limit apart: it has the node's default). */
function limitsOf(resources: ResourceSpec): Omit<ResourceSpec, 'pidsLimit'> {
  return {
    ...(resources.memoryBytes ? { memoryBytes: resources.memoryBytes } : {}),
    ...(resources.cpus ? { cpus: resources.cpus } : {}),
    ...(resources.cpuShares ? { cpuShares: resources.cpuShares } : {}),
    ...(resources.cpusetCpus ? { cpusetCpus: resources.cpusetCpus } : {}),
    ...(resources.cpusetMems ? { cpusetMems: resources.cpusetMems } : {}),
  };
}

const withHealthCheck = (check: HealthCheck | undefined) => (check === undefined ? {} : { healthCheck: check });

/**
 * Waits for every promise to settle (so nothing started is still running
 * when the caller cleans up), then resolves with their values or rejects
 * with the first rejection in list order.
 */
async function allOrFirstError<T extends readonly unknown[]>(promises: { readonly [K in keyof T]: Promise<T[K]> }): Promise<T> {
  const settled = await Promise.allSettled(promises);
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
  return settled.map((r) => (r as PromiseFulfilledResult<unknown>).value) as unknown as T;
}

/**
 * Checks a restart policy (see checkRestartPolicy) and that an auto-remove
 * container has none but `no`, as Docker's daemon does: InvalidArgument
 * with conflict as the message then.
 */
function checkAutoRemovePolicy(autoRemove: boolean, policy: RestartPolicy | undefined, conflict: string): void {
  if (policy === undefined) return;
  checkRestartPolicy(policy);
  if (autoRemove && policy.name !== 'no') throw invalidArgument(conflict);
}

/** What a Create made so far, for undoing it. */
interface CreateSteps {
  /** Volumes made for the container. */
  volumes?: string[];
  mounted?: boolean;
  prepared?: boolean;
  attached?: boolean;
  prestarted?: boolean;
}

/** Creates the manager; call recover() before serving. Raises nothing itself. */
export function createContainerManager(options: ContainerManagerOptions): ContainerManager {
  const { node, images, unpacker, snapshotter, network, events, runtime: rt } = options;
  const log = options.logger;
  const store = new RecordStore(join(options.dir, 'containers'), log);
  /** The volumes of the Creates under way, in use as much as those of the records. */
  const creatingVolumes = new Map<string, string[]>();
  const volumes = createVolumes({
    dir: join(options.dir, 'volumes'),
    users: (name) => [
      ...[...records.values()].filter((r) => r.spec.mounts.some((m) => m.type === 'volume' && m.source === name)).map((r) => r.id),
      ...[...creatingVolumes].filter(([, names]) => names.includes(name)).map(([id]) => id),
    ],
    events,
    node,
    logger: log.child({ component: 'volumes' }),
  });
  const cgroupParent = options.cgroupParent ?? '/strata';
  const records = new Map<string, ContainerRecord>();
  const lock = new KeyedLock();
  /** Start, stop, kill and remove of a container, one at a time; `lock` guards its record within them. */
  const ops = new KeyedLock();
  const usernsRange = checkIdRange(options.userNamespaceRange ?? DEFAULT_ID_RANGE);
  const oomPollMs = options.oomPollMs ?? 2000;
  let oomTimer: NodeJS.Timeout | undefined;
  let oomPolling: Promise<void> | undefined;
  const signals = new EventEmitter();
  signals.setMaxListeners(0);
  const watching = new Map<string, AbortController>();
  const runEnded = new Map<string, Promise<void>>();
  const pendingAttach = new Map<string, Array<{ connect: () => Promise<void>; fail: (err: Error) => void }>>();
  const restarts = createRestartManager();
  const reserved = new Set<string>();
  let closed = false;
  /** True while recover() reconciles: the exits it finds are restarted by its own pass, at once, as dockerd's restore does. */
  let recovering = false;
  /** The top chain ID the last Create's image had: the spares' snapshots are prepared on it. */
  let lastTop: string | undefined;
  /**
   * Active snapshots made ahead for spares, keyed by the spare's id (the
   * snapshot key of the container that takes it): the parent each was
   * prepared on, and its mounts (undefined when the prepare failed).
   */
  const spareSnapshots = new Map<string, { parent: string; mounts: Promise<Mount[] | undefined> }>();
  const spares = createNetworkSpares({
    network,
    count: options.networkSpares ?? 0,
    newId: () => generateContainerId((candidate) => records.has(candidate)),
    logger: log,
    // A container of the image run last takes its snapshot ready: Create then neither asks the snapshotter nor
    // waits for it (it is made here, while the agent is idle).
    readied: async (id) => {
      const parent = lastTop;
      if (parent === undefined) return;
      const mounts = snapshotter.prepare(id, parent).catch((err: unknown) => {
        log.debug({ err, containerId: id }, 'cannot prepare a spare snapshot');
        return undefined;
      });
      spareSnapshots.set(id, { parent, mounts });
      await mounts;
    },
    discarded: async (id) => {
      spareSnapshots.delete(id);
      try {
        await snapshotter.remove(id);
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    },
  });

  const rootfsOf = (id: string) => join(store.containerDir(id), 'rootfs');
  const layersOf = (id: string) => join(store.containerDir(id), 'layers');
  const logDirOf = (record: ContainerRecord) => dirname(record.logPath);
  const usernsMappings = () => {
    const map = [{ containerID: 0, hostID: usernsRange.hostId, size: usernsRange.size }];
    return { uidMappings: map, gidMappings: map.map((m) => ({ ...m })) };
  };
  const bundleOf = (id: string) => store.containerDir(id);
  /**
   * Users resolved against images' /etc/passwd and /etc/group, by image id
   * (its config digest, which fixes every layer) and user spec, the most
   * recent RESOLVED_USERS_KEPT. A container's root file system is its
   * image's, untouched, when its spec is made, so the answer for the image
   * is the container's: each Create then reads neither file (two files
   * opened, checked and read through the overlay were ~5 ms of Create).
   */
  const resolvedUsers = new Map<string, ResolvedUser>();
  async function resolveImageUser(imageId: string, rootfs: string, user: string): Promise<ResolvedUser> {
    const key = `${imageId}\0${user}`;
    const known = resolvedUsers.get(key);
    if (known !== undefined) {
      resolvedUsers.delete(key);
      resolvedUsers.set(key, known);
      return { ...known, additionalGids: [...known.additionalGids] };
    }
    const resolved = await resolveUser(rootfs, user);
    resolvedUsers.set(key, resolved);
    for (const oldest of resolvedUsers.keys()) {
      if (resolvedUsers.size <= RESOLVED_USERS_KEPT) break;
      resolvedUsers.delete(oldest);
    }
    return resolved;
  }

  const cgroupOf = (id: string): Promise<Cgroup> => openCgroup(`${cgroupParent}/${id}`, { logger: log, parent: cgroupParent });
  const find = (ref: string) => resolveContainer(records.values(), ref);
  const current = (id: string): ContainerRecord => {
    const r = records.get(id);
    if (r === undefined) throw failedPrecondition(`container ${id} was removed`);
    return r;
  };
  const stats = createStatsSampler(cgroupOf);
  const files = createContainerFiles({
    logger: log,
    snapshotter,
    find,
    record: (id) => records.get(id),
    cgroupOf,
    ensureMounted,
    readSpec,
    rootfsOf,
  });

  /** Records a paused or thawed container's status (when it still runs) and publishes container.paused or container.unpaused. */
  async function recordPaused(id: string, paused: boolean): Promise<ContainerRecord> {
    const record = await lock.run(id, async () => {
      const latest = current(id);
      if (!isRunning(latest) || (latest.state.status === 'paused') === paused) return latest;
      return save({ ...latest, state: { ...latest.state, status: paused ? 'paused' : 'running' } });
    });
    if (record.state.status === (paused ? 'paused' : 'running')) {
      events.publish(paused ? 'container.paused' : 'container.unpaused', id, { id, name: record.name, node });
      log.info({ containerId: id }, paused ? 'container paused' : 'container unpaused');
    }
    return record;
  }

  /**
   * Thaws a paused container after a signal that ends it was sent (stop,
   * kill with SIGKILL or the stop signal, rm -f), so that the signal takes
   * effect, as Docker's daemon resumes the task then; publishes
   * container.unpaused. A container that ended meanwhile needs nothing.
   */
  async function thawAfterSignal(id: string): Promise<void> {
    if (records.get(id)?.state.status !== 'paused') return;
    try {
      await (await cgroupOf(id)).thaw();
    } catch (err) {
      if (isNotFound(err)) return;
      throw err;
    }
    await recordPaused(id, false);
  }

  async function save(record: ContainerRecord, options: { syncDirectory?: boolean } = {}): Promise<ContainerRecord> {
    await store.save(record, options);
    records.set(record.id, record);
    return record;
  }

  async function isMounted(path: string): Promise<boolean> {
    return (await mountPoints()).includes(path);
  }

  /** True when anything is mounted in the container's directory (its files must not be removed then). */
  async function hasMounts(id: string): Promise<boolean> {
    const dir = `${store.containerDir(id)}/`;
    return (await mountPoints()).some((m) => m.startsWith(dir));
  }

  async function readSpec(id: string): Promise<RuntimeSpec> {
    return parseOciJson<RuntimeSpec>(await readFile(join(bundleOf(id), 'config.json'), 'utf8'));
  }

  async function writeSpec(id: string, spec: RuntimeSpec): Promise<void> {
    const path = join(bundleOf(id), 'config.json');
    await writeFile(`${path}.tmp`, stringifyOciJson(spec), { mode: 0o600 });
    await rename(`${path}.tmp`, path);
  }

  function exitOf(record: ContainerRecord, withError = true): ExitStatus {
    const { exitCode, oomKilled, finishedAt, error } = record.state;
    return { exitCode, oomKilled, ...(finishedAt ? { finishedAt } : {}), ...(withError && error !== '' ? { error } : {}) };
  }

  /** Counts OOM kills not seen yet: the record with the new count, and whether there were any (publish container.oom once saved). */
  async function checkOom(record: ContainerRecord): Promise<{ record: ContainerRecord; oom: boolean }> {
    let count = record.oomKillsSeen;
    try {
      count = await (await cgroupOf(record.id)).oomKills();
    } catch (err) {
      if (!isNotFound(err)) log.warn({ err, containerId: record.id }, 'cannot read OOM kills');
    }
    if (count <= record.oomKillsSeen) return { record, oom: false };
    return { record: { ...record, oomKillsSeen: count }, oom: true };
  }

  /** Reports OOM kills in running containers whose init survives them (a child was killed): once each, persisted. */
  async function pollOom(): Promise<void> {
    for (const { id } of [...records.values()].filter(isRunning)) {
      if (closed) return;
      await lock
        .run(id, async () => {
          const record = records.get(id);
          if (record === undefined || !isRunning(record)) return;
          const checked = await checkOom(record);
          if (!checked.oom) return;
          await save({ ...checked.record, state: { ...checked.record.state, oomKilled: true } });
          events.publish('container.oom', id, { id, name: record.name, node });
        })
        .catch((err: unknown) => log.warn({ err, containerId: id }, 'cannot check OOM kills'));
    }
  }

  /**
   * Records and publishes an exit; nothing when cancelled fired first (the
   * start that began the run failed). When the restart policy says so (and
   * no stop, kill or removal cancelled it, and the agent is not recovering:
   * recover decides then) the container is restarting and is started again
   * after the delay of nextRestartDelay, as Docker's restart manager does.
   */
  async function handleExit(id: string, exit: { exitCode: number; finishedAt: string }, cancelled?: AbortSignal): Promise<void> {
    let autoRemove = false;
    let restartIn: number | undefined;
    await lock.run(id, async () => {
      if (cancelled?.aborted) return;
      const record = records.get(id);
      if (record === undefined) {
        await rt.acknowledgeExit(id).catch(() => undefined);
        return;
      }
      if (isRunning(record) || record.state.status === 'created') {
        const checked = await checkOom(record);
        const oomKilled = checked.oom || (record.state.oomKilled && record.state.status !== 'created');
        // Told before it is on disk (inspect reads the records in memory): until the runtime's acknowledgement,
        // after the save, a restarted agent takes the exit from the runtime again.
        const run = { exitCode: exit.exitCode, oomKilled, finishedAt: exit.finishedAt };
        restartIn = closed || recovering ? undefined : restarts.onExit(record, exit);
        const restart = restartIn !== undefined;
        const exited = restart ? withRestarting(checked.record, run) : withExited(checked.record, run);
        records.set(id, exited);
        if (checked.oom) events.publish('container.oom', id, { id, name: exited.name, node });
        events.publish('container.exited', id, {
          id,
          name: exited.name,
          exitCode: exit.exitCode,
          oomKilled,
          finishedAt: exit.finishedAt,
          node,
        });
        autoRemove = exited.spec.autoRemove && !restart;
        signals.emit(`recorded:${id}`);
        // An auto-remove container is removed next, which deletes its record and the runtime's exit: neither the
        // record nor the acknowledgement need to reach the disk before (after a crash in between, the runtime
        // reports the exit again and the removal follows), which keeps four flushes off `run --rm`.
        if (!autoRemove) await store.save(exited);
      } else {
        events.publish('container.exited', id, {
          id,
          name: record.name,
          exitCode: record.state.exitCode,
          oomKilled: record.state.oomKilled,
          finishedAt: record.state.finishedAt ?? exit.finishedAt,
          node,
        });
      }
      if (!autoRemove) await rt.acknowledgeExit(id).catch((err: unknown) => log.warn({ err, containerId: id }, 'cannot acknowledge the exit'));
      stats.forget(id);
      signals.emit(`exit:${id}`);
    });
    if (autoRemove && !closed) {
      manager.remove(id, true).catch((err: unknown) => log.warn({ err, containerId: id }, 'cannot auto-remove the container'));
    }
    if (restartIn !== undefined) scheduleRestart(id, restartIn);
  }

  /**
   * What dockerd's restore does with the containers that do not run: those
   * whose policy says so (shouldRestart on their last exit: always ones,
   * stopped or never started too; unless-stopped ones not stopped by hand;
   * on-failure ones that failed with retries left) are started at once, as
   * by hand (the count starts over). One whose restart waited when the
   * agent stopped is exited first, then judged the same way.
   */
  async function restartOnRecover(): Promise<void> {
    const starts: Promise<unknown>[] = [];
    for (const record of [...records.values()]) {
      const status = record.state.status;
      if (closed || (status !== 'created' && status !== 'exited' && status !== 'restarting')) continue;
      const r = status === 'restarting' ? await save({ ...record, state: { ...record.state, status: 'exited' } }) : record;
      const facts = { exitCode: r.state.exitCode, manuallyStopped: r.manuallyStopped === true, restartCount: r.restartCount };
      if (!shouldRestart(r.spec.restartPolicy ?? NO_RESTART, facts)) continue;
      log.info({ containerId: r.id, restartPolicy: r.spec.restartPolicy?.name }, 'starting the container again: its restart policy says so');
      starts.push(manager.start(r.id).catch((err: unknown) => log.warn({ err, containerId: r.id }, 'the restart policy could not start the container')));
    }
    await Promise.all(starts);
  }

  /** Starts a restarting container after delayMs (see restartNow). */
  function scheduleRestart(id: string, delayMs: number): void {
    restarts.schedule(id, delayMs, () => {
      void spares.busy(() => restartNow(id)).catch((err: unknown) => log.warn({ err, containerId: id }, 'cannot restart the container'));
    });
  }

  /**
   * The restart of a restarting container by its policy, under its `ops`
   * lock: nothing when a stop, kill or removal came first (the record is no
   * longer restarting). A start that fails leaves it exited with the
   * start's error, as Docker's daemon does; no further restart follows.
   */
  async function restartNow(id: string): Promise<void> {
    if (closed || records.get(id)?.state.status !== 'restarting') return;
    await startNow(id, id, () => undefined, true).catch((err: unknown) => log.info({ err, containerId: id }, 'the restart policy could not start the container'));
  }

  /**
   * Cancels what the restart policy would do next (Docker's ExitOnNext, with
   * HasBeenManuallyStopped) for a stop or a kill: a waiting restart ends
   * with the container exited. The caller holds the container's `ops` lock.
   */
  async function cancelRestart(id: string): Promise<void> {
    restarts.cancel(id);
    await lock.run(id, async () => {
      const record = records.get(id);
      if (record === undefined) return;
      const wasRestarting = record.state.status === 'restarting';
      if (record.manuallyStopped === true && !wasRestarting) return;
      await save({ ...record, manuallyStopped: true, ...(wasRestarting ? { state: { ...record.state, status: 'exited' as const } } : {}) });
      if (wasRestarting) signals.emit(`exit:${id}`);
    });
  }

  /** Watches a running container until it exits; `runEnded` resolves once the exit is recorded. */
  function watch(id: string): void {
    if (watching.has(id) || closed) return;
    const ac = new AbortController();
    watching.set(id, ac);
    const ended = (async () => {
      try {
        const exit = await rt.wait(id, { signal: ac.signal });
        if (watching.get(id) === ac) watching.delete(id);
        await handleExit(id, exit, ac.signal);
      } catch (err) {
        if (watching.get(id) === ac) watching.delete(id);
        if (!ac.signal.aborted) log.warn({ err, containerId: id }, 'lost track of the container');
      }
    })();
    runEnded.set(id, ended);
    void ended.then(() => {
      if (runEnded.get(id) === ended) runEnded.delete(id);
    });
  }

  /**
   * Resolves once the record of id holds the exit that finished at
   * finishedAt (published; its save and the runtime's acknowledgement may
   * still be under way), or once the watch of its run ended without it (the
   * container was removed, or the watch gave up): what the record says then
   * is all there is.
   */
  function exitRecorded(id: string, finishedAt: string): Promise<void> {
    const recorded = () => {
      const r = records.get(id);
      return r === undefined || (r.state.status !== 'running' && r.state.finishedAt === finishedAt);
    };
    const ended = runEnded.get(id);
    if (recorded() || ended === undefined) return Promise.resolve();
    return new Promise((resolve) => {
      const check = () => {
        if (recorded()) finish();
      };
      const finish = () => {
        signals.off(`recorded:${id}`, check);
        resolve();
      };
      signals.on(`recorded:${id}`, check);
      void ended.then(finish, finish);
    });
  }

  /** Resolves when signal `exit:<id>` or `removed:<id>` fires, or rejects on abort. */
  function next(kind: 'exit' | 'removed' | 'started', id: string, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      const name = `${kind}:${id}`;
      // A removal that fails rejects a wait for the removal with its error.
      const failure = kind === 'removed' ? `removal-failed:${id}` : undefined;
      const settle = (fn: () => void) => {
        signals.off(name, done);
        if (failure !== undefined) signals.off(failure, failed);
        signal?.removeEventListener('abort', onAbort);
        fn();
      };
      const onAbort = () => settle(() => reject(signal?.reason ?? new Error('aborted')));
      const done = () => settle(resolve);
      const failed = (err: unknown) => settle(() => reject(err));
      if (signal?.aborted) return onAbort();
      signals.once(name, done);
      if (failure !== undefined) signals.once(failure, failed);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** The runtime's settings of a run of a container with spec whose log is in logDir. */
  function runOptionsOf(spec: Pick<ContainerSpec, 'tty' | 'openStdin'>, logDir: string): CreateOptions {
    return {
      tty: spec.tty,
      stdin: spec.openStdin,
      logDir,
      ...(options.logMaxBytes === undefined ? {} : { logMaxBytes: options.logMaxBytes }),
      ...(options.logMaxFiles === undefined ? {} : { logMaxFiles: options.logMaxFiles }),
    };
  }

  /**
   * Removes cg in every hierarchy once the processes it held are gone (or
   * were meant to be): the removal is tried first, and only a cgroup that
   * something still holds (a process moved in from outside, a runc that
   * failed) gets its processes killed and is removed again. With nothing
   * left, which is the rule, that is one rmdir per hierarchy instead of
   * reading every hierarchy's cgroup.procs first.
   */
  async function removeLeftCgroup(cg: Cgroup): Promise<void> {
    try {
      await cg.remove({ timeoutMs: 0 });
    } catch (err) {
      if (!isFailedPrecondition(err)) throw err;
      await cg.killAll();
      await cg.remove();
    }
  }

  /** Removes the monitors' cgroup of id (see monitor-cgroups.ts) in every hierarchy, killing what is left in it. */
  /**
   * Removes the monitors' cgroup parent and the cgroup parent itself (the
   * next agent makes them again), as the agent stops with no container on
   * this node: without, `strata down` left them empty in every hierarchy.
   * A cgroup that a process still holds stays (nothing is killed).
   */
  async function removeEmptyCgroupParent(): Promise<void> {
    // Monitors that rt.close() ended may still be leaving the monitors' cgroup; the parent is not waited for (a
    // service manager may keep the agent itself in a cgroup below it).
    for (const [path, timeoutMs] of [[`${cgroupParent}/monitors`, 1000], [cgroupParent, 0]] as const) {
      try {
        await (await openCgroup(path, { logger: log, parent: dirname(cgroupParent) })).remove({ timeoutMs });
      } catch (err) {
        log.debug({ err, cgroup: path }, 'the cgroup parent stays');
        return;
      }
    }
  }

  async function removeMonitorCgroup(id: string): Promise<void> {
    await removeLeftCgroup(await openMonitorCgroup(cgroupParent, id, log));
  }

  async function undoCreate(id: string, steps: CreateSteps): Promise<void> {
    const rootfs = rootfsOf(id);
    if (steps.prestarted) {
      // The monitor started ahead was placed in its own cgroup: it goes with the monitor.
      await rt.delete(id, { force: true }).catch(() => undefined);
      await removeMonitorCgroup(id).catch((err: unknown) => log.warn({ err, containerId: id }, "cannot remove the monitors' cgroup"));
    }
    if (steps.attached) await network.detach(id).catch((err: unknown) => log.warn({ err, containerId: id }, 'cannot detach the network'));
    if (steps.mounted) await unmountRootfs(id).catch((err: unknown) => log.warn({ err, containerId: id, rootfs }, 'cannot unmount'));
    if (steps.prepared) {
      await snapshotter.remove(id).catch((err: unknown) => {
        if (!isNotFound(err)) log.warn({ err, containerId: id }, 'cannot remove the snapshot');
      });
    }
    if (!(await hasMounts(id))) await store.remove(id);
    for (const name of steps.volumes ?? []) await volumes.remove(name, true).catch((err: unknown) => log.warn({ err, volume: name }, 'cannot remove the volume'));
  }

  function resourcesOf(resources: ResourceSpec) {
    const pids = resources.pidsLimit ?? options.defaultPidsLimit;
    return { ...limitsOf(resources), ...(pids === undefined ? {} : { pidsLimit: pids }) };
  }

  /**
   * Mounts the snapshot on the rootfs. For a user namespace each lower
   * layer of the overlay is first idmapped under `<dir>/layers/N` (no copy,
   * no chown of any image layer, shared layers stay shared) and the upper's
   * root is given to the mapped owner of the image's root. The upper itself
   * is not idmapped: overlayfs works in it as the agent (host root), which
   * an idmapped mount cannot represent (EOVERFLOW, then a read-only
   * overlay); so what the container writes is stored with host ids
   * (100000+), as Docker's userns-remap stores it.
   */
  async function mountRootfs(id: string, mounts: Mount[], userns: boolean): Promise<void> {
    const rootfs = rootfsOf(id);
    if (!userns) return mountAll(mounts, rootfs);
    const overlay = overlayLayers(mounts);
    if (overlay === undefined) {
      throw failedPrecondition(`user namespaces need an overlay snapshot with layers; the snapshotter gave ${mounts.map((m) => m.type).join(', ') || 'none'}`);
    }
    const { upper, work, lowers } = overlay;
    const layers = layersOf(id);
    const pairs = lowers.map((source, i) => ({ source, target: join(layers, String(i)) }));
    await mkdir(layers, { recursive: true, mode: 0o700 });
    for (const p of pairs) await mkdir(p.target, { recursive: true, mode: 0o700 });
    try {
      await mountIdmapped(pairs, usernsRange);
      const top = await stat(pairs[0]!.target);
      await chown(upper, top.uid, top.gid);
      const mapped = [...overlay.otherOptions, `workdir=${work}`, `upperdir=${upper}`, `lowerdir=${lowers.map((_, i) => `layers/${i}`).join(':')}`];
      await mountAll([{ type: 'overlay', source: 'overlay', options: mapped, cwd: store.containerDir(id) }], rootfs);
    } catch (err) {
      await unmountLayers(id).catch(() => undefined);
      throw err;
    }
  }

  /** Unmounts the idmapped layers of a user-namespaced container (nothing for others). */
  async function unmountLayers(id: string): Promise<void> {
    const below = `${layersOf(id)}/`;
    for (const m of (await mountPoints()).filter((p) => p.startsWith(below)).reverse()) await unmountAll(m, { detach: true });
  }

  async function unmountRootfs(id: string): Promise<void> {
    await unmountAll(rootfsOf(id), { detach: true });
    await unmountLayers(id);
  }

  /**
   * runc mounts the rootfs and the /etc files as the container's root, the
   * first host id of the range: the agent's directories down to the
   * container's become searchable by others (0711: nothing can be listed,
   * the files in them stay 0600), and every directory above the agent's
   * must be already. FailedPrecondition naming the one that is not.
   */
  async function makeReachable(id: string): Promise<void> {
    for (let dir = dirname(options.dir); ; dir = dirname(dir)) {
      const mode = (await stat(dir)).mode;
      if ((mode & 0o001) === 0) {
        throw failedPrecondition(
          `user namespaces need the directories above the node-agent's state searchable by the container's root (host uid ${usernsRange.hostId}): ` +
            `${dir} is mode ${(mode & 0o777).toString(8).padStart(4, '0')}; chmod o+x ${dir}`,
        );
      }
      if (dir === dirname(dir)) break;
    }
    for (const dir of [options.dir, store.dir, store.containerDir(id)]) await chmod(dir, 0o711);
  }

  async function ensureMounted(record: ContainerRecord): Promise<void> {
    const rootfs = rootfsOf(record.id);
    if (await isMounted(rootfs)) return;
    log.info({ containerId: record.id }, 'rootfs not mounted (host rebooted?): mounting it again');
    await mkdir(rootfs, { recursive: true, mode: 0o755 });
    await unmountLayers(record.id);
    await mountRootfs(record.id, await snapshotter.mounts(record.snapshotKey), record.spec.userNamespace);
  }

  /**
   * Removes what a container has on the node, once its processes are gone
   * (removeNow kills them first): runc's state with the cgroups, the
   * network and the rootfs (unmount, then the snapshot) are independent and
   * go at the same time; the files go last, once all of them succeeded (the
   * first failure is raised, the record stays `removing` and a retry or
   * recover finishes the job).
   */
  async function teardown(record: ContainerRecord): Promise<void> {
    const id = record.id;
    await allOrFirstError([
      (async () => {
        await rt.delete(id, { force: true }).catch((err: unknown) => {
          if (!isNotFound(err)) log.warn({ err, containerId: id }, 'runtime delete failed');
        });
        // runc's delete removes the container's cgroup, so this finds it gone unless that delete failed; the
        // monitors' cgroup can go once the delete has seen the monitor end.
        await Promise.all([
          cgroupOf(id)
            .then(removeLeftCgroup)
            .catch((err: unknown) => log.warn({ err, containerId: id }, 'cannot remove the cgroup')),
          removeMonitorCgroup(id).catch((err: unknown) => log.warn({ err, containerId: id }, "cannot remove the monitors' cgroup")),
        ]);
      })(),
      network.detach(id),
      (async () => {
        await unmountRootfs(id);
        try {
          await snapshotter.remove(record.snapshotKey);
        } catch (err) {
          if (!isNotFound(err)) throw err;
        }
      })(),
    ]);
    if (await hasMounts(id)) throw failedPrecondition(`the rootfs of ${id} is still mounted; not removing its files`);
    await store.remove(id);
  }

  /** Stops a container (see ContainerManager.stop); the caller holds its `ops` lock. */
  async function stopNow(record: ContainerRecord, timeoutSeconds: number | undefined): Promise<ContainerRecord> {
    const id = record.id;
    if (!isRunning(record)) return record;
    const timeout = timeoutSeconds ?? record.spec.stopTimeoutSeconds ?? DEFAULT_STOP_TIMEOUT_SECONDS;
    const ended = runEnded.get(id) ?? next('exit', id);
    const signal = (record.spec.stopSignal ?? 'SIGTERM') as NodeJS.Signals;
    await rt.kill(id, /^[0-9]+$/.test(signal) ? parseSignal(signal) : signal).catch((err: unknown) => {
      if (!isFailedPrecondition(err) && !isNotFound(err)) throw err;
    });
    await thawAfterSignal(id);
    const timer = sleep(Math.max(0, timeout) * 1000, 'timeout' as const);
    if ((await Promise.race([ended.then(() => 'ended' as const), timer])) === 'timeout') {
      await rt.kill(id, 'SIGKILL', { all: true }).catch(() => undefined);
      const killed = await Promise.race([ended.then(() => true), sleep(10_000, false)]);
      if (!killed) {
        await (await cgroupOf(id)).killAll().catch(() => undefined);
        await ended;
      }
    }
    return current(id);
  }

  /** Removes a container (see ContainerManager.remove); the caller holds its `ops` lock. */
  async function removeNow(record: ContainerRecord, force: boolean, removeVolumes = false): Promise<string> {
    const id = record.id;
    checkRemovable(record, force);
    // Docker's rm -f kills with the restart manager cancelled: neither a waiting restart nor the exit of the kill restarts it.
    restarts.cancel(id);
    if (isRunning(record)) {
      const ended = runEnded.get(id) ?? next('exit', id);
      await rt.kill(id, 'SIGKILL', { all: true }).catch(() => undefined);
      await thawAfterSignal(id).catch((err: unknown) => log.warn({ err, containerId: id }, 'cannot thaw the paused container being removed'));
      if (!(await Promise.race([ended.then(() => true), sleep(10_000, false)]))) {
        await (await cgroupOf(id)).killAll().catch(() => undefined);
        await ended;
      }
    }
    await lock.run(id, async () => {
      const latest = records.get(id);
      if (latest === undefined) return;
      checkRemovable(latest, force);
      // Its rename need not be flushed: the removal is idempotent, so a record that reads as it was before (after a
      // power loss) is removed again as well.
      const removing = await save({ ...latest, state: { ...latest.state, status: 'removing' } }, { syncDirectory: false });
      watching.get(id)?.abort();
      try {
        await teardown(removing);
      } catch (err) {
        // As Docker's daemon: a removal that failed ends the waits for the removal, with its error.
        signals.emit(`removal-failed:${id}`, err);
        throw err;
      }
      records.delete(id);
      restarts.reset(id);
      for (const pending of pendingAttach.get(id)?.splice(0) ?? []) pending.fail(failedPrecondition(`container ${id} was removed`));
      pendingAttach.delete(id);
      events.publish('container.deleted', id, { id, name: removing.name, node });
      log.info({ containerId: id }, 'container removed');
      if (removeVolumes || removing.spec.autoRemove) await removeAnonymousVolumes(removing);
      signals.emit(`removed:${id}`);
      signals.emit(`exit:${id}`);
    });
    return id;
  }

  /** Removes the anonymous volumes of a removed container (Docker's `rm -v`, `--rm`); failures are logged. */
  async function removeAnonymousVolumes(record: ContainerRecord): Promise<void> {
    for (const m of record.spec.mounts) {
      if (m.type !== 'volume') continue;
      try {
        const { volume } = await volumes.inspect(m.source);
        if (ANONYMOUS_VOLUME_LABEL in volume.labels) await volumes.remove(m.source);
      } catch (err) {
        if (!isNotFound(err)) log.warn({ err, containerId: record.id, volume: m.source }, 'cannot remove the anonymous volume');
      }
    }
  }

  /**
   * Prepares the active snapshot key on the image's top chain ID. The image
   * is unpacked only when that parent is missing on this host (prepare
   * answers NotFound), so a container of an unpacked image costs one call.
   */
  const prepareOnImage = async (key: string, image: ImageInfo): Promise<Mount[]> => {
    const top = chainIds(image.diffIds).at(-1);
    try {
      return await snapshotter.prepare(key, top);
    } catch (err) {
      if (top === undefined || !isNotFound(err)) throw err;
    }
    for await (const _ of unpacker.unpack(image.manifest)) {
      /* every layer is unpacked once the iteration ends */
    }
    return snapshotter.prepare(key, top);
  };

  /** The top chain ID an image reference (and platform) last resolved to on this node; the newest 256. */
  const lastTops = new Map<string, string>();

  /**
   * The image ref names, and the active snapshot key prepared on its top
   * chain ID (see prepareOnImage). While ref is resolved, the snapshot is
   * already prepared on the top it had last time; when that moved, the
   * snapshot is removed and made again on the right one.
   */
  async function imageAndSnapshot(key: string, ref: string, platform: string | undefined): Promise<{ image: ImageInfo; mounts: Mount[] }> {
    const memo = `${ref} ${platform ?? ''}`;
    // A spare's snapshot (key is the spare's id) is the guess when there is one.
    const spare = spareSnapshots.get(key);
    spareSnapshots.delete(key);
    const guess = spare?.parent ?? lastTops.get(memo);
    const early = spare?.mounts ?? (guess === undefined ? undefined : snapshotter.prepare(key, guess).catch(() => undefined));
    let image: ImageInfo;
    try {
      image = await images.inspect(ref, platform);
    } catch (err) {
      if ((await early) !== undefined) await snapshotter.remove(key).catch(() => undefined);
      throw err;
    }
    const top = chainIds(image.diffIds).at(-1);
    lastTops.delete(memo);
    if (top !== undefined) lastTops.set(memo, top);
    lastTop = top ?? lastTop;
    if (lastTops.size > 256) lastTops.delete(lastTops.keys().next().value!);
    const mounts = await early;
    if (mounts !== undefined && guess === top) return { image, mounts };
    if (mounts !== undefined) await snapshotter.remove(key);
    return { image, mounts: await prepareOnImage(key, image) };
  }

  async function create(input: ContainerSpec & { name?: string }): Promise<ContainerRecord> {
    const { name: _asked, ...specFields } = input;
    const name = input.name === undefined || input.name === '' ? undefined : checkContainerName(input.name);
    checkPorts(input.ports, input.networkMode);
    checkResources(input.resources);
    if (input.userNamespace && input.networkMode === 'bridge') {
      // The bridge's network namespace is made by the agent, so owned by the host's user namespace: runc (1.1) joins
      // the container's user namespace first on exec and may then not join that network namespace (EPERM).
      throw failedPrecondition('user namespaces work with --network none or host on this node: the bridge network namespace is not owned by the container\'s user namespace, so exec could not enter it');
    }
    if (input.stopSignal !== undefined && input.stopSignal !== '') parseSignal(input.stopSignal);
    checkMounts(input.mounts);
    checkRunOptions(input);
    containerCapabilities(input.capAdd, input.capDrop);
    const security = parseSecurityOptions(input.securityOpt);
    if (input.health !== undefined) checkHealthSettings(input.health);
    if (typeof security.seccomp === 'object') parseSeccompProfile(security.seccomp.json);
    checkAutoRemovePolicy(input.autoRemove, input.restartPolicy, "can't create 'AutoRemove' container with restart policy");
    if (name !== undefined) {
      const holder = [...records.values()].find((r) => r.name === name);
      if (holder !== undefined || reserved.has(name)) throw nameConflict(name, holder?.id ?? 'being created');
    }
    const finalName = name ?? generateContainerName((n) => reserved.has(n) || [...records.values()].some((r) => r.name === n));
    if (reserved.has(finalName) || [...records.values()].some((r) => r.name === finalName)) throw nameConflict(finalName, 'being created');
    reserved.add(finalName);
    // A bridge container without a user namespace takes the id of a spare attachment when one is ready.
    const spare = input.networkMode === 'bridge' && !input.userNamespace ? spares.take() : undefined;
    const id = spare ?? generateContainerId((candidate) => records.has(candidate));
    // A spare taken is detached on failure even before the attach claimed it, and its snapshot removed.
    const steps: CreateSteps = { attached: spare !== undefined, prepared: spare !== undefined && spareSnapshots.has(spare) };
    const clog = log.child({ containerId: id });
    try {
      creatingVolumes.set(id, input.mounts.filter((m) => m.type === 'volume').map((m) => m.source));
      const prepared = await prepareMounts(input.mounts, volumes);
      steps.volumes = prepared.madeVolumes;
      creatingVolumes.set(id, prepared.mounts.filter((m) => m.type === 'volume').map((m) => m.source));
      let mounts = prepared.mounts;
      const dir = store.containerDir(id);
      const rootfs = rootfsOf(id);
      const etcDir = join(dir, 'etc');
      await mkdir(dir, { recursive: true, mode: 0o700 });
      await mkdir(rootfs, { mode: 0o755 });
      await mkdir(etcDir, { mode: 0o755 });
      // The monitor of the first start, started ahead while the image, the network and the bundle are made (a
      // run starts at once); whatever fails here fails that start again, which reports it.
      steps.prestarted = true;
      rt.prestart(id, dir, runOptionsOf(input, dir)).catch((err: unknown) => clog.debug({ err }, 'cannot start the monitor ahead'));
      if (input.userNamespace) await makeReachable(id);
      const hostname = input.hostname || id.slice(0, 12);
      // The image (resolved, unpacked if need be, its snapshot prepared and mounted) and the network do not depend
      // on each other: made at the same time, both settled before anything else (so that a failure of one, such as
      // an image that is not there, undoes the other too).
      const [image, attachment] = await allOrFirstError([
        (async (): Promise<ImageInfo> => {
          const { image: found, mounts } = await imageAndSnapshot(id, input.image, input.platform);
          steps.prepared = true;
          await mountRootfs(id, mounts, input.userNamespace);
          steps.mounted = true;
          return found;
        })(),
        (async (): Promise<NetworkAttachment> => {
          const attached = await network.attach({
            id,
            mode: input.networkMode,
            hostname,
            ports: input.ports.map((p) => ({ hostIp: p.hostIp || '0.0.0.0', hostPort: p.hostPort, containerPort: p.containerPort, protocol: p.protocol })),
            etcDir,
            ...(input.extraHosts === undefined ? {} : { extraHosts: input.extraHosts }),
            ...(input.dns === undefined ? {} : { dns: input.dns }),
          });
          steps.attached = true;
          return attached;
        })(),
      ] as const);
      // The image's VOLUMEs become anonymous volumes; empty volumes get the image's files, as with Docker.
      const fromImage = await imageVolumeMounts(image.config.Volumes, mounts, volumes);
      steps.volumes = [...(steps.volumes ?? []), ...fromImage.madeVolumes];
      mounts = [...mounts, ...fromImage.mounts];
      creatingVolumes.set(id, mounts.filter((m) => m.type === 'volume').map((m) => m.source));
      await populateVolumes(rootfs, mounts, dir);
      const files = attachment.etcFiles;
      const spec = await buildRuntimeSpec({
        containerId: id,
        rootfs,
        image: image.config,
        ...(input.cmd.length > 0 ? { args: input.cmd } : {}),
        ...(input.entrypoint === undefined ? {} : { entrypoint: input.entrypoint }),
        env: input.env,
        ...(input.workingDir ? { workingDir: input.workingDir } : {}),
        ...(input.user ? { user: input.user } : {}),
        resolveUser: (root, user) => resolveImageUser(image.id, root, user),
        tty: input.tty,
        hostname,
        // With a user namespace, runc makes the network namespace (owned by it, so exec can enter it).
        network: input.networkMode === 'host' ? 'host' : attachment.netnsPath !== undefined && !input.userNamespace ? { path: attachment.netnsPath } : 'none',
        resources: resourcesOf(input.resources),
        cgroupsPath: `${cgroupParent}/${id}`,
        ...(input.userNamespace ? { userNamespace: usernsMappings() } : {}),
        ...(files === undefined ? {} : { files: { hosts: files.hosts, hostname: files.hostname, resolvConf: files.resolvConf } }),
        mounts: runtimeMounts(mounts),
        ...(options.nofileLimit === undefined ? {} : { nofileLimit: options.nofileLimit }),
        ...(input.ulimits === undefined ? {} : { ulimits: input.ulimits }),
        ...(input.readOnly ? { readOnlyRoot: true } : {}),
        ...(input.shmSizeBytes ? { shmSizeBytes: input.shmSizeBytes } : {}),
        ...(input.capAdd === undefined && input.capDrop === undefined ? {} : { capabilities: { add: input.capAdd ?? [], drop: input.capDrop ?? [] } }),
        ...(security.seccomp === undefined ? {} : { seccomp: security.seccomp }),
        ...(image.architecture === undefined ? {} : { imageArchitecture: image.architecture }),
      });
      const stopSignal = input.stopSignal ? parseSignal(input.stopSignal) : parseStopSignal(image.config.StopSignal);
      const record: ContainerRecord = {
        id,
        name: finalName,
        image: input.image,
        imageId: image.id,
        manifestDigest: image.manifest.digest,
        created: nowIso(),
        spec: { ...specFields, stopSignal, mounts },
        state: createdState(),
        network: {
          mode: input.networkMode,
          ...(attachment.ip === undefined ? {} : { ipAddress: attachment.ip, gateway: attachment.gateway, prefixLength: attachment.prefixLength }),
          ports: attachment.ports.map((p) => ({ hostIp: p.hostIp, hostPort: p.hostPort, containerPort: p.containerPort, protocol: p.protocol })),
        },
        command: [...spec.process.args],
        node,
        logPath: join(dir, 'log.json'),
        snapshotKey: id,
        restartCount: 0,
        oomKillsSeen: 0,
        ...withHealthCheck(effectiveHealthCheck(imageHealthSettings(image.config.Healthcheck), input.health)),
      };
      // The bundle's spec and the record are written at the same time (a start reads both only after Create); the
      // claim of a spare attachment was written while the spec was made, and the container is recorded after it.
      await allOrFirstError([writeSpec(id, spec), Promise.resolve(attachment.recorded).then(() => save(record))] as const);
      events.publish('container.created', id, { id, name: finalName, image: input.image, imageId: image.id, node });
      clog.info({ name: finalName, image: input.image }, 'container created');
      return record;
    } catch (err) {
      await undoCreate(id, steps);
      throw err;
    } finally {
      reserved.delete(finalName);
      creatingVolumes.delete(id);
    }
  }

  async function start(ref: string): Promise<ContainerRecord> {
    const { id } = find(ref);
    let runFailed = false;
    try {
      return await startNow(id, ref, () => (runFailed = true));
    } catch (err) {
      // As Docker's daemon does: an auto-remove container whose process could not be started is removed, before
      // the caller hears of it (`run -d --rm` of a command that is not there leaves nothing).
      if (runFailed && records.get(id)?.spec.autoRemove === true && !closed) {
        await manager.remove(id, true).catch((removeErr: unknown) => log.warn({ err: removeErr, containerId: id }, 'cannot auto-remove the container'));
      }
      throw err;
    }
  }

  /**
   * Starts container id (see ContainerManager.start) under its `ops` lock;
   * calls runFailed when runc refused the run. byPolicy: the restart of a
   * restarting container (nothing when it no longer is); a start by hand
   * leaves a restarting one alone (Docker answers 304) and starts the
   * policy over (count, delays, manual stop).
   */
  async function startNow(id: string, ref: string, runFailed: () => void, byPolicy = false): Promise<ContainerRecord> {
    return ops.run(id, async () => {
      find(ref);
      return lock.run(id, async () => {
        let record = current(id);
        if (isRunning(record) || (record.state.status === 'restarting') !== byPolicy) return record;
        if (!byPolicy) restarts.reset(id);
        checkStartable(record);
        await ensureMounted(record);
        if (record.state.startedAt !== undefined) await rt.delete(id, { force: true }).catch(() => undefined);
        let pid: number;
        let watched: AbortController | undefined;
        try {
          // One `runc run` under the monitor; before it, while the monitor waits, the run's end is watched (an
          // attachment's end waits for it) and the pending attachments connect (so they see all output).
          const started = await rt.run(id, bundleOf(id), {
            ...runOptionsOf(record.spec, logDirOf(record)),
            beforeStart: async () => {
              watch(id);
              watched = watching.get(id);
              for (const attach of pendingAttach.get(id)?.splice(0) ?? []) await attach.connect().catch(() => undefined);
            },
          });
          pid = started.pid;
        } catch (err) {
          const message = errorMessage(err);
          // The monitor's end of a run that never started is no exit, also when the watch has it already.
          watched?.abort();
          await rt.delete(id, { force: true }).catch(() => undefined);
          // Docker's record of a failed start: exit code and error, status as it was. Nothing ran, so there is no
          // exit to publish (Docker's daemon emits no `die` then) nor to end a next-exit wait with.
          await save(withStartFailure(record, message, startFailureCode(message)));
          runFailed();
          signals.emit(`start-failed:${id}`);
          // A restart that failed ends the restarting: a wait for it ends, as Docker's SetStopped wakes it.
          if (byPolicy) signals.emit(`exit:${id}`);
          throw isStrataError(err) ? err : failedPrecondition(`cannot start container ${id}: ${message}`, { cause: err });
        }
        // Recovery finds a running container through runc again, so a start need not wait for its rename to be flushed.
        record = await save(withStarted(record, pid, nowIso(), byPolicy), { syncDirectory: false });
        events.publish('container.started', id, { id, name: record.name, pid, node });
        signals.emit(`started:${id}`);
        healthChecks.watch(id);
        return record;
      });
    });
  }

  const healthChecks = createHealthMonitor({
    current: (id) => records.get(id),
    exec: (id, args) => manager.exec(id, { args }),
    update: (id, startedAt, next) =>
      lock.run(id, async () => {
        const r = records.get(id);
        const before = r?.state.health;
        if (r === undefined || before === undefined || r.state.startedAt !== startedAt || !isRunning(r)) return undefined;
        const after = next(before);
        await save({ ...r, state: { ...r.state, health: after } }, { syncDirectory: false });
        return { before, after };
      }),
    publish: (r, status) => {
      events.publish('container.health_status', r.id, { id: r.id, name: r.name, status, node });
      log.info({ containerId: r.id, status }, 'container health changed');
    },
    logger: log,
  });

  const manager: ContainerManager = {
    volumes,

    create: (input) => spares.busy(() => create(input)),

    start: (ref) => spares.busy(() => start(ref)),

    async stop(ref, timeoutSeconds) {
      const { id } = find(ref);
      return ops.run(id, async () => {
        const record = find(ref);
        if (isRunning(record) || record.state.status === 'restarting') await cancelRestart(id);
        return stopNow(current(id), timeoutSeconds);
      });
    },

    async kill(ref, signalText) {
      const signal = parseSignal(signalText);
      const { id } = find(ref);
      await ops.run(id, async () => {
        const record = find(ref);
        // As Docker's kill: on a restarting container it only cancels the restart; SIGKILL or the stop signal cancels
        // the restart of the exit it causes; any kill counts as a stop by hand (unless-stopped stays stopped).
        if (record.state.status === 'restarting') return cancelRestart(id);
        if (!isRunning(record)) throw failedPrecondition(`Container ${record.id} is not running`, { fields: { containerId: record.id } });
        if (signal === 'SIGKILL' || signal === (record.spec.stopSignal ?? 'SIGTERM')) await cancelRestart(id);
        else await lock.run(id, async () => void (await save({ ...current(id), manuallyStopped: true })));
        try {
          await rt.kill(record.id, signal);
        } catch (err) {
          if (isFailedPrecondition(err) || isNotFound(err)) {
            throw failedPrecondition(`Container ${record.id} is not running`, { cause: err, fields: { containerId: record.id } });
          }
          throw err;
        }
        // Another signal stays pending in a paused container until it is unpaused, as with Docker.
        if (signal === 'SIGKILL' || signal === (record.spec.stopSignal ?? 'SIGTERM')) await thawAfterSignal(id);
      });
    },

    async pause(ref) {
      const { id } = find(ref);
      return ops.run(id, async () => {
        const record = current(id);
        const fields = { containerId: id };
        if (record.state.status === 'paused') throw failedPrecondition(`Container ${id} is already paused`, { fields });
        if (record.state.status === 'restarting') throw failedPrecondition(`Container ${id} is restarting, wait until the container is running`, { fields });
        if (!isRunning(record)) throw failedPrecondition(`Container ${id} is not running`, { fields });
        try {
          await (await cgroupOf(id)).freeze();
        } catch (err) {
          if (isNotFound(err)) throw failedPrecondition(`Container ${id} is not running`, { cause: err, fields });
          throw err;
        }
        const paused = await recordPaused(id, true);
        if (paused.state.status !== 'paused') {
          // It ended while it was being frozen: what is left of its cgroup is thawed again.
          await (await cgroupOf(id)).thaw().catch(() => undefined);
          throw failedPrecondition(`Container ${id} is not running`, { fields });
        }
        return paused;
      });
    },

    async prune(filters) {
      const selected = parsePruneFilters(filters, new Date());
      const deleted: string[] = [];
      let spaceReclaimed = 0;
      const stopped = [...records.values()].filter((r) => ['created', 'exited', 'dead'].includes(r.state.status) && matchesPruneFilters(r, selected));
      for (const record of stopped) {
        const usage = await snapshotter.usage(record.snapshotKey).catch(() => undefined);
        try {
          await manager.remove(record.id, false);
        } catch (err) {
          if (!isNotFound(err)) log.warn({ err, containerId: record.id }, 'prune left a container that cannot be removed');
          continue;
        }
        deleted.push(record.id);
        spaceReclaimed += usage?.size ?? 0;
      }
      if (deleted.length > 0) log.info({ containers: deleted.length, spaceReclaimed }, 'containers pruned');
      return { deleted, spaceReclaimed };
    },

    async rename(ref, newName) {
      const name = checkContainerName(newName);
      const { id } = find(ref);
      return ops.run(id, async () => {
        const record = current(id);
        if (record.name === name) throw invalidArgument('Renaming a container with the same name as its current name', { fields: { containerId: id } });
        const holder = [...records.values()].find((r) => r.name === name);
        if (holder !== undefined || reserved.has(name)) throw nameConflict(name, holder?.id ?? 'being created');
        // Held until the record says it, so that a Create cannot take the name meanwhile.
        reserved.add(name);
        try {
          const renamed = await lock.run(id, () => save({ ...current(id), name }));
          events.publish('container.renamed', id, { id, name, oldName: record.name, node });
          log.info({ containerId: id, name, oldName: record.name }, 'container renamed');
          return renamed;
        } finally {
          reserved.delete(name);
        }
      });
    },

    exportFiles: files.exportFiles,
    statPath: files.statPath,
    copyFrom: files.copyFrom,
    copyTo: files.copyTo,
    changes: files.changes,

    async top(ref, psArgs) {
      const record = find(ref);
      const fields = { containerId: record.id };
      if (record.state.status === 'restarting') throw failedPrecondition(`Container ${record.id} is restarting, wait until the container is running`, { fields });
      if (!isRunning(record)) throw failedPrecondition(`Container ${record.id} is not running`, { fields });
      let pids: number[];
      try {
        pids = await (await cgroupOf(record.id)).pids();
      } catch (err) {
        if (isNotFound(err)) throw failedPrecondition(`Container ${record.id} is not running`, { cause: err, fields });
        throw err;
      }
      return containerTop(pids, psArgs);
    },

    async unpause(ref) {
      const { id } = find(ref);
      return ops.run(id, async () => {
        const record = current(id);
        if (record.state.status !== 'paused') throw failedPrecondition(`Container ${id} is not paused`, { fields: { containerId: id } });
        try {
          await (await cgroupOf(id)).thaw();
        } catch (err) {
          if (!isNotFound(err)) throw err;
        }
        return recordPaused(id, false);
      });
    },

    // A removal is on a client's path as much as a Create (`run --rm` ends with it): no spare is begun meanwhile.
    async remove(ref, force, opts = {}) {
      const { id } = find(ref);
      return spares.busy(() => ops.run(id, () => removeNow(find(ref), force, opts.volumes === true)));
    },

    list(opts) {
      return listContainers(records.values(), opts);
    },

    inspect(ref) {
      return find(ref);
    },

    logs(ref, opts) {
      const record = find(ref);
      const id = record.id;
      return {
        async *[Symbol.asyncIterator]() {
          if (record.state.startedAt === undefined && !isRunning(current(id))) return;
          const since = opts.since?.getTime();
          try {
            for await (const rec of rt.logs(id, {
              logDir: logDirOf(record),
              ...(opts.follow === undefined ? {} : { follow: opts.follow }),
              ...(opts.tail === undefined || opts.tail < 0 ? {} : { tail: opts.tail }),
              ...(opts.signal === undefined ? {} : { signal: opts.signal }),
            })) {
              if (since !== undefined && Date.parse(rec.time) < since) continue;
              yield rec;
            }
          } catch (err) {
            if (isNotFound(err)) return;
            throw err;
          }
        },
      };
    },

    async attach(ref, opts = {}) {
      const record = find(ref);
      const id = record.id;
      const connect = async (): Promise<ContainerAttachment> => {
        const a = await rt.attach(id);
        const ended = a.closed.then(async (exit): Promise<ExitStatus | undefined> => {
          if (exit === undefined) return undefined;
          // The monitor's exit frame is this run's; the record adds the OOM flag once the exit is recorded.
          await exitRecorded(id, exit.finishedAt);
          const after = records.get(id);
          const oomKilled = after !== undefined && after.state.finishedAt === exit.finishedAt && after.state.oomKilled;
          return { exitCode: exit.exitCode, oomKilled, finishedAt: exit.finishedAt };
        });
        return { stdin: a.stdin, stdout: a.stdout, stderr: a.stderr, tty: record.spec.tty, resize: (c, r) => a.resize(c, r), ended, detach: () => a.detach() };
      };
      if (!isRunning(record)) {
        checkStartable(record);
        return new Promise<ContainerAttachment>((resolve, reject) => {
          const list = pendingAttach.get(id) ?? [];
          pendingAttach.set(id, list);
          const entry = {
            connect: async () => {
              opts.signal?.removeEventListener('abort', onAbort);
              try {
                resolve(await connect());
              } catch (err) {
                reject(err);
              }
            },
            fail: (err: Error) => {
              opts.signal?.removeEventListener('abort', onAbort);
              reject(err);
            },
          };
          const onAbort = () => {
            const i = list.indexOf(entry);
            if (i >= 0) list.splice(i, 1);
            reject(opts.signal?.reason ?? new Error('aborted'));
          };
          list.push(entry);
          opts.signal?.addEventListener('abort', onAbort, { once: true });
          opts.ready?.();
        });
      }
      const attached = await connect();
      opts.ready?.();
      return attached;
    },

    async exec(ref, request) {
      const record = find(ref);
      const id = record.id;
      if (!isRunning(record)) throw failedPrecondition(`Container ${id} is not running`, { fields: { containerId: id } });
      if (record.state.status === 'paused') throw failedPrecondition(`Container ${id} is paused, unpause the container before exec`, { fields: { containerId: id } });
      const spec = await readSpec(id);
      const processSpec = await buildExecProcess(spec, rootfsOf(id), {
        args: request.args,
        ...(request.env === undefined ? {} : { env: request.env }),
        ...(request.workingDir ? { workingDir: request.workingDir } : {}),
        ...(request.user ? { user: request.user } : {}),
        tty: request.tty === true,
      });
      let proc: ExecProcess;
      try {
        proc = await rt.exec(id, processSpec as unknown as Parameters<Runtime['exec']>[1], { tty: request.tty === true, stdin: request.stdin === true });
      } catch (err) {
        if (isNotFound(err)) throw failedPrecondition(`Container ${id} is not running`, { cause: err });
        throw err;
      }
      if (request.tty && request.size) proc.resize(request.size.cols, request.size.rows);
      events.publish('exec.started', id, { id, execId: proc.execId, args: request.args, node });
      const exited = proc.exited.then((exit) => {
        events.publish('exec.exited', id, { id, execId: proc.execId, exitCode: exit.exitCode, node });
        return { exitCode: exit.exitCode, oomKilled: false, finishedAt: exit.finishedAt };
      });
      return { execId: proc.execId, pid: proc.pid, stdin: proc.stdin, stdout: proc.stdout, stderr: proc.stderr, resize: (c, r) => proc.resize(c, r), exited };
    },

    async wait(ref, condition, signal) {
      const record = find(ref);
      const id = record.id;
      // A restarting container is running for Docker's wait: it ends at its next exit, or when a stop ends the restarting.
      if (condition === 'not-running' && !isRunning(record) && record.state.status !== 'restarting') return exitOf(record);
      // The record as last seen, answered once the container is removed: Docker's removal clears the error, so the
      // exit code of the last run or failed start is all there is then.
      let last = record;
      const track = () => {
        last = records.get(id) ?? last;
      };
      signals.on(`exit:${id}`, track);
      signals.on(`start-failed:${id}`, track);
      try {
        if (condition === 'removed') {
          const removed = next('removed', id, signal);
          if (!records.has(id)) {
            removed.catch(() => undefined);
            return exitOf(last, false);
          }
          await removed;
          return exitOf(last, false);
        }
        for (;;) {
          await next('exit', id, signal);
          const after = records.get(id);
          if (after === undefined) return exitOf(last, false);
          if (condition === 'not-running' || after.state.status === 'exited' || after.state.status === 'restarting') return exitOf(after);
        }
      } finally {
        signals.off(`exit:${id}`, track);
        signals.off(`start-failed:${id}`, track);
      }
    },

    async stats(refs) {
      return stats.sample(refs.length === 0 ? [...records.values()].filter(isRunning) : refs.map((r) => find(r)));
    },

    async update(ref, resources, restartPolicy) {
      const { id } = find(ref);
      checkResources(resources);
      return lock.run(id, async () => {
        const record = current(id);
        checkAutoRemovePolicy(record.spec.autoRemove, restartPolicy, 'Restart policy cannot be updated because AutoRemove is enabled for the container');
        const policySpec = restartPolicy === undefined ? {} : { restartPolicy };
        const update: LimitsUpdate = limitsOf(resources);
        if (resources.pidsLimit) update.pids = resources.pidsLimit === -1 ? 'max' : resources.pidsLimit;
        if (Object.keys(update).length === 0) return save({ ...record, spec: { ...record.spec, ...policySpec } });
        // The fields given replace the container's; the others stay.
        const merged: ResourceSpec = { ...record.spec.resources, ...resources };
        const specLimits = specResources(resourcesOf(merged));
        if (isRunning(record)) {
          try {
            await (await cgroupOf(id)).setLimits(update);
          } catch (err) {
            if (isFailedPrecondition(err)) throw invalidArgument(`cannot update the limits of ${id}: ${errorMessage(err)}`, { cause: err });
            throw err;
          }
        }
        const spec = await readSpec(id);
        spec.linux.resources = { ...spec.linux.resources, ...specLimits };
        await writeSpec(id, spec);
        return save({ ...record, spec: { ...record.spec, resources: merged, ...policySpec } });
      });
    },

    async commit(ref, request) {
      const record = find(ref);
      if (options.commit === undefined) throw unimplemented('this node-agent cannot commit containers: it has no layer-store configured');
      // The mount points runc made in the container's layer stay out of the image (Docker keeps them in an init layer).
      const mountPoints = await files.mountPointsOf(record.id);
      return commitContainer(
        {
          backend: options.commit,
          record,
          running: isRunning(record),
          mountPoints,
          freeze: () => files.freezeAWhile(record.id),
          events,
          logger: log,
          node,
        },
        request,
      );
    },

    async recover() {
      // Containers are frozen while paused and while a commit diffs them:
      // one frozen now that its record does not say paused was left so by
      // an agent that died mid-commit (or mid-pause, which did not answer).
      const thawInterruptedCommit = async (id: string) => {
        try {
          const cg = await cgroupOf(id);
          const frozen = await cg.isFrozen();
          // A paused container stays paused; one recorded paused whose cgroup runs (thawed by hand) runs.
          if (records.get(id)?.state.status === 'paused') {
            if (!frozen) await recordPaused(id, false);
            return;
          }
          if (!frozen) return;
          await cg.thaw();
          log.warn({ containerId: id }, 'thawed a container that an interrupted commit left frozen');
        } catch (err) {
          if (!isNotFound(err)) log.warn({ err, containerId: id }, 'cannot check whether the container is frozen');
        }
      };
      for (const r of await store.loadAll()) records.set(r.id, r);
      recovering = true;
      const found = await rt.recover();
      for (const failed of found.failed) {
        // runc failed and the agent died before it recorded that: the start failed, as it would have recorded it.
        const record = records.get(failed.id);
        if (record !== undefined && !isRunning(record)) await save(withStartFailure(record, failed.error, startFailureCode(failed.error)));
      }
      for (const running of found.running) {
        const record = records.get(running.id);
        if (record === undefined) {
          log.warn({ containerId: running.id }, 'the runtime has a container without a record; leaving it alone');
          continue;
        }
        if (!isRunning(record)) await save({ ...record, state: { ...record.state, status: 'running', pid: running.pid } });
        await thawInterruptedCommit(running.id);
        watch(running.id);
        healthChecks.watch(running.id);
      }
      for (const exited of found.exited) {
        if (!records.has(exited.id)) {
          await rt.acknowledgeExit(exited.id).catch(() => undefined);
          continue;
        }
        await handleExit(exited.id, exited.exit);
      }
      const seen = new Set([...found.running.map((r) => r.id), ...found.exited.map((e) => e.id)]);
      for (const record of [...records.values()]) {
        if (record.state.status === 'removing') {
          await manager.remove(record.id, true).catch((err: unknown) => log.warn({ err, containerId: record.id }, 'cannot finish a removal'));
        } else if (isRunning(record) && !seen.has(record.id)) {
          await save(withExited(record, { exitCode: 255, oomKilled: false, finishedAt: nowIso() }));
        }
      }
      recovering = false;
      log.info({ containers: records.size, running: found.running.length, exited: found.exited.length }, 'containers recovered');
      if (oomTimer === undefined && !closed) {
        oomTimer = setInterval(() => {
          oomPolling ??= pollOom().finally(() => (oomPolling = undefined));
        }, oomPollMs);
        oomTimer.unref();
      }
      if (!closed) await spares.open().catch((err: unknown) => log.warn({ err }, 'cannot remove the spare network attachments of an earlier run'));
      await restartOnRecover();
    },

    summary() {
      const running = [...records.values()].filter(isRunning);
      return {
        containers: records.size,
        running: running.length,
        cpusLimited: running.reduce((n, r) => n + (r.spec.resources.cpus ?? 0), 0),
        memoryLimited: running.reduce((n, r) => n + (r.spec.resources.memoryBytes ?? 0), 0),
      };
    },

    async close() {
      closed = true;
      healthChecks.close();
      // A restart waiting now is made by the next agent's recover (the record says restarting).
      restarts.close();
      clearInterval(oomTimer);
      await spares.close();
      await oomPolling;
      for (const ac of watching.values()) ac.abort();
      watching.clear();
      await Promise.all([...runEnded.values()]);
      // Monitors started ahead for creates that were not started end now, not 10 s later.
      await rt.close();
      if (records.size === 0) await removeEmptyCgroupParent();
    },
  };
  return manager;
}
