import { nextRestartDelay, NO_RESTART, shouldRestart, type ContainerRecord } from '@strata/containers';

/**
 * The restart policies' bookkeeping for the containers of one node (what
 * Docker's restart manager keeps per container): whether an exit is
 * restarted, after which delay, the timers of the restarts waiting, and
 * the cancellations by a stop, a kill or a removal. The records and the
 * starts stay with the container manager.
 */
export interface RestartManager {
  /**
   * The delay after which the exit of record (its run started at
   * record.state.startedAt) is restarted by its policy, remembered as its
   * last delay; undefined when the policy says no or a cancel came first.
   */
  onExit(record: ContainerRecord, exit: { exitCode: number; finishedAt: string }): number | undefined;
  /** Runs restart after delayMs for the container id, in place of a restart waiting for it. */
  schedule(id: string, delayMs: number, restart: () => void): void;
  /** Drops the waiting restart of id and has its next exit not restarted (a stop, a kill, a removal). */
  cancel(id: string): void;
  /** Starts id's policy over: no cancel, no delay (a start by hand, a removal done). */
  reset(id: string): void;
  /** Drops every waiting restart (the next agent's recover makes them). */
  close(): void;
}

/** An empty restart manager (the container manager's recover judges the containers that do not run). */
export function createRestartManager(): RestartManager {
  /** Restarts the policy waits for: their timers (the record says restarting meanwhile). */
  const timers = new Map<string, NodeJS.Timeout>();
  /** The delay before each container's last restart by its policy (see nextRestartDelay); none after a start by hand. */
  const delays = new Map<string, number>();
  /**
   * Containers whose next exit is not restarted: a stop, a kill by SIGKILL
   * or the stop signal, or a removal is under way or done (Docker cancels
   * the restart manager then); cleared by a start by hand.
   */
  const cancelled = new Set<string>();
  const dropTimer = (id: string) => {
    clearTimeout(timers.get(id));
    timers.delete(id);
  };

  return {
    onExit(record, exit) {
      const facts = { exitCode: exit.exitCode, manuallyStopped: record.manuallyStopped === true, restartCount: record.restartCount };
      if (cancelled.has(record.id) || !shouldRestart(record.spec.restartPolicy ?? NO_RESTART, facts)) return undefined;
      const ranMs = Date.parse(exit.finishedAt) - Date.parse(record.state.startedAt ?? exit.finishedAt);
      const delay = nextRestartDelay(delays.get(record.id) ?? 0, ranMs);
      delays.set(record.id, delay);
      return delay;
    },
    schedule(id, delayMs, restart) {
      clearTimeout(timers.get(id));
      const timer = setTimeout(() => {
        if (timers.get(id) === timer) timers.delete(id);
        restart();
      }, delayMs);
      timers.set(id, timer);
    },
    cancel(id) {
      cancelled.add(id);
      dropTimer(id);
    },
    reset(id) {
      cancelled.delete(id);
      delays.delete(id);
    },
    close() {
      for (const timer of timers.values()) clearTimeout(timer);
      timers.clear();
    },
  };
}
