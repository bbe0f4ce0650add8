const UNITS = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/**
 * bytes in binary units as placement messages show them: `512 bytes`,
 * `256 MiB`, `1.5 GiB` (at most one decimal, none when whole); negative
 * amounts keep their sign.
 */
export function formatBytes(bytes: number): string {
  const sign = bytes < 0 ? '-' : '';
  let n = Math.abs(bytes);
  let unit = 0;
  while (n >= 1024 && unit < UNITS.length - 1) {
    n /= 1024;
    unit++;
  }
  const rounded = Math.round(n * 10) / 10;
  return `${sign}${Number.isInteger(rounded) ? rounded.toFixed(0) : rounded.toFixed(1)} ${UNITS[unit]}`;
}

/** A CPU amount as placement messages show it: `2`, `1.5`, `0.25`. */
export function formatCpus(cpus: number): string {
  return String(Math.round(cpus * 1000) / 1000);
}
