import type { BridgeNetwork } from '@strata/container-network';
import type { Logger } from '@strata/kit';

/**
 * How long the agent must have had no Create, Start or Remove running
 * before a spare is made: longer than a client takes from a Create to its
 * Start.
 */
const QUIET_MS = 30;
/** How long after a failure the next spare is tried. */
const RETRY_MS = 30_000;

/** Settings of {@link createNetworkSpares}. */
export interface NetworkSparesOptions {
  network: BridgeNetwork;
  /** How many spares to keep ready; 0 makes none. */
  count: number;
  /** A fresh container id (not held by any container). */
  newId: () => string;
  logger: Logger;
  /**
   * More to ready for a spare once its attachment is made (the agent
   * prepares its snapshot); what it raises is logged, the spare kept.
   */
  readied?: (id: string) => Promise<void>;
  /**
   * Undoes readied for a spare that goes without being taken (closed, or
   * left by an earlier process), before its attachment is removed; what
   * it raises is logged.
   */
  discarded?: (id: string) => Promise<void>;
}

/**
 * Spare bridge attachments (BridgeNetwork.prepareSpare) made ahead under
 * the ids of containers to come, so that a bridge Create takes one instead
 * of waiting for iproute2 (two processes, most of a Create's time).
 * Spares are made one at a time and only while no Create, Start or Remove
 * runs (see busy), so that making one never delays a container being
 * created, started or removed. After a failure the next spare is tried 30 s later.
 */
export interface NetworkSpares {
  /** The id of a ready spare, now the caller's (a container's id, or detach it); undefined when none is ready. */
  take(): string | undefined;
  /** Runs fn (a Create, Start or Remove); no spare is begun while one runs. */
  busy<T>(fn: () => Promise<T>): Promise<T>;
  /** Removes the spares an earlier process left on record, then starts making spares. */
  open(): Promise<void>;
  /** Stops making spares and removes the ready ones. */
  close(): Promise<void>;
}

export function createNetworkSpares(options: NetworkSparesOptions): NetworkSpares {
  const { network, count, newId } = options;
  const log = options.logger.child({ component: 'network-spares' });
  const ready: string[] = [];
  let running = 0;
  let timer: NodeJS.Timeout | undefined;
  let making: Promise<void> | undefined;
  let opened = false;
  let closed = false;
  /** performance.now() before which no spare is tried (after a failure). */
  let retryAt = 0;

  function schedule(): void {
    if (!opened || closed || running > 0 || making !== undefined || ready.length >= count) return;
    clearTimeout(timer);
    timer = setTimeout(makeOne, Math.max(QUIET_MS, retryAt - performance.now()));
    timer.unref();
  }

  function makeOne(): void {
    timer = undefined;
    if (closed || running > 0 || making !== undefined || ready.length >= count) return;
    const id = newId();
    making = network
      .prepareSpare(id)
      .then(async () => {
        await options.readied?.(id).catch((err: unknown) => log.warn({ err, container: id }, 'cannot ready the rest of a spare'));
        if (closed) await discard(id);
        else ready.push(id);
      })
      .catch((err: unknown) => {
        retryAt = performance.now() + RETRY_MS;
        log.warn({ err }, 'cannot make a spare network attachment; a bridge Create sets up its own meanwhile (trying again in 30 s)');
      })
      .finally(() => {
        making = undefined;
        schedule();
      });
  }

  /** Removes a spare that was not taken: what readied made, then its attachment. */
  async function discard(id: string): Promise<void> {
    await options.discarded?.(id).catch((err: unknown) => log.warn({ err, container: id }, 'cannot remove what a spare had readied'));
    await network.detach(id);
  }

  return {
    take() {
      return ready.shift();
    },

    async busy(fn) {
      running++;
      clearTimeout(timer);
      try {
        return await fn();
      } finally {
        running--;
        schedule();
      }
    },

    async open() {
      for (const id of await network.spares()) {
        await discard(id).catch((err: unknown) => log.warn({ err, container: id }, 'cannot remove a spare network attachment of an earlier run'));
      }
      opened = true;
      schedule();
    },

    async close() {
      closed = true;
      clearTimeout(timer);
      await making;
      for (const id of ready.splice(0)) {
        await discard(id).catch((err: unknown) => log.warn({ err, container: id }, 'cannot remove a spare network attachment'));
      }
    },
  };
}
