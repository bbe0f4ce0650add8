import { describe, expect, it } from 'vitest';
import { binarySize, ellipsis, humanDuration, humanSize, rfc3339, shortId, timeAgo } from './human-units.js';

describe('humanSize', () => {
  it.each([
    [0, '0B'],
    [7, '7B'],
    [999, '999B'],
    [1000, '1kB'],
    [1234, '1.23kB'],
    [4_261_550, '4.26MB'],
    [5_600_000, '5.6MB'],
    [12_345_678, '12.3MB'],
    [45_600_000, '45.6MB'],
    [128_300_000, '128MB'],
    [999_600, '1MB'],
    [999_499, '999kB'],
    [2_500_000_000, '2.5GB'],
    [-5, '0B'],
  ])('%d bytes is %s', (bytes, text) => expect(humanSize(bytes)).toBe(text));

  it('takes the number of significant digits', () => expect(humanSize(3_376_000, 4)).toBe('3.376MB'));
});

describe('binarySize', () => {
  it.each([
    [0, '0B'],
    [1023, '1023B'],
    [1024, '1KiB'],
    [1_572_864, '1.5MiB'],
    [2_087_354_106, '1.944GiB'],
    [67_108_864, '64MiB'],
    [1_048_575, '1024KiB'],
    [-1, '0B'],
  ])('%d bytes is %s', (bytes, text) => expect(binarySize(bytes)).toBe(text));
});

describe('humanDuration', () => {
  const s = 1000;
  const h = 3600 * s;
  it.each([
    [0, 'Less than a second'],
    [999, 'Less than a second'],
    [1 * s, '1 second'],
    [59 * s, '59 seconds'],
    [60 * s, 'About a minute'],
    [119 * s, 'About a minute'],
    [59 * 60 * s, '59 minutes'],
    [60 * 60 * s, 'About an hour'],
    [89 * 60 * s, 'About an hour'],
    [47 * h, '47 hours'],
    [48 * h, '2 days'],
    [13 * 24 * h, '13 days'],
    [14 * 24 * h, '2 weeks'],
    [59 * 24 * h, '8 weeks'],
    [60 * 24 * h, '2 months'],
    [729 * 24 * h, '24 months'],
    [730 * 24 * h, '2 years'],
    [-5 * s, 'Less than a second'],
  ])('%d ms is %s', (ms, text) => expect(humanDuration(ms)).toBe(text));
});

describe('timeAgo', () => {
  it('says how long ago, or N/A when the time is unknown', () => {
    const now = new Date('2024-01-15T00:00:00Z');
    expect(timeAgo(new Date('2024-01-01T00:00:00Z'), now)).toBe('2 weeks ago');
    expect(timeAgo(undefined, now)).toBe('N/A');
  });
});

describe('rfc3339', () => {
  it.each([
    ['2024-01-01T00:00:00.000Z', '2024-01-01T00:00:00Z'],
    ['2024-01-01T00:00:00.500Z', '2024-01-01T00:00:00.5Z'],
    ['2024-01-01T00:00:00.123Z', '2024-01-01T00:00:00.123Z'],
  ])('%s is %s', (iso, text) => expect(rfc3339(new Date(iso))).toBe(text));
});

describe('ellipsis and shortId', () => {
  it('cuts long text with …', () => {
    expect(ellipsis('abcdef', 6)).toBe('abcdef');
    expect(ellipsis('abcdefg', 6)).toBe('abcde…');
    expect(ellipsis('ääääää', 3)).toBe('ää…');
  });

  it('shortens ids to 12 hex digits', () => {
    expect(shortId('sha256:a416a98b71e224a31ee99cff8e16063554498227d2b696152a9c3e0aa65e5824')).toBe('a416a98b71e2');
    expect(shortId('a416a98b71e224a31ee99cff8e16063554498227d2b696152a9c3e0aa65e5824')).toBe('a416a98b71e2');
  });
});
