import { randomBytes } from 'node:crypto';
import { watch } from 'node:fs';
import { access, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import {
  DISCARDED_DIR,
  alreadyExists,
  deleteInBackground,
  discardDir,
  failedPrecondition,
  internal,
  invalidArgument,
  isNotFound,
  notFound,
  startProgram,
  stringifyOciJson,
  type Logger,
} from '@strata/kit';
import { attachTo, connectUnix, resizeFrame, type Attachment } from './attachment.js';
import { LOG_FILE, readLogFiles, type LogRecord } from './log-reader.js';
import { createRunc, runcErrorMessage, type Runc } from './runc.js';
import {
  ATTACH_SOCKET,
  EXIT_FILE,
  REPORTED_FILE,
  RUNC_LOG,
  isSameProcess,
  readExitRecord,
  readMonitorRecord,
  writeFileDurably,
  writeLostExit,
  type ExitRecord,
  type MonitorRecord,
} from './state-files.js';

/** Where the setup script builds the monitor (libs/container-runtime/native/build). */
export const DEFAULT_MONITOR_PATH = fileURLToPath(new URL('../native/build/strata-monitor', import.meta.url));

/** Settings of {@link createRuntime}. */
export interface RuntimeOptions {
  /** Directory holding one state directory per container (created if missing, mode 0700). */
  stateRoot: string;
  /** The runc binary; `runc` on PATH by default. */
  runcPath?: string;
  /** runc's own state root (`runc --root`); runc's default when absent. */
  runcRoot?: string;
  /** The strata-monitor binary; {@link DEFAULT_MONITOR_PATH} by default. */
  monitorPath?: string;
  /**
   * Called with each monitor's pid (the container's, and each exec's) as soon
   * as it runs, while it starts runc: the agent moves it into a cgroup of its
   * own so that a service manager killing the agent's cgroup leaves it
   * alive. create, run and exec return once it resolved; a rejection fails
   * them (the monitor and what it started are removed).
   */
  placeMonitor?: (id: string, monitorPid: number) => Promise<void>;
  logger: Logger;
}

/** Settings of {@link Runtime.create}. */
export interface CreateOptions {
  /** Give the process a TTY; the bundle's process.terminal must say the same. */
  tty?: boolean;
  /** Keep the process's stdin open for attach clients (otherwise it reads /dev/null). */
  stdin?: boolean;
  /** Size at which the log file rotates; 10 MiB by default. */
  logMaxBytes?: number;
  /** Log files kept, the current one included; 3 by default (1: truncate in place). */
  logMaxFiles?: number;
  /**
   * Absolute directory of log.json[.N] (created 0700 when missing); the
   * state directory by default. A directory outside it keeps the log when
   * the container is deleted and created again: the monitor appends to it.
   */
  logDir?: string;
}

/** Settings of {@link Runtime.run}. */
export interface RunOptions extends CreateOptions {
  /**
   * Runs once the monitor listens on its attach socket and before runc
   * does: attachments made now (attach()) are connected before the process
   * exists, so they see all of its output. A rejection fails the run.
   */
  beforeStart?: () => Promise<void>;
}

/** A container created by {@link Runtime.create}: runc's "created" state, waiting for start. */
export interface CreatedContainer {
  id: string;
  /** Host pid of the container's init process. */
  pid: number;
  monitorPid: number;
}

/** The OCI runtime spec's process object, as `runc exec --process` takes it. */
export interface ProcessSpec {
  args: string[];
  /** Environment as KEY=value; Docker's default PATH alone when absent. */
  env?: string[];
  /** Absolute working directory inside the container. */
  cwd: string;
  terminal?: boolean;
  user?: { uid: number; gid: number; additionalGids?: number[]; umask?: number };
  capabilities?: Record<string, string[]>;
  noNewPrivileges?: boolean;
  [field: string]: unknown;
}

/** Settings of {@link Runtime.exec}. */
export interface ExecOptions {
  /** Id of the exec within its container; random when absent. Letters, digits, `_.-`. */
  execId?: string;
  tty?: boolean;
  stdin?: boolean;
}

/**
 * A process started by {@link Runtime.exec}, attached from its first byte of
 * output. Consume stdout and stderr (or the process stalls once their
 * buffers fill); `exited` resolves once it has ended and its output is
 * drained, after which its state is removed.
 */
export interface ExecProcess {
  execId: string;
  pid: number;
  stdin: Attachment['stdin'];
  stdout: Readable;
  stderr: Readable;
  resize(cols: number, rows: number): void;
  exited: Promise<ExitRecord>;
}

/** runc's state of a container (`runc state`). */
export interface RuncState {
  ociVersion: string;
  id: string;
  pid: number;
  status: 'creating' | 'created' | 'running' | 'paused' | 'stopped';
  bundle: string;
  rootfs: string;
  created: string;
  owner?: string;
  annotations?: Record<string, string>;
}

/** Settings of {@link Runtime.logs}. */
export interface LogsOptions {
  /** Where the log is when create was given a logDir; read even when the container was deleted since. */
  logDir?: string;
  follow?: boolean;
  tail?: number;
  signal?: AbortSignal;
}

/** A container found by {@link Runtime.recover} whose monitor or process is still alive. */
export interface RunningContainer {
  id: string;
  /** Host pid of the init process (0 when the monitor is still creating it). */
  pid: number;
  monitorPid: number;
  /** False when the monitor died but the process runs on: its output is no longer logged. */
  monitorAlive: boolean;
}

/** A container that ended and whose exit was not acknowledged yet. */
export interface ExitedContainer {
  id: string;
  exit: ExitRecord;
}

/** A container whose process never started: runc failed, and the agent died before it heard of it. */
export interface FailedStart {
  id: string;
  /** What run raised for it: "cannot run container <id>: <runc's error>". */
  error: string;
}

/** What {@link Runtime.recover} found in the state root. */
export interface RecoverResult {
  running: RunningContainer[];
  /** Exits not acknowledged with {@link Runtime.acknowledgeExit}: report each, then acknowledge it. */
  exited: ExitedContainer[];
  /** Runs that never started (their state is removed): no exit, the start failed. */
  failed: FailedStart[];
}

/**
 * Runs containers with runc, each under its own strata-monitor that outlives
 * this process (and the agent): the monitor holds the stdio or TTY, writes
 * the rotated JSON-lines log and the exit record. All methods raise
 * InvalidArgument for a malformed id, NotFound for an unknown container.
 */
export interface Runtime {
  /**
   * Starts a monitor that runs `runc create` for the bundle and returns once
   * the container exists (runc status "created"). Raises AlreadyExists when
   * the id is in use, InvalidArgument when the bundle is not usable or its
   * process.terminal disagrees with tty, FailedPrecondition with runc's
   * message when runc refuses the bundle.
   */
  create(id: string, bundle: string, options?: CreateOptions): Promise<CreatedContainer>;
  /**
   * create and start in one `runc run --detach` under the monitor (one runc
   * process instead of two), returning once the process runs; beforeStart
   * runs before runc does. Raises what create raises, FailedPrecondition
   * with runc's message also when the process cannot start.
   */
  run(id: string, bundle: string, options?: RunOptions): Promise<CreatedContainer>;
  /**
   * Starts the monitor of a later run ahead: it listens on its attach
   * socket, is placed, and waits for run of the same id and options, which
   * then checks the bundle (it need not be written yet) and lets the monitor
   * start runc. One not run within a few seconds is ended and run starts
   * another; delete ends it too. Raises InvalidArgument for bad options,
   * AlreadyExists for an id in use, what starting the monitor raises.
   */
  prestart(id: string, bundle: string, options?: CreateOptions): Promise<void>;
  /** `runc start`. Raises FailedPrecondition unless the container is created. */
  start(id: string): Promise<void>;
  /** `runc kill` (all processes with all). Raises FailedPrecondition when it does not run. */
  kill(id: string, signal?: NodeJS.Signals, options?: { all?: boolean }): Promise<void>;
  /** `runc state`. */
  state(id: string): Promise<RuncState>;
  /**
   * Deletes the container from runc (force: killing it first), waits for its
   * monitor to finish and removes its state directory. Raises
   * FailedPrecondition for a running container without force.
   */
  delete(id: string, options?: { force?: boolean }): Promise<void>;
  /**
   * Runs a process in the running container (`runc exec` under its own
   * monitor, attached before it starts). Raises InvalidArgument for a
   * relative or /proc working directory, FailedPrecondition when the
   * container does not run.
   */
  exec(id: string, process: ProcessSpec, options?: ExecOptions): Promise<ExecProcess>;
  /**
   * Resolves with the exit record once the container has ended (at once when
   * it has already). When its monitor died first and the process is gone too,
   * the record says lost. Rejects with Canceled-like AbortError on signal.
   */
  wait(id: string, options?: { signal?: AbortSignal }): Promise<ExitRecord>;
  /**
   * The container's log records across rotated files; with follow, until it
   * ends. With options.logDir (the create's), read there even after the
   * container was deleted: nothing when no log was written yet.
   */
  logs(id: string, options?: LogsOptions): AsyncIterable<LogRecord>;
  /** Attaches to the container's stdio. Raises FailedPrecondition when it is no longer running. */
  attach(id: string): Promise<Attachment>;
  /** Sets the TTY's size. Raises FailedPrecondition without a TTY or when the container ended. */
  resize(id: string, cols: number, rows: number): Promise<void>;
  /**
   * Finds the containers of the state root again after a restart: the ones
   * whose monitor (or process) lives, checked by pid and start time, and the
   * ones that ended with an exit not acknowledged yet. A container whose
   * monitor and process are both gone without an exit record gets a lost one.
   */
  recover(): Promise<RecoverResult>;
  /** Records durably that the container's exit was reported; recover() no longer returns it. */
  acknowledgeExit(id: string): Promise<void>;
  /**
   * Ends the monitors started ahead (prestart) that no run took: they exit
   * at once, where a held monitor waits up to 10 s for an agent that has
   * stopped, and the next runtime's recover() forgets them. Containers that
   * run are left alone.
   */
  close(): Promise<void>;
}

const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
const SIGNAL = /^SIG[A-Z0-9+-]+$/;

function checkId(id: string, what = 'container id'): void {
  if (!ID.test(id)) {
    throw invalidArgument(`invalid ${what} ${JSON.stringify(id)}: use 1-128 letters, digits, '_', '.' or '-'`);
  }
}

function checkPositive(value: number | undefined, what: string): void {
  if (value !== undefined && (!Number.isSafeInteger(value) || value <= 0)) {
    throw invalidArgument(`${what} must be a positive integer, got ${value}`);
  }
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

/**
 * Watches dir for changes from the moment it is made, so that a check made
 * after it cannot miss a change that lands between the check and the wait:
 * `next(ms)` resolves on the first change since the previous `next` (or
 * since the watch began), or after ms. A directory that cannot be watched
 * (gone, or out of inotify watches) degrades to the timeout alone.
 */
class DirChanges {
  private changed = false;
  private wake: (() => void) | undefined;
  private readonly watcher: ReturnType<typeof watch> | undefined;

  constructor(dir: string) {
    const onChange = () => {
      this.changed = true;
      this.wake?.();
    };
    try {
      this.watcher = watch(dir, { persistent: false }, onChange);
      this.watcher.on('error', onChange);
    } catch {
      /* the directory went away: the caller looks again after the timeout */
    }
  }

  async next(ms: number, signal?: AbortSignal): Promise<void> {
    if (this.changed) {
      this.changed = false;
      return;
    }
    const ac = new AbortController();
    const onAbort = () => ac.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        sleep(ms, undefined, { signal: ac.signal }).then(resolve, resolve);
      });
    } finally {
      this.wake = undefined;
      this.changed = false;
      ac.abort();
      signal?.removeEventListener('abort', onAbort);
    }
  }

  close(): void {
    this.watcher?.close();
  }
}

