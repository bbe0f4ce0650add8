import { errorKind } from '@strata/kit';
import { describe, expect, it } from 'vitest';
import { eventsStreamLimits, type EventsStreamOptions } from './events-stream.js';

describe('eventsStreamLimits', () => {
  it('defaults to seven days and 1 GiB', () => {
    expect(eventsStreamLimits()).toEqual({ maxAgeSeconds: 7 * 24 * 3600, maxBytes: 1024 ** 3 });
  });

  it.each<[EventsStreamOptions, { maxAgeSeconds: number; maxBytes: number }]>([
    [{ maxAgeSeconds: 0, maxBytes: -1 }, { maxAgeSeconds: 0, maxBytes: -1 }],
    [{ maxAgeSeconds: 60, maxBytes: 4096 }, { maxAgeSeconds: 60, maxBytes: 4096 }],
  ])('accepts %j', (options, expected) => {
    expect(eventsStreamLimits(options)).toEqual(expected);
  });

  it.each<[EventsStreamOptions, string]>([
    [{ maxAgeSeconds: -5 }, 'events stream max age must be a whole number of seconds, 0 or more; got -5'],
    [{ maxAgeSeconds: 0.5 }, 'events stream max age must be a whole number of seconds, 0 or more; got 0.5'],
    [{ maxBytes: -2 }, 'events stream max bytes must be a positive whole number or -1; got -2'],
    [{ maxBytes: Number.NaN }, 'events stream max bytes must be a positive whole number or -1; got NaN'],
  ])('refuses %j', (options, message) => {
    let caught: unknown;
    try {
      eventsStreamLimits(options);
    } catch (err) {
      caught = err;
    }
    expect(errorKind(caught)).toBe('InvalidArgument');
    expect((caught as Error).message).toBe(message);
  });
});
