import type { Volume } from '@strata/api/containers/v1';

/** Go's RFC 3339 of a volume's creation time, to the second, as Docker's volume `CreatedAt`. */
function createdText(time: Date | undefined): string {
  return (time ?? new Date(0)).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * A volume as `docker volume inspect` and the Engine API's
 * `GET /volumes/{name}` show it: CreatedAt, Driver, Labels (null when
 * none), Mountpoint, Name, Options (null), Scope "local".
 */
export function volumeView(volume: Volume): Record<string, unknown> {
  const labels = Object.keys(volume.labels).length > 0 ? { ...volume.labels } : null;
  return { CreatedAt: createdText(volume.createdAt), Driver: volume.driver, Labels: labels, Mountpoint: volume.mountpoint, Name: volume.name, Options: null, Scope: 'local' };
}

/** One row of `docker volume ls --format json`: Driver, Labels (`k=v,…`), Mountpoint, Name, Scope. */
export function volumeRow(volume: Volume): { Driver: string; Labels: string; Mountpoint: string; Name: string; Scope: string } {
  const labels = Object.entries(volume.labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  return { Driver: volume.driver, Labels: labels, Mountpoint: volume.mountpoint, Name: volume.name, Scope: 'local' };
}