/** Reads the monitor's JSON-lines progress from its sync descriptor. */
class SyncReader {
  private lines: string[] = [];
  private ended = false;
  private wake: (() => void) | undefined;

  constructor(private readonly stream: Readable) {
    let partial = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      partial += chunk;
      const parts = partial.split('\n');
      partial = parts.pop() ?? '';
      this.lines.push(...parts.filter((l) => l.length > 0));
      this.wake?.();
    });
    const end = () => {
      this.ended = true;
      this.wake?.();
    };
    stream.on('end', end);
    stream.on('close', end);
    stream.on('error', end);
  }

  /** The next message, or undefined when the monitor closed the descriptor or timeoutMs passed. */
  async next(timeoutMs: number): Promise<Record<string, unknown> | undefined> {
    const deadline = Date.now() + timeoutMs;
    while (this.lines.length === 0 && !this.ended && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        setTimeout(resolve, Math.max(0, deadline - Date.now())).unref();
      });
      this.wake = undefined;
    }
    const line = this.lines.shift();
    if (line === undefined) return undefined;
    try {
      return JSON.parse(line) as Record<string, unknown>;
    } catch {
      return { error: `unreadable monitor message ${line}` };
    }
  }

  /** True once the monitor closed the descriptor (or close was called) and every message was read. */
  closed(): boolean {
    return this.ended && this.lines.length === 0;
  }

  close(): void {
    this.stream.destroy();
  }
}

