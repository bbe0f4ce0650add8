import { invalidArgument } from '@strata/kit';

const UNIT_NANOS: Record<string, number> = { ns: 1, us: 1e3, 'µs': 1e3, 'μs': 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };
const DURATION = /^([-+]?)((?:(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+)$/;
const DURATION_PART = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/g;
const UNIX = /^(\d+)(?:\.(\d{1,9}))?$/;
// Docker's layouts: a date, then optionally T with hours[:minutes[:seconds[.fraction]]], then optionally a zone.
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2})(?::(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?)?(Z|z|[+-]\d{2}:\d{2})?$/;

/** Milliseconds of a Go duration such as `10m`, `1h30m`, `1.5h` or `300ms`; undefined when text is not one. */
export function parseGoDuration(text: string): number | undefined {
  const m = DURATION.exec(text);
  if (!m) return undefined;
  let nanos = 0;
  for (const [, value, unit] of m[2]!.matchAll(DURATION_PART)) nanos += Number(value) * UNIT_NANOS[unit!]!;
  return (m[1] === '-' ? -nanos : nanos) / 1e6;
}

function checked(value: number, min: number, max: number): number {
  return value >= min && value <= max ? value : NaN;
}

/**
 * The time a `--since`/`--until` value names, read as `docker events` reads
 * it: a Go duration before now (`10m`, `1h30m`, `-5s` for after now), an
 * RFC 3339 time (`2026-11-28T03:25:25Z`, `2026-11-28T03:25:25.123+01:00`),
 * the same without seconds, minutes or time (`2026-11-28T03:25`,
 * `2026-11-28`) — in local time when it has no zone — or Unix seconds
 * (`1764300325`, `1764300325.5`). Fractions finer than a millisecond are cut.
 * Raises InvalidArgument naming the flag and the accepted forms.
 */
export function parseEventTime(text: string, flag: string, now: Date = new Date()): Date {
  const fail = () =>
    invalidArgument(
      `invalid ${flag} value ${JSON.stringify(text)}: expected a duration before now (10m, 1h30m), an RFC 3339 time ` +
        '(2026-11-28T03:25:25Z), a date (2026-11-28) or Unix seconds (1764300325)',
    );
  const trimmed = text.trim();
  if (trimmed !== '0') {
    const ms = parseGoDuration(trimmed);
    if (ms !== undefined) return new Date(now.getTime() - ms);
  }
  const unix = UNIX.exec(trimmed);
  if (unix) return new Date(Number(unix[1]) * 1000 + Math.floor(Number(`0.${unix[2] ?? '0'}`) * 1000));
  const m = DATE_TIME.exec(trimmed);
  if (!m) throw fail();
  const [, y, mo, d, h = '0', mi = '0', s = '0', frac = '0', zone] = m;
  const parts = [
    Number(y),
    checked(Number(mo), 1, 12),
    checked(Number(d), 1, 31),
    checked(Number(h), 0, 23),
    checked(Number(mi), 0, 59),
    checked(Number(s), 0, 59),
    Math.floor(Number(`0.${frac}`) * 1000),
  ] as const;
  if (parts.some(Number.isNaN)) throw fail();
  const [year, month, day, hour, minute, second, millis] = parts;
  // Days a month does not have (2026-02-30).
  if (new Date(Date.UTC(year, month - 1, day)).getUTCDate() !== day) throw fail();
  let ms: number;
  if (zone === undefined) {
    ms = new Date(year, month - 1, day, hour, minute, second, millis).getTime();
  } else {
    const offset = zone === 'Z' || zone === 'z' ? 0 : (zone.startsWith('-') ? -1 : 1) * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6)));
    ms = Date.UTC(year, month - 1, day, hour, minute, second, millis) - offset * 60_000;
  }
  return new Date(ms);
}
