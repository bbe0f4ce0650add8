import { errorKind } from '@strata/kit';
import { describe, expect, it } from 'vitest';
import { parseEventTime, parseGoDuration } from './events-time.js';

const NOW = new Date('2026-11-28T03:25:25.000Z');

describe('parseGoDuration', () => {
  it.each<[string, number | undefined]>([
    ['10m', 600_000],
    ['1h30m', 5_400_000],
    ['1.5h', 5_400_000],
    ['300ms', 300],
    ['2h45m30.5s', 9_930_500],
    ['1500us', 1.5],
    ['-5s', -5000],
    ['10', undefined],
    ['m', undefined],
    ['10d', undefined],
  ])('%s → %s', (text, ms) => {
    expect(parseGoDuration(text)).toBe(ms);
  });
});

describe('parseEventTime', () => {
  it.each<[string, string]>([
    ['10m', '2026-11-28T03:15:25.000Z'],
    ['1h30m', '2026-11-28T01:55:25.000Z'],
    ['-1m', '2026-11-28T03:26:25.000Z'],
    ['2026-11-28T03:25:25Z', '2026-11-28T03:25:25.000Z'],
    ['2026-11-28T03:25:25.123456789Z', '2026-11-28T03:25:25.123Z'],
    ['2026-11-28T04:25:25+01:00', '2026-11-28T03:25:25.000Z'],
    ['2026-11-27T22:25:25.5-05:00', '2026-11-28T03:25:25.500Z'],
    ['2026-11-28T03Z', '2026-11-28T03:00:00.000Z'],
    ['2026-11-28T03:25Z', '2026-11-28T03:25:00.000Z'],
    ['2026-11-28Z', '2026-11-28T00:00:00.000Z'],
    ['1764300325', '2025-11-28T03:25:25.000Z'],
    ['1764300325.25', '2025-11-28T03:25:25.250Z'],
    ['0', '1970-01-01T00:00:00.000Z'],
  ])('%s is %s', (text, iso) => {
    expect(parseEventTime(text, '--since', NOW).toISOString()).toBe(iso);
  });

  it('reads a time without a zone as local time', () => {
    expect(parseEventTime('2026-11-28T03:25:25', '--since', NOW).getTime()).toBe(new Date(2026, 10, 28, 3, 25, 25).getTime());
    expect(parseEventTime('2026-11-28', '--until', NOW).getTime()).toBe(new Date(2026, 10, 28).getTime());
  });

  const hint =
    'expected a duration before now (10m, 1h30m), an RFC 3339 time (2026-11-28T03:25:25Z), a date (2026-11-28) or Unix seconds (1764300325)';
  it.each([
    ['yesterday', '--since'],
    ['2026-13-01', '--since'],
    ['2026-02-30T00:00:00Z', '--until'],
    ['2026-11-28T25:00:00Z', '--until'],
    ['10 minutes', '--since'],
    ['2026-11-28T03:25:25Zjunk', '--since'],
  ])('refuses %s', (text, flag) => {
    let caught: unknown;
    try {
      parseEventTime(text, flag, NOW);
    } catch (err) {
      caught = err;
    }
    expect(errorKind(caught)).toBe('InvalidArgument');
    expect((caught as Error).message).toBe(`invalid ${flag} value ${JSON.stringify(text)}: ${hint}`);
  });
});
