import { describe, expect, it } from 'vitest';
import { isCanceled } from '@strata/kit';
import { KeyedLock } from './keyed-lock.js';

const tick = () => new Promise((r) => setTimeout(r, 5));

describe('KeyedLock', () => {
  it('lets one holder per key in, in arrival order, and other keys through at once', async () => {
    const lock = new KeyedLock();
    const order: string[] = [];
    const hold = async (key: string, name: string, ms: number) => {
      const release = await lock.acquire(key);
      order.push(`${name} in`);
      await new Promise((r) => setTimeout(r, ms));
      order.push(`${name} out`);
      release();
    };
    await Promise.all([hold('a', 'a1', 20), hold('a', 'a2', 1), hold('a', 'a3', 1), hold('b', 'b1', 1)]);
    expect(order).toEqual(['a1 in', 'b1 in', 'b1 out', 'a1 out', 'a2 in', 'a2 out', 'a3 in', 'a3 out']);
    expect(lock.size).toBe(0);
  });

  it('gives up waiting on abort without holding the key, and the queue moves on', async () => {
    const lock = new KeyedLock();
    const first = await lock.acquire('k');
    const abort = new AbortController();
    const waiting = lock.acquire('k', abort.signal);
    const third = lock.acquire('k');
    abort.abort();
    const err = await waiting.catch((e: unknown) => e);
    expect(isCanceled(err) && (err as Error).message).toBe('gave up waiting for k: the operation was aborted');
    let thirdIn = false;
    void third.then(() => (thirdIn = true));
    await tick();
    expect(thirdIn).toBe(false);
    first();
    (await third)();
    await tick();
    expect(lock.size).toBe(0);
  });
});
