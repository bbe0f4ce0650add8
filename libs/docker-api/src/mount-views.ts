import { MountType, type Mount } from '@strata/api/containers/v1';
import type { MountSpec } from '@strata/containers';

const WIRE_TYPE: Record<MountSpec['type'], MountType> = {
  bind: MountType.MOUNT_TYPE_BIND,
  volume: MountType.MOUNT_TYPE_VOLUME,
  tmpfs: MountType.MOUNT_TYPE_TMPFS,
};

/** The Containers API's form of a mount. */
export function mountToWire(m: MountSpec): Mount {
  return {
    type: WIRE_TYPE[m.type],
    source: m.source,
    target: m.target,
    readOnly: m.readOnly,
    ...(m.mode === undefined ? {} : { mode: m.mode }),
    createMountpoint: m.createMountpoint === true,
    tmpfsSizeBytes: m.tmpfsSizeBytes ?? 0,
    tmpfsMode: m.tmpfsMode ?? 0,
    ...(m.tmpfsOptions === undefined ? {} : { tmpfsOptions: m.tmpfsOptions }),
    ...(m.volumePath === undefined ? {} : { volumePath: m.volumePath }),
  };
}

/** Docker's name of a mount type. */
export function mountTypeName(type: MountType): string {
  return type === MountType.MOUNT_TYPE_BIND ? 'bind' : type === MountType.MOUNT_TYPE_VOLUME ? 'volume' : type === MountType.MOUNT_TYPE_TMPFS ? 'tmpfs' : '';
}

/** A mount as an entry of Docker's container `Mounts` (inspect and list). */
export interface MountPointView {
  Type: string;
  Name?: string;
  Source: string;
  Destination: string;
  Driver?: string;
  Mode: string;
  RW: boolean;
  Propagation: string;
}

/**
 * Docker's `Mounts` of a container: binds with propagation rprivate and the
 * mode of their `-v` (`ro`, or '' for a `--mount`), volumes with their
 * name, data directory and driver (mode `z` for a `-v` without one), tmpfs mounts of
 * `--mount`; a `--tmpfs` is not listed (Docker shows it only in
 * HostConfig.Tmpfs).
 */
export function mountPointsView(mounts: readonly Mount[]): MountPointView[] {
  return mounts
    .filter((m) => m.tmpfsOptions === undefined)
    .map((m) =>
      m.type === MountType.MOUNT_TYPE_VOLUME
        ? {
            Type: 'volume',
            Name: m.source,
            Source: m.volumePath ?? '',
            Destination: m.target,
            Driver: 'local',
            // Docker's daemon gives a `-v` volume the SELinux label mode z when it names none.
            Mode: m.mode === '' ? 'z' : (m.mode ?? ''),
            RW: !m.readOnly,
            Propagation: '',
          }
        : {
            Type: mountTypeName(m.type),
            Source: m.source,
            Destination: m.target,
            Mode: m.mode ?? '',
            RW: !m.readOnly,
            Propagation: m.type === MountType.MOUNT_TYPE_BIND ? 'rprivate' : '',
          },
    );
}

/**
 * The mount fields of Docker's HostConfig as the container was created:
 * `Binds` (the `-v` values, null when none), `Tmpfs` (the `--tmpfs`
 * entries, left out when none) and `Mounts` (the `--mount` values, left
 * out when none).
 */
export function hostConfigMounts(mounts: readonly Mount[]): Record<string, unknown> {
  const binds = mounts.filter((m) => m.mode !== undefined).map((m) => [m.source, m.target, ...(m.mode ? [m.mode] : [])].filter(Boolean).join(':'));
  const tmpfs = mounts.filter((m) => m.tmpfsOptions !== undefined);
  const given = mounts.filter((m) => m.mode === undefined && m.tmpfsOptions === undefined);
  return {
    Binds: binds.length > 0 ? binds : null,
    ...(tmpfs.length > 0 ? { Tmpfs: Object.fromEntries(tmpfs.map((m) => [m.target, m.tmpfsOptions])) } : {}),
    ...(given.length > 0
      ? {
          Mounts: given.map((m) => ({
            Type: mountTypeName(m.type),
            ...(m.source === '' ? {} : { Source: m.source }),
            Target: m.target,
            ...(m.readOnly ? { ReadOnly: true } : {}),
            ...(m.type === MountType.MOUNT_TYPE_TMPFS && (m.tmpfsSizeBytes !== 0 || m.tmpfsMode !== 0)
              ? { TmpfsOptions: { ...(m.tmpfsSizeBytes ? { SizeBytes: m.tmpfsSizeBytes } : {}), ...(m.tmpfsMode ? { Mode: m.tmpfsMode } : {}) } }
              : {}),
          })),
        }
      : {}),
  };
}
