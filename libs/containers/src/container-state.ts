import { failedPrecondition } from '@strata/kit';
import { healthSuffix, startingHealth } from './health.js';
import type { ContainerRecord, ContainerState } from './types.js';

/** How a run ended, as the record keeps it. */
export interface RunExit {
  exitCode: number;
  oomKilled: boolean;
  /** RFC 3339. */
  finishedAt: string;
}

/** The state of a container that was just made. */
export function createdState(): ContainerState {
  return { status: 'created', pid: 0, exitCode: 0, oomKilled: false, error: '' };
}

/** True while its process runs (running or paused). */
export function isRunning(record: ContainerRecord): boolean {
  return record.state.status === 'running' || record.state.status === 'paused';
}

/**
 * Checks that record may be started: created or exited. Raises
 * FailedPrecondition for a container being removed or dead (with its error).
 */
export function checkStartable(record: ContainerRecord): void {
  const { status, error } = record.state;
  if (status === 'removing') throw failedPrecondition(`container ${record.name} is being removed`, { fields: { containerId: record.id } });
  if (status === 'dead') {
    throw failedPrecondition(`container ${record.name} is dead${error === '' ? '' : `: ${error}`}; remove it`, { fields: { containerId: record.id } });
  }
}

/**
 * Checks that record may be removed: not running unless force. Raises
 * FailedPrecondition with Docker's text otherwise.
 */
export function checkRemovable(record: ContainerRecord, force: boolean): void {
  if ((isRunning(record) || record.state.status === 'restarting') && !force) {
    const status = record.state.status === 'paused' ? 'running' : record.state.status;
    throw failedPrecondition(
      `cannot remove container "/${record.name}": container is ${status}: stop the container before removing or force remove`,
      { fields: { containerId: record.id } },
    );
  }
}

/**
 * The record after its process started with pid at time now: running, OOM
 * count reset. A start by hand (not by the restart policy) resets the
 * restart count and the manual stop, as Docker's does.
 */
export function withStarted(record: ContainerRecord, pid: number, now: string, byPolicy = false): ContainerRecord {
  const { manuallyStopped: _stopped, ...rest } = record;
  return {
    ...(byPolicy ? record : rest),
    state: { status: 'running', pid, exitCode: 0, oomKilled: false, startedAt: now, error: '', ...(record.healthCheck === undefined ? {} : { health: startingHealth() }) },
    restartCount: byPolicy ? record.restartCount : 0,
    oomKillsSeen: 0,
  };
}

/**
 * The record after its process ended when the restart policy starts it
 * again after a delay: restarting, with the run's exit, and one restart
 * more counted (Docker counts it when it decides).
 */
export function withRestarting(record: ContainerRecord, exit: RunExit): ContainerRecord {
  const exited = withExited(record, exit);
  return { ...exited, state: { ...exited.state, status: 'restarting' }, restartCount: record.restartCount + 1 };
}

/** The record after its process ended. */
export function withExited(record: ContainerRecord, exit: RunExit): ContainerRecord {
  return {
    ...record,
    state: { ...record.state, status: 'exited', pid: 0, exitCode: exit.exitCode, oomKilled: exit.oomKilled, finishedAt: exit.finishedAt },
  };
}

/**
 * The record after its process could not be started: exitCode (see
 * {@link startFailureCode}) and error recorded, as Docker's daemon records
 * them. Nothing ran, so, as Docker derives the state from StartedAt, a
 * container never started stays `created` and one that ran before stays
 * `exited`; startedAt and finishedAt keep the last run's (none for a
 * container never started).
 */
export function withStartFailure(record: ContainerRecord, error: string, exitCode: number): ContainerRecord {
  const status = record.state.startedAt === undefined ? 'created' : 'exited';
  return { ...record, state: { ...record.state, status, pid: 0, exitCode, error } };
}

/**
 * The exit code Docker reports when the process could not be started:
 * 127 when the command was not found, 126 when it could not be invoked,
 * 128 otherwise.
 */
export function startFailureCode(message: string): number {
  if (/no such file or directory|executable file not found|not found/i.test(message)) return 127;
  if (/permission denied|exec format error/i.test(message)) return 126;
  return 128;
}

/** The `ps` STATUS column: `Up 5 seconds`, `Exited (0) 3 minutes ago`, `Created`… relative to now. */
export function describeStatus(state: ContainerState, now: Date = new Date()): string {
  const ago = (iso: string | undefined) => humanDuration(now.getTime() - (iso === undefined ? now.getTime() : Date.parse(iso)));
  switch (state.status) {
    case 'created':
      return 'Created';
    case 'restarting':
      return `Restarting (${state.exitCode}) ${ago(state.finishedAt)} ago`;
    case 'running':
      return `Up ${ago(state.startedAt)}${healthSuffix(state.health?.status)}`;
    case 'paused':
      return `Up ${ago(state.startedAt)} (Paused)`;
    case 'exited':
      return `Exited (${state.exitCode}) ${ago(state.finishedAt)} ago`;
    case 'removing':
      return 'Removal In Progress';
    case 'dead':
      return 'Dead';
  }
}

/** Docker's human durations: `Less than a second`, `5 seconds`, `About a minute`, `3 hours`… */
export function humanDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 1) return 'Less than a second';
  if (s === 1) return '1 second';
  if (s < 60) return `${s} seconds`;
  const m = Math.round(s / 60);
  if (m === 1) return 'About a minute';
  if (m < 60) return `${m} minutes`;
  const h = Math.round(s / 3600);
  if (h === 1) return 'About an hour';
  if (h < 48) return `${h} hours`;
  const d = Math.floor(h / 24);
  if (d < 14) return `${d} days`;
  if (d < 60) return `${Math.floor(d / 7)} weeks`;
  if (d < 730) return `${Math.floor(d / 30)} months`;
  return `${Math.floor(d / 365)} years`;
}
