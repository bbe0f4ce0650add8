import { canceled } from '@strata/kit';

/**
 * Mutual exclusion per key within this process, in arrival order: used to
 * apply each chain ID once when unpacks run concurrently.
 */
export class KeyedLock {
  private readonly tails = new Map<string, Promise<void>>();

  /**
   * Waits until no one else holds key, then holds it until the returned
   * release is called (calling it again does nothing). Canceled when signal
   * aborts while waiting; the key is not held then.
   */
  async acquire(key: string, signal?: AbortSignal): Promise<() => void> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((resolve) => {
      release = resolve;
    });
    const tail = previous.then(() => mine);
    this.tails.set(key, tail);
    let released = false;
    const unlock = () => {
      if (released) return;
      released = true;
      release();
      void tail.then(() => {
        if (this.tails.get(key) === tail) this.tails.delete(key);
      });
    };
    if (signal === undefined) {
      await previous;
      return unlock;
    }
    let onAbort: (() => void) | undefined;
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => reject(canceled(`gave up waiting for ${key}: the operation was aborted`));
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      await Promise.race([previous, aborted]);
      return unlock;
    } catch (err) {
      unlock();
      throw err;
    } finally {
      if (onAbort !== undefined) signal.removeEventListener('abort', onAbort);
      aborted.catch(() => undefined);
    }
  }

  /** Keys held or waited for (for tests: empty when nothing is in flight). */
  get size(): number {
    return this.tails.size;
  }
}
