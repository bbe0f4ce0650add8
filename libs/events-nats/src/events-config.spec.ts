import { errorKind, loadConfig } from '@strata/kit';
import { describe, expect, it } from 'vitest';
import { eventSinkLimits, eventsConfigSpec } from './events-config.js';

describe('eventsConfigSpec', () => {
  it('has defaults that give the default stream limits', () => {
    expect(eventSinkLimits(loadConfig(eventsConfigSpec))).toEqual({
      bufferSize: 10_000,
      streamMaxAgeSeconds: 604_800,
      streamMaxBytes: 1024 ** 3,
      streamMaxMsgs: -1,
      streamDuplicateWindowSeconds: 120,
    });
  });

  it('reads flags and environment, and cuts the duplicate window to a shorter max age', () => {
    const config = loadConfig(eventsConfigSpec, {
      argv: ['--events-buffer-size', '50', '--events-max-age-seconds', '60', '--events-max-msgs=1000'],
      env: { STRATA_EVENTS_MAX_BYTES: '-1', STRATA_EVENTS_DUPLICATE_WINDOW_SECONDS: '300' },
    });
    expect(eventSinkLimits(config)).toEqual({
      bufferSize: 50,
      streamMaxAgeSeconds: 60,
      streamMaxBytes: -1,
      streamMaxMsgs: 1000,
      streamDuplicateWindowSeconds: 60,
    });
  });

  it.each([
    [['--events-buffer-size', '0'], 'config events-buffer-size: 0 is out of range 1..10000000'],
    [['--events-max-msgs', '-2'], 'config events-max-msgs: -2 is out of range -1..9007199254740991'],
    [['--events-max-age-seconds', '1d'], 'config events-max-age-seconds: expected a whole number, got "1d"'],
  ])('refuses %j', (argv, message) => {
    let caught: unknown;
    try {
      loadConfig(eventsConfigSpec, { argv });
    } catch (err) {
      caught = err;
    }
    expect(errorKind(caught)).toBe('InvalidArgument');
    expect((caught as Error).message).toBe(message);
  });
});