/** A monitor as spawnMonitor started it. */
interface SpawnedMonitor {
  sync: SyncReader;
  monitorPid: number;
  /** Settles with its placement (at once when the runtime places no monitor). */
  placed: Promise<void>;
  /** A held monitor's place descriptor: a byte lets it start runc, its end makes it exit. */
  go?: Writable;
  /** performance.now() when a held monitor began to wait. */
  since?: number;
}

/**
 * How long a monitor started ahead is used: a held monitor exits after 10 s
 * without its byte, so one close to that is ended and another started.
 */
const PRESTART_USABLE_MS = 8000;

/** Creates a {@link Runtime}. Raises nothing until used. */
export function createRuntime(options: RuntimeOptions): Runtime {
  const stateRoot = options.stateRoot;
  const runcPath = options.runcPath ?? 'runc';
  const monitorPath = options.monitorPath ?? DEFAULT_MONITOR_PATH;
  const runc: Runc = createRunc({ path: runcPath, root: options.runcRoot });
  const log = options.logger.child({ component: 'container-runtime' });
  const stateDir = (id: string) => join(stateRoot, id);

  async function requireDir(id: string): Promise<string> {
    checkId(id);
    const dir = stateDir(id);
    if (!(await exists(dir))) throw notFound(`container ${id} does not exist`, { fields: { containerId: id } });
    return dir;
  }

  async function runcFailure(dir: string, fallback: string): Promise<string> {
    try {
      const text = await readFile(join(dir, RUNC_LOG), 'utf8');
      const errors = text
        .split('\n')
        .filter((l) => l.includes('"error"'))
        .map((l) => runcErrorMessage(l));
      return errors[errors.length - 1] ?? fallback;
    } catch {
      return fallback;
    }
  }

  /**
   * Starts a monitor in dir and waits for its first message (it listens on
   * its attach socket). A held monitor waits for release before it forks
   * runc, and is placed meanwhile: placed settles with the placement, which
   * the caller awaits once runc answered (a runc failure, after which the
   * monitor exits, is the error to report, not the failed move of a monitor
   * that is gone).
   */
  async function spawnMonitor(id: string, dir: string, args: string[], held: boolean): Promise<SpawnedMonitor> {
    let pipes: (Readable | Writable)[];
    try {
      // Started off the event loop (startProgram): a monitor is started for every container and exec.
      pipes = await startProgram(monitorPath, [...args, '--state-dir', dir, '--sync-fd', '3', ...(held ? ['--place-fd', '4'] : [])], {
        pipes: held ? ['read', 'read', 'write'] : ['read', 'read'],
        detached: true,
      });
    } catch (err) {
      throw failedPrecondition(
        `cannot start the container monitor ${monitorPath}: ${(err as Error).message}; build it with tools/scripts/setup.sh`,
        { cause: err },
      );
    }
    const [stderrPipe, syncPipe, goPipe] = pipes as [Readable, Readable, Writable | undefined];
    let stderr = '';
    stderrPipe.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const sync = new SyncReader(syncPipe);
    const first = await sync.next(10_000);
    if (typeof first?.monitorPid !== 'number') {
      sync.close();
      const reason = typeof first?.error === 'string' ? first.error : stderr.trim() || 'no answer';
      throw internal(`the container monitor did not start: ${reason}`);
    }
    if (!held || goPipe === undefined) return { sync, monitorPid: first.monitorPid, placed: Promise.resolve() };
    const go = goPipe;
    go.on('error', () => undefined);
    // A monitor that ended while held (its wait timed out) leaves nothing to tell it.
    syncPipe.once('close', () => go.destroy());
    // The monitor is placed while it waits and then starts runc: a cgroup v1 move writes every hierarchy, each
    // write waiting for an RCU grace period (5-45 ms in all), which then overlaps the wait and runc's start
    // instead of preceding them (a move still holds forks back while it runs). runc moves the container's
    // processes into the container's cgroup itself.
    const placed = options.placeMonitor?.(id, first.monitorPid) ?? Promise.resolve();
    placed.catch(() => undefined);
    return { sync, monitorPid: first.monitorPid, placed, go, since: performance.now() };
  }

  /** Lets a held monitor fork runc once beforeRunc ran; a failure of beforeRunc ends the monitor instead. */
  async function release(monitor: SpawnedMonitor, beforeRunc?: () => Promise<void>): Promise<void> {
    if (monitor.go === undefined) return;
    try {
      await beforeRunc?.();
    } catch (err) {
      abandon(monitor);
      await monitor.placed.catch(() => undefined);
      throw err;
    }
    monitor.go.end('g');
  }

  /** Ends a held monitor that will not be released: it exits on the end of its place descriptor. */
  function abandon(monitor: SpawnedMonitor): void {
    monitor.go?.destroy();
    monitor.sync.close();
  }

  /** Starts a monitor in dir (see spawnMonitor), held while beforeRunc runs and the agent places it. */
  async function startMonitor(id: string, dir: string, args: string[], beforeRunc?: () => Promise<void>): Promise<SpawnedMonitor> {
    const monitor = await spawnMonitor(id, dir, args, options.placeMonitor !== undefined || beforeRunc !== undefined);
    await release(monitor, beforeRunc);
    return monitor;
  }

  /** Monitors of runs started ahead (Runtime.prestart), with the arguments they were started with. */
  const prestarted = new Map<string, Promise<{ monitor: SpawnedMonitor; args: string[] }>>();

  /** Takes id's monitor started ahead out of the map: the monitor, or undefined when there is none (or it failed to start). */
  async function claimPrestarted(id: string): Promise<{ monitor: SpawnedMonitor; args: string[] } | undefined> {
    const pending = prestarted.get(id);
    if (pending === undefined) return undefined;
    prestarted.delete(id);
    return pending.catch(() => undefined);
  }

  /**
   * The monitor started ahead for id when it still waits and was started
   * with args; undefined otherwise, after ending one that cannot serve
   * (another run's arguments, gone, or too close to its own timeout) and
   * removing its state directory.
   */
  async function takePrestarted(id: string, args: readonly string[]): Promise<SpawnedMonitor | undefined> {
    const ahead = await claimPrestarted(id);
    if (ahead === undefined) return undefined;
    const { monitor } = ahead;
    const fresh = performance.now() - (monitor.since ?? 0) < PRESTART_USABLE_MS;
    if (fresh && !monitor.sync.closed() && ahead.args.join('\0') === args.join('\0')) return monitor;
    await endPrestarted(id, monitor);
    return undefined;
  }

  /**
   * Ends a monitor started ahead and removes its state directory, once its
   * placement settled: a caller that removes the monitor's cgroup next does
   * not race a placement still creating it.
   */
  async function endPrestarted(id: string, monitor: SpawnedMonitor): Promise<void> {
    abandon(monitor);
    await monitor.placed.catch(() => undefined);
    await removeStateDir(stateDir(id));
  }

  /** The monitor's arguments for a create or run of id; raises InvalidArgument for what can be told without the bundle. */
  function argsFor(id: string, bundle: string, opts: CreateOptions, run: boolean): string[] {
    checkId(id);
    checkPositive(opts.logMaxBytes, 'logMaxBytes');
    checkPositive(opts.logMaxFiles, 'logMaxFiles');
    if (!isAbsolute(bundle)) throw invalidArgument(`bundle path ${bundle} must be absolute`);
    if (opts.logDir !== undefined && !isAbsolute(opts.logDir)) throw invalidArgument(`log directory ${opts.logDir} must be absolute`);
    const args = ['--id', id, '--bundle', bundle, '--runc', runcPath];
    if (options.runcRoot) args.push('--runc-root', options.runcRoot);
    if (run) args.push('--run');
    if (opts.tty) args.push('--tty');
    if (opts.stdin) args.push('--stdin');
    args.push('--log-max-bytes', String(opts.logMaxBytes ?? 10 * 1024 * 1024));
    args.push('--log-max-files', String(opts.logMaxFiles ?? 3));
    if (opts.logDir !== undefined) args.push('--log-dir', opts.logDir);
    return args;
  }

  /** Checks the bundle against opts and makes the log directory (see Runtime.create). */
  async function checkBundle(bundle: string, opts: CreateOptions): Promise<void> {
    let spec: { process?: { terminal?: boolean } };
    try {
      spec = JSON.parse(await readFile(join(bundle, 'config.json'), 'utf8')) as typeof spec;
    } catch (cause) {
      throw invalidArgument(`bundle ${bundle} has no readable config.json`, { cause });
    }
    const tty = opts.tty ?? false;
    if ((spec.process?.terminal ?? false) !== tty) {
      throw invalidArgument(
        `bundle ${bundle}: process.terminal is ${spec.process?.terminal ?? false} but tty is ${tty}; make them agree`,
      );
    }
    if (opts.logDir !== undefined) await mkdir(opts.logDir, { recursive: true, mode: 0o700 });
  }

  /** Makes id's state directory. Raises AlreadyExists when runc or a state directory holds id. */
  async function makeStateDir(id: string): Promise<string> {
    if (await exists(join(options.runcRoot ?? '/run/runc', id))) throw alreadyExists(`container ${id} already exists`, { fields: { containerId: id } });
    await mkdir(stateRoot, { recursive: true, mode: 0o700 });
    const dir = stateDir(id);
    try {
      await mkdir(dir, { mode: 0o700 });
    } catch (cause) {
      if ((cause as NodeJS.ErrnoException).code === 'EEXIST') {
        throw alreadyExists(`container ${id} already exists`, { cause, fields: { containerId: id } });
      }
      throw cause;
    }
    return dir;
  }

  /**
   * Waits for a monitor's placement. A monitor that exited meanwhile (its
   * process ended at once and nothing was attached) needs no cgroup: the
   * NotFound of its move is no failure.
   */
  async function placedUnlessGone(placed: Promise<void>): Promise<void> {
    try {
      await placed;
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  const deleteFailed = (err: unknown, dir: string): void => log.warn({ err, dir }, "cannot delete a removed container's state");

  /** The record of the monitor of a state directory; undefined when it has none (yet) or it cannot be read. */
  const monitorRecordOf = (dir: string): Promise<MonitorRecord | undefined> => readMonitorRecord(dir).catch(() => undefined);

  /**
   * Kills the monitor of a state directory (its record) and waits (up to
   * 2 s) until it is gone: one that was still ending (writing into the
   * directory) when the caller gave up on it would otherwise fill the
   * directory while it is removed.
   */
  async function killMonitor(monitor: MonitorRecord | undefined): Promise<void> {
    if (!monitor || !(await isSameProcess(monitor.monitorPid, monitor.monitorStartTime))) return;
    try {
      process.kill(monitor.monitorPid, 'SIGKILL');
    } catch {
      return;
    }
    const deadline = Date.now() + 2000;
    while ((await isSameProcess(monitor.monitorPid, monitor.monitorStartTime)) && Date.now() < deadline) await sleep(5);
  }

  /** Removes a state directory (its monitor killed first); what a process still ending adds meanwhile is retried. */
  async function removeStateDir(dir: string): Promise<void> {
    await killMonitor(await monitorRecordOf(dir));
    await rm(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 20 });
  }

  async function monitorAlive(monitor: MonitorRecord | undefined): Promise<boolean> {
    return monitor !== undefined && (await isSameProcess(monitor.monitorPid, monitor.monitorStartTime));
  }

  /** The exit record of dir, writing a lost one when monitor and process are both gone. */
  async function settledExit(dir: string): Promise<{ exit?: ExitRecord; monitor?: MonitorRecord; alive: boolean }> {
    const exit = await readExitRecord(dir);
    if (exit) return { exit, alive: false };
    const monitor = await readMonitorRecord(dir);
    if (await monitorAlive(monitor)) return { monitor, alive: true };
    const again = await readExitRecord(dir);
    if (again) return { exit: again, alive: false };
    if (monitor && monitor.pid > 0 && (await isSameProcess(monitor.pid, monitor.pidStartTime))) {
      return { monitor, alive: true };
    }
    log.warn({ dir }, 'container monitor died before its process ended; exit status lost');
    return { exit: await writeLostExit(dir, monitor?.pid ?? 0), monitor, alive: false };
  }

  /**
   * runc's error when dir's run never started its process: no exit record,
   * the monitor gone before it had a pid, and runc's log holds an error;
   * undefined otherwise.
   */
  async function failedStart(dir: string): Promise<string | undefined> {
    if ((await readExitRecord(dir)) !== undefined) return undefined;
    const monitor = await monitorRecordOf(dir);
    if ((monitor !== undefined && monitor.pid !== 0) || (await monitorAlive(monitor))) return undefined;
    const why = await runcFailure(dir, '');
    return why === '' ? undefined : why;
  }

  /** True when dir's monitor is gone without an exit record or a process, and runc does not know id. */
  async function neverRan(id: string, dir: string): Promise<boolean> {
    if ((await readExitRecord(dir)) !== undefined) return false;
    const monitor = await monitorRecordOf(dir);
    if (monitor === undefined || monitor.pid !== 0 || (await monitorAlive(monitor))) return false;
    try {
      await runc.run(id, ['state', id]);
      return false;
    } catch (err) {
      return isNotFound(err);
    }
  }

  async function waitExit(dir: string, signal?: AbortSignal): Promise<ExitRecord> {
    // Watching starts before the first look: an exit recorded between a look and the wait wakes the wait.
    const changes = new DirChanges(dir);
    try {
      for (;;) {
        signal?.throwIfAborted();
        const { exit } = await settledExit(dir);
        if (exit) return exit;
        await changes.next(1000, signal);
      }
    } finally {
      changes.close();
    }
  }

  /** create and run: a monitor running `runc create`, or with run `runc run --detach` (see Runtime.run). */
  async function createContainer(id: string, bundle: string, opts: RunOptions, run: boolean): Promise<CreatedContainer> {
    const args = argsFor(id, bundle, opts, run);
    const ahead = run ? await takePrestarted(id, args) : undefined;
    try {
      await checkBundle(bundle, opts);
    } catch (err) {
      if (ahead !== undefined) await endPrestarted(id, ahead);
      throw err;
    }
    return runMonitor(id, ahead === undefined ? await makeStateDir(id) : stateDir(id), args, opts, run, ahead);
  }

  /** Runs the monitor (the one started ahead, or a new one) in dir until runc answered (see createContainer). */
  async function runMonitor(id: string, dir: string, args: string[], opts: RunOptions, run: boolean, ahead: SpawnedMonitor | undefined): Promise<CreatedContainer> {
    try {
      let monitor: SpawnedMonitor;
      if (ahead === undefined) {
        monitor = await startMonitor(id, dir, args, opts.beforeStart);
      } else {
        monitor = ahead;
        await release(monitor, opts.beforeStart);
      }
      const { sync, monitorPid, placed } = monitor;
      try {
        const created = await sync.next(60_000);
        if (typeof created?.pid !== 'number') {
          const why = await runcFailure(dir, typeof created?.error === 'string' ? created.error : 'no answer');
          throw failedPrecondition(`cannot ${run ? 'run' : 'create'} container ${id}: ${why}`, { fields: { containerId: id } });
        }
        await placedUnlessGone(placed);
        log.debug({ containerId: id, pid: created.pid, monitorPid, ahead: ahead !== undefined }, run ? 'container started' : 'container created');
        return { id, pid: created.pid, monitorPid };
      } finally {
        sync.close();
      }
    } catch (err) {
      // What failed is the error to report, not a failure of the cleanup after it.
      try {
        await killMonitor(await monitorRecordOf(dir));
        await runc.run(id, ['delete', '--force', id]).catch(() => undefined);
        await removeStateDir(dir);
      } catch (cleanupErr) {
        log.warn({ err: cleanupErr, containerId: id }, 'cannot remove the state of a container that failed to start');
      }
      throw err;
    }
  }

  const runtime: Runtime = {
    create: (id, bundle, opts = {}) => createContainer(id, bundle, opts, false),

    run: (id, bundle, opts = {}) => createContainer(id, bundle, opts, true),

    async prestart(id, bundle, opts = {}) {
      const pending = (async () => {
        const args = argsFor(id, bundle, opts, true);
        const dir = await makeStateDir(id);
        try {
          return { monitor: await spawnMonitor(id, dir, args, true), args };
        } catch (err) {
          await removeStateDir(dir).catch((cleanupErr: unknown) => log.warn({ err: cleanupErr, containerId: id }, 'cannot remove the state of a monitor that did not start'));
          throw err;
        }
      })();
      prestarted.set(id, pending);
      try {
        await pending;
      } catch (err) {
        if (prestarted.get(id) === pending) prestarted.delete(id);
        throw err;
      }
    },

    async start(id) {
      await requireDir(id);
      await runc.run(id, ['start', id]);
    },

    async kill(id, signal = 'SIGTERM', opts = {}) {
      checkId(id);
      if (!SIGNAL.test(signal)) throw invalidArgument(`invalid signal ${signal}`);
      await runc.run(id, ['kill', ...(opts.all ? ['--all'] : []), id, signal]);
    },

    async state(id) {
      checkId(id);
      return JSON.parse(await runc.run(id, ['state', id])) as RuncState;
    },

    async delete(id, opts = {}) {
      checkId(id);
      const ahead = await claimPrestarted(id);
      if (ahead !== undefined) await endPrestarted(id, ahead.monitor);
      const dir = stateDir(id);
      const hasDir = await exists(dir);
      try {
        await runc.run(id, ['delete', ...(opts.force ? ['--force'] : []), id]);
      } catch (err) {
        if (!isNotFound(err) || !hasDir) throw err;
      }
      if (!hasDir) return;
      const monitor = await monitorRecordOf(dir);
      const deadline = Date.now() + 5000;
      while ((await monitorAlive(monitor)) && Date.now() < deadline) await sleep(20);
      await killMonitor(monitor);
      // Out of the way at once (the id is free), deleted in the background; recover deletes what a crash left.
      await discardDir(dir, deleteFailed);
      log.debug({ containerId: id }, 'container deleted');
    },

    async exec(id, processSpec, opts = {}) {
      const dir = await requireDir(id);
      const execId = opts.execId ?? randomBytes(8).toString('hex');
      checkId(execId, 'exec id');
      if (!Array.isArray(processSpec.args) || processSpec.args.length === 0) {
        throw invalidArgument('exec needs a command: process.args is empty');
      }
      if (!isAbsolute(processSpec.cwd ?? '') || /^\/proc(\/|$)/.test(processSpec.cwd)) {
        throw invalidArgument(`working directory ${processSpec.cwd} must be an absolute path outside /proc`);
      }
      if ((await readExitRecord(dir)) !== undefined) {
        throw failedPrecondition(`container ${id} is not running`, { fields: { containerId: id } });
      }
      await mkdir(join(dir, 'exec'), { recursive: true, mode: 0o700 });
      const execDir = join(dir, 'exec', execId);
      try {
        await mkdir(execDir, { mode: 0o700 });
      } catch (cause) {
        if ((cause as NodeJS.ErrnoException).code === 'EEXIST') throw alreadyExists(`exec ${execId} already exists in ${id}`);
        throw cause;
      }
      const tty = opts.tty ?? false;
      const processFile = join(execDir, 'process.json');
      const env = processSpec.env ?? [DEFAULT_PATH];
      await writeFile(processFile, stringifyOciJson({ ...processSpec, env, terminal: tty }), { mode: 0o600 });
      const args = ['--id', id, '--exec', processFile, '--wait-attach', '--runc', runcPath];
      if (options.runcRoot) args.push('--runc-root', options.runcRoot);
      if (tty) args.push('--tty');
      if (opts.stdin) args.push('--stdin');
      args.push('--log-max-bytes', String(1024 * 1024), '--log-max-files', '1');
      let attachment: Attachment | undefined;
      try {
        const { sync, placed } = await startMonitor(id, execDir, args);
        try {
          attachment = await attachTo(join(execDir, ATTACH_SOCKET));
          const started = await sync.next(60_000);
          if (typeof started?.pid !== 'number') {
            const why = await runcFailure(execDir, typeof started?.error === 'string' ? started.error : 'no answer');
            throw failedPrecondition(`cannot exec in container ${id}: ${why}`, { fields: { containerId: id } });
          }
          await placedUnlessGone(placed);
          const live = attachment;
          const exited = (async () => {
            await live.closed;
            const exit = await waitExit(execDir);
            await rm(execDir, { recursive: true, force: true });
            return exit;
          })();
          exited.catch(() => undefined);
          return {
            execId,
            pid: started.pid,
            stdin: live.stdin,
            stdout: live.stdout,
            stderr: live.stderr,
            resize: (cols, rows) => live.resize(cols, rows),
            exited,
          };
        } finally {
          sync.close();
        }
      } catch (err) {
        attachment?.detach();
        await removeStateDir(execDir).catch((cleanupErr: unknown) =>
          log.warn({ err: cleanupErr, containerId: id, execId }, 'cannot remove the state of an exec that failed to start'),
        );
        throw err;
      }
    },

    async wait(id, opts = {}) {
      const dir = await requireDir(id);
      return waitExit(dir, opts.signal);
    },

    logs(id, opts = {}) {
      const done = async () => {
        const dir = stateDir(id);
        if (!(await exists(dir))) return true;
        return (await readExitRecord(dir)) !== undefined || !(await settledExit(dir)).alive;
      };
      return {
        async *[Symbol.asyncIterator]() {
          checkId(id);
          const logDir = opts.logDir ?? (await requireDir(id));
          if (opts.logDir !== undefined && !(await exists(join(logDir, LOG_FILE)))) return;
          yield* readLogFiles(logDir, { follow: opts.follow, tail: opts.tail, signal: opts.signal, done });
        },
      };
    },

    async attach(id) {
      const dir = await requireDir(id);
      if ((await readExitRecord(dir)) !== undefined) {
        throw failedPrecondition(`container ${id} is not running`, { fields: { containerId: id } });
      }
      try {
        return await attachTo(join(dir, ATTACH_SOCKET));
      } catch (cause) {
        throw failedPrecondition(`container ${id} is not running`, { cause, fields: { containerId: id } });
      }
    },

    async resize(id, cols, rows) {
      const dir = await requireDir(id);
      for (const [v, what] of [
        [cols, 'cols'],
        [rows, 'rows'],
      ] as const) {
        if (!Number.isInteger(v) || v < 1 || v > 65535) throw invalidArgument(`${what} must be 1..65535, got ${v}`);
      }
      const monitor = await readMonitorRecord(dir);
      if (!monitor?.tty) throw failedPrecondition(`container ${id} has no TTY`, { fields: { containerId: id } });
      let socket;
      try {
        socket = await connectUnix(join(dir, ATTACH_SOCKET));
      } catch (cause) {
        throw failedPrecondition(`container ${id} is not running`, { cause, fields: { containerId: id } });
      }
      await new Promise<void>((resolve) => {
        socket.on('error', () => resolve());
        socket.end(resizeFrame(cols, rows), () => resolve());
      });
      socket.destroy();
    },

    async recover() {
      const result: RecoverResult = { running: [], exited: [], failed: [] };
      let names: string[];
      try {
        names = await readdir(stateRoot);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return result;
        throw err;
      }
      for (const id of names.sort()) {
        if (DISCARDED_DIR.test(id)) deleteInBackground(join(stateRoot, id), deleteFailed);
        if (!ID.test(id)) continue;
        const dir = stateDir(id);
        const failed = await failedStart(dir);
        if (failed !== undefined) {
          // The monitor told runc's failure to an agent that died before it removed this state: the start failed.
          await runc.run(id, ['delete', '--force', id]).catch(() => undefined);
          await rm(dir, { recursive: true, force: true });
          result.failed.push({ id, error: `cannot run container ${id}: ${failed}` });
          continue;
        }
        if (await neverRan(id, dir)) {
          // A monitor started ahead, or held, that an earlier agent never let start runc: the container is still created.
          await rm(dir, { recursive: true, force: true });
          continue;
        }
        const { exit, monitor, alive } = await settledExit(dir);
        if (alive && monitor) {
          result.running.push({
            id,
            pid: monitor.pid,
            monitorPid: monitor.monitorPid,
            monitorAlive: await monitorAlive(monitor),
          });
        } else if (exit && !(await exists(join(dir, REPORTED_FILE)))) {
          result.exited.push({ id, exit });
        }
      }
      log.info({ running: result.running.length, exited: result.exited.length }, 'containers recovered');
      return result;
    },

    async close() {
      const ahead = [...prestarted.keys()];
      await Promise.all(ahead.map(async (id) => (await claimPrestarted(id))?.monitor)).then((monitors) => {
        for (const monitor of monitors) if (monitor !== undefined) abandon(monitor);
      });
    },

    async acknowledgeExit(id) {
      const dir = await requireDir(id);
      if (!(await exists(join(dir, EXIT_FILE)))) {
        throw failedPrecondition(`container ${id} has not exited`, { fields: { containerId: id } });
      }
      await writeFileDurably(join(dir, REPORTED_FILE), `${new Date().toISOString()}\n`);
    },
  };
  return runtime;
}
