import { humanDuration } from '@strata/docker-api/human-time';

/** Docker's duration and time texts, shared with the Docker Engine API (humanDuration, rfc3339). */
export { humanDuration, rfc3339 } from '@strata/docker-api/human-time';

const DECIMAL_UNITS = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB', 'ZB', 'YB'] as const;

/**
 * Bytes as Docker shows them (go-units' HumanSizeWithPrecision): powers of
 * 1000, `precision` significant digits, trailing zeros dropped — `4.26MB`,
 * `5.6MB`, `128MB`, `0B`. A value that rounds up to 1000 moves to the next
 * unit (`1MB`, where Docker would print `1e+03kB`).
 */
export function humanSize(bytes: number, precision = 3): string {
  let size = Math.max(0, bytes);
  let unit = 0;
  for (;;) {
    while (size >= 1000 && unit < DECIMAL_UNITS.length - 1) {
      size /= 1000;
      unit++;
    }
    const rounded = Number(size.toPrecision(precision));
    if (rounded < 1000 || unit === DECIMAL_UNITS.length - 1) return `${rounded}${DECIMAL_UNITS[unit]}`;
    size = rounded;
  }
}

const BINARY_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB', 'ZiB', 'YiB'] as const;

/**
 * Bytes in powers of 1024 as `docker stats` shows memory (go-units'
 * BytesSize, `%.4g`): `0B`, `1023B`, `1.5MiB`, `1.944GiB`.
 */
export function binarySize(bytes: number): string {
  let size = Math.max(0, bytes);
  let unit = 0;
  while (size >= 1024 && unit < BINARY_UNITS.length - 1) {
    size /= 1024;
    unit++;
  }
  return `${Number(size.toPrecision(4))}${BINARY_UNITS[unit]}`;
}

/** `<duration> ago` for a time before now, as `docker images` shows CREATED; `N/A` when unknown. */
export function timeAgo(time: Date | undefined, now: Date = new Date()): string {
  if (time === undefined) return 'N/A';
  return `${humanDuration(now.getTime() - time.getTime())} ago`;
}

/** text cut to max characters, its last one replaced by `…` when it is longer (Docker's Ellipsis). */
export function ellipsis(text: string, max: number): string {
  const chars = [...text];
  if (chars.length <= max) return text;
  return max <= 0 ? '' : `${chars.slice(0, max - 1).join('')}…`;
}

/** The first 12 hex digits of a digest or id, without its algorithm: `sha256:a416a98b71e2…` → `a416a98b71e2`. */
export function shortId(id: string): string {
  const colon = id.indexOf(':');
  return id.slice(colon + 1, colon + 1 + 12);
}
