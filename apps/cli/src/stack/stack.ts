import { mkdirSync } from 'node:fs';
import { canceled } from '@strata/kit';
import { processStartTime, stopProcess, type StopResult } from './process-control.js';
import { startService, stopService, type StartedService } from './service-runner.js';
import type { ServiceSpec, StackContext } from './service.js';
import {
  claimUpState,
  liveParts,
  readUpState,
  removeUpState,
  writeUpState,
  type ServiceRecord,
  type UpState,
} from './up-state.js';

/** What {@link upStack} did. */
export type UpResult =
  | { status: 'started'; state: UpState; started: StartedService[] }
  | { status: 'already-running'; state: UpState; running: ServiceRecord[] };

/** Settings of {@link upStack}. */
export interface UpOptions {
  services: readonly ServiceSpec[];
  /** Recorded in up.json: whether the stack outlives this process. */
  detached: boolean;
  /** Aborting it (SIGINT/SIGTERM while starting) stops what started and raises Canceled. */
  signal?: AbortSignal;
  /** Told about each step, for people watching. */
  progress?: (message: string) => void;
}

/** What happened to one service at {@link stopServices}. */
export interface StoppedService {
  name: string;
  pid: number;
  result: StopResult;
}

/** Stops records in reverse order, each by pid (SIGTERM, then SIGKILL after timeoutMs). */
export async function stopServices(
  records: readonly ServiceRecord[],
  progress: (message: string) => void = () => {},
  timeoutMs?: number,
): Promise<StoppedService[]> {
  const out: StoppedService[] = [];
  for (const record of [...records].reverse()) {
    progress(`stopping ${record.name} (pid ${record.pid})`);
    out.push({ name: record.name, pid: record.pid, result: await stopService(record, timeoutMs) });
  }
  return out;
}

/**
 * Starts services in order, each ready before the next starts, recording
 * them in `<runDir>/up.json` as they come up. When up.json shows a stack
 * whose processes still run, starts nothing and reports it; a record whose
 * processes are all gone is replaced. Raises what a service raises when it
 * cannot start (FailedPrecondition, Unavailable) or Canceled when aborted,
 * after stopping everything it started and removing up.json.
 */
export async function upStack(ctx: StackContext, options: UpOptions): Promise<UpResult> {
  const progress = options.progress ?? (() => {});
  mkdirSync(ctx.stateDir, { recursive: true, mode: 0o700 });
  const state: UpState = {
    version: 1,
    owner: { pid: process.pid, startTime: processStartTime(process.pid) },
    detached: options.detached,
    startedAt: new Date().toISOString(),
    stateDir: ctx.stateDir,
    runDir: ctx.runDir,
    services: [],
  };
  while (!claimUpState(state)) {
    const existing = readUpState(ctx.runDir);
    if (!existing) continue;
    const live = liveParts(existing);
    if (live.owner || live.services.length > 0) return { status: 'already-running', state: existing, running: live.services };
    progress(`removing the record of a stack that no longer runs (${ctx.runDir}/up.json)`);
    removeUpState(ctx.runDir);
  }

  const started: StartedService[] = [];
  try {
    for (const spec of options.services) {
      if (options.signal?.aborted) throw canceled('interrupted while the stack was starting');
      progress(`starting ${spec.name}`);
      const service = await startService(spec, ctx, options.signal);
      started.push(service);
      state.services.push(service.record);
      writeUpState(state);
      progress(`${spec.name} is ready (pid ${service.record.pid})`);
    }
  } catch (err) {
    await stopServices(
      started.map((s) => s.record),
      progress,
    );
    removeUpState(ctx.runDir);
    throw err;
  }
  return { status: 'started', state, started };
}

/** What {@link downStack} did. */
export interface DownResult {
  /** False when no stack was recorded. */
  found: boolean;
  stopped: StoppedService[];
}

/**
 * Stops the stack recorded in `<runDir>/up.json`: first the `strata up`
 * process when it still runs (it stops its own services), then every listed
 * service still running, in reverse order, each by pid; then removes up.json.
 * Raises FailedPrecondition when up.json is unreadable.
 */
export async function downStack(runDir: string, progress: (message: string) => void = () => {}): Promise<DownResult> {
  const state = readUpState(runDir);
  if (!state) return { found: false, stopped: [] };
  const live = liveParts(state);
  const wereRunning = new Set(live.services.map((s) => s.pid));
  if (live.owner) {
    progress(`stopping strata up (pid ${state.owner.pid})`);
    await stopProcess(state.owner.pid, { startTime: state.owner.startTime, timeoutMs: 30_000 });
  }
  const stopped = await stopServices(state.services, progress);
  removeUpState(runDir);
  return {
    found: true,
    // Services the owner stopped count as stopped here.
    stopped: stopped.map((s) => (s.result === 'not-running' && wereRunning.has(s.pid) ? { ...s, result: 'stopped' } : s)),
  };
}
