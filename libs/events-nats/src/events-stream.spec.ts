import { errorKind } from '@strata/kit';
import { describe, expect, it } from 'vitest';
import { eventsStreamConfig, eventsStreamLimits, type EventsStreamLimits, type EventsStreamOptions } from './events-stream.js';

describe('eventsStreamLimits', () => {
  it('defaults to seven days, 1 GiB, no count limit and a two-minute duplicate window', () => {
    expect(eventsStreamLimits()).toEqual({ maxAgeSeconds: 7 * 24 * 3600, maxBytes: 1024 ** 3, maxMsgs: -1, duplicateWindowSeconds: 120 });
  });

  it.each<[EventsStreamOptions, EventsStreamLimits]>([
    [{ maxAgeSeconds: 0, maxBytes: -1 }, { maxAgeSeconds: 0, maxBytes: -1, maxMsgs: -1, duplicateWindowSeconds: 120 }],
    [{ maxAgeSeconds: 60, maxBytes: 4096 }, { maxAgeSeconds: 60, maxBytes: 4096, maxMsgs: -1, duplicateWindowSeconds: 60 }],
    [{ maxMsgs: 10, duplicateWindowSeconds: 5 }, { maxAgeSeconds: 604800, maxBytes: 1024 ** 3, maxMsgs: 10, duplicateWindowSeconds: 5 }],
    [{ maxAgeSeconds: 0, duplicateWindowSeconds: 3600 }, { maxAgeSeconds: 0, maxBytes: 1024 ** 3, maxMsgs: -1, duplicateWindowSeconds: 3600 }],
    [{ maxAgeSeconds: 30, duplicateWindowSeconds: 30 }, { maxAgeSeconds: 30, maxBytes: 1024 ** 3, maxMsgs: -1, duplicateWindowSeconds: 30 }],
  ])('accepts %j', (options, expected) => {
    expect(eventsStreamLimits(options)).toEqual(expected);
  });

  it.each<[EventsStreamOptions, string]>([
    [{ maxAgeSeconds: -5 }, 'events stream max age must be a whole number of seconds, 0 or more; got -5'],
    [{ maxAgeSeconds: 0.5 }, 'events stream max age must be a whole number of seconds, 0 or more; got 0.5'],
    [{ maxBytes: -2 }, 'events stream max bytes must be a positive whole number or -1; got -2'],
    [{ maxBytes: Number.NaN }, 'events stream max bytes must be a positive whole number or -1; got NaN'],
    [{ maxMsgs: 0 }, 'events stream max messages must be a positive whole number or -1; got 0'],
    [{ maxMsgs: 2.5 }, 'events stream max messages must be a positive whole number or -1; got 2.5'],
    [{ duplicateWindowSeconds: 0 }, 'events stream duplicate window must be a whole number of seconds, 1 or more; got 0'],
    [{ duplicateWindowSeconds: 1.5 }, 'events stream duplicate window must be a whole number of seconds, 1 or more; got 1.5'],
    [
      { maxAgeSeconds: 60, duplicateWindowSeconds: 61 },
      'events stream duplicate window (61 s) must not be longer than the max age (60 s)',
    ],
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

describe('eventsStreamConfig', () => {
  it('captures strata.events.> with the limits in nanoseconds, discarding the oldest', () => {
    expect(eventsStreamConfig({ maxAgeSeconds: 3600, maxBytes: 1 << 20, maxMsgs: 500, duplicateWindowSeconds: 30 })).toEqual({
      subjects: ['strata.events.>'],
      max_age: 3600 * 1e9,
      max_bytes: 1 << 20,
      max_msgs: 500,
      discard: 'old',
      duplicate_window: 30 * 1e9,
    });
  });
});
