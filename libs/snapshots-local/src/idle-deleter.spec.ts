import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { IdleDeleter } from './idle-deleter.js';

describe('IdleDeleter', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  /** A deleter whose deletions record their name in done, in order. */
  function setup(idleMs = 100, maxBacklog = 3) {
    const done: string[] = [];
    const deleter = new IdleDeleter({ idleMs, maxBacklog });
    const deletion = (name: string) => async () => {
      await Promise.resolve();
      done.push(name);
    };
    return { deleter, deletion, done };
  }

  it('runs queued deletions in order once no operation has come for idleMs', async () => {
    const { deleter, deletion, done } = setup();
    deleter.add(deletion('a'));
    await vi.advanceTimersByTimeAsync(60);
    deleter.add(deletion('b'));
    await vi.advanceTimersByTimeAsync(60);
    deleter.touch();
    await vi.advanceTimersByTimeAsync(99);
    expect(done).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(done).toEqual(['a', 'b']);
  });

  it('starts at once, quiet or not, when maxBacklog deletions wait', async () => {
    const { deleter, deletion, done } = setup();
    deleter.add(deletion('a'));
    deleter.add(deletion('b'));
    deleter.touch();
    await vi.advanceTimersByTimeAsync(10);
    expect(done).toEqual([]);
    deleter.add(deletion('c'));
    await vi.advanceTimersByTimeAsync(0);
    expect(done).toEqual(['a', 'b', 'c']);
  });

  it('drain runs everything now, including what is queued while it runs, and resolves when none is left', async () => {
    const { deleter, deletion, done } = setup();
    deleter.add(async () => {
      await deletion('a')();
      deleter.add(deletion('b'));
    });
    await deleter.drain();
    expect(done).toEqual(['a', 'b']);
    await deleter.drain();
    await vi.advanceTimersByTimeAsync(1000);
    expect(done).toEqual(['a', 'b']);
  });
});
