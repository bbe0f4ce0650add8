/**
 * A duration as Docker says it (go-units' HumanDuration): `Less than a
 * second`, `5 seconds`, `About a minute`, `3 minutes`, `About an hour`,
 * `20 hours`, `9 days`, `3 weeks`, `4 months`, `2 years`. Negative durations
 * count as zero.
 */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(Math.max(0, ms) / 1000);
  if (seconds < 1) return 'Less than a second';
  if (seconds === 1) return '1 second';
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.floor(seconds / 60);
  if (minutes === 1) return 'About a minute';
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.round(ms / 3_600_000);
  if (hours === 1) return 'About an hour';
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.floor(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.floor(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24 / 30)} months`;
  return `${Math.floor(ms / 3_600_000 / 24 / 365)} years`;
}

/**
 * A time in RFC 3339 as Go formats it: UTC with `Z`, fractional seconds
 * only when there are any (`2024-01-01T00:00:00Z`, `2024-01-01T00:00:00.5Z`).
 */
export function rfc3339(time: Date): string {
  return time.toISOString().replace(/\.(\d*?)0*Z$/, (_, digits: string) => (digits === '' ? 'Z' : `.${digits}Z`));
}

/** A time as Docker's `logs --timestamps` writes it: RFC 3339 with nine fraction digits. */
export function rfc3339Nano(time: Date): string {
  return time.toISOString().replace(/\.(\d{3})Z$/, '.$1000000Z');
}
