import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { failedPrecondition } from '@strata/kit';
import { isRunning } from './process-control.js';

/** Something a service serves: `nats://127.0.0.1:4222`, `unix:/run/strata/layer-store.sock`. */
export interface Endpoint {
  /** What speaks there: `nats`, `grpc`, `http`. */
  protocol: string;
  address: string;
}

/** A process `strata up` started. */
export interface ServiceRecord {
  name: string;
  pid: number;
  /** Kernel start time of pid, to tell it from a later process with the same pid. */
  startTime?: number;
  log: string;
  endpoints: Endpoint[];
}

/** What `<run-dir>/up.json` holds: the stack one `strata up` started. */
export interface UpState {
  version: 1;
  /** The `strata up` process: running while it starts the stack, and for as long as it stays in the foreground. */
  owner: { pid: number; startTime?: number };
  detached: boolean;
  startedAt: string;
  stateDir: string;
  runDir: string;
  /** In start order. */
  services: ServiceRecord[];
}

/** `<runDir>/up.json`. */
export function upStatePath(runDir: string): string {
  return join(runDir, 'up.json');
}

/**
 * The recorded stack, or undefined when there is none. Raises
 * FailedPrecondition when the file is there but is not a record of ours.
 */
export function readUpState(runDir: string): UpState | undefined {
  const path = upStatePath(runDir);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw failedPrecondition(`cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
  let state: UpState;
  try {
    state = JSON.parse(text) as UpState;
  } catch (cause) {
    throw failedPrecondition(`${path} is not valid JSON; check that nothing it lists runs, then remove it`, { cause });
  }
  if (state?.version !== 1 || !Array.isArray(state.services) || typeof state.owner?.pid !== 'number') {
    throw failedPrecondition(`${path} is not a record written by strata up; check that nothing it lists runs, then remove it`);
  }
  return state;
}

/** The processes of state still running: its owner while it works, and its services. */
export function liveParts(state: UpState): { owner: boolean; services: ServiceRecord[] } {
  return {
    owner: state.owner.pid !== process.pid && isRunning(state.owner.pid, state.owner.startTime),
    services: state.services.filter((s) => isRunning(s.pid, s.startTime)),
  };
}

/**
 * Records state as the stack of runDir unless one is recorded already:
 * false then. Creates runDir (0700) when missing.
 */
export function claimUpState(state: UpState): boolean {
  mkdirSync(state.runDir, { recursive: true, mode: 0o700 });
  try {
    writeFileSync(upStatePath(state.runDir), JSON.stringify(state, null, 2) + '\n', { flag: 'wx', mode: 0o600 });
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
}

/** Replaces the record atomically (readers see the old or the new one whole). */
export function writeUpState(state: UpState): void {
  const path = upStatePath(state.runDir);
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(state, null, 2) + '\n', { mode: 0o600 });
  renameSync(tmp, path);
}

/** Removes the record; nothing when it is gone already. */
export function removeUpState(runDir: string): void {
  rmSync(upStatePath(runDir), { force: true });
}
