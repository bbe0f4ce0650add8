import { describe, expect, it } from 'vitest';
import { pause } from './pause.js';

describe('pause', () => {
  it('resolves after the time, at once when the signal aborts, and at once for a signal aborted before', async () => {
    let t = performance.now();
    await pause(30);
    expect(performance.now() - t).toBeGreaterThanOrEqual(25);

    const ac = new AbortController();
    t = performance.now();
    setTimeout(() => ac.abort(), 10);
    await pause(10_000, ac.signal);
    expect(performance.now() - t).toBeLessThan(1000);

    t = performance.now();
    await pause(10_000, ac.signal);
    expect(performance.now() - t).toBeLessThan(100);
  });
});
