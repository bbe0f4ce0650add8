import { errorKind } from '@strata/kit';
import { describe, expect, it } from 'vitest';
import { matchesPruneFilters, parsePruneFilters, parseUntil } from './prune-filters.js';
import { recordFixture } from './testing/record-fixture.js';

const now = new Date('2026-11-29T12:00:00Z');
const kind = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    return errorKind(err);
  }
  return undefined;
};

describe('parseUntil', () => {
  it('reads Unix seconds, RFC 3339 times and durations before now', () => {
    expect(parseUntil('1700000000', now)).toBe(1_700_000_000_000);
    expect(parseUntil('1700000000.5', now)).toBe(1_700_000_000_500);
    expect(parseUntil('2026-11-29T11:00:00Z', now)).toBe(Date.parse('2026-11-29T11:00:00Z'));
    expect(parseUntil('10m', now)).toBe(now.getTime() - 600_000);
    expect(parseUntil('1h30m', now)).toBe(now.getTime() - 5_400_000);
    expect(parseUntil('250ms', now)).toBe(now.getTime() - 250);
  });

  it.each(['yesterday', '10x', '', '2026-13-45'])('refuses %j', (text) => {
    expect(kind(() => parseUntil(text, now))).toBe('InvalidArgument');
  });
});

describe('prune filters', () => {
  const old = recordFixture({ created: '2026-11-29T10:00:00Z', spec: { ...recordFixture().spec, labels: { tier: 'web', keep: '' } } });
  const fresh = recordFixture({ created: '2026-11-29T11:59:00Z', spec: { ...recordFixture().spec, labels: { tier: 'db' } } });
  const matching = (filters: string[]) => [old, fresh].filter((r) => matchesPruneFilters(r, parsePruneFilters(filters, now))).map((r) => r.created);

  it('selects by label, label! and until; none selects all', () => {
    expect(matching([])).toEqual([old.created, fresh.created]);
    expect(matching(['label=tier=web'])).toEqual([old.created]);
    expect(matching(['label=tier'])).toEqual([old.created, fresh.created]);
    expect(matching(['label!=keep'])).toEqual([fresh.created]);
    expect(matching(['label!=tier=db', 'label=tier'])).toEqual([old.created]);
    expect(matching(['until=1h'])).toEqual([old.created]);
  });

  it('refuses other filters with what it takes', () => {
    let message = '';
    try {
      parsePruneFilters(['status=exited'], now);
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toBe('invalid prune filter "status=exited": use label=KEY[=VALUE], label!=KEY[=VALUE] or until=TIME');
    expect(kind(() => parsePruneFilters(['until=soon'], now))).toBe('InvalidArgument');
  });
});
