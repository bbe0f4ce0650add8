import { mkdir, stat } from 'node:fs/promises';
import { checkMounts, type MountSpec } from '@strata/containers';
import { invalidArgument, unimplemented } from '@strata/kit';
import type { UserMount } from '@strata/runtime-spec';

/**
 * Checks the mounts of a Create with Docker's rules (see checkMounts) and
 * makes what they need on the node: a missing bind source is created
 * (0755, with its parents) when the mount asks for it, as `docker run -v`
 * does. Returns them cleaned, before anything else of the container is
 * made. InvalidArgument 'invalid mount config for type "bind": bind source
 * path does not exist: /x' for a missing source of a `--mount`;
 * Unimplemented for volumes.
 */
export async function prepareMounts(mounts: readonly MountSpec[]): Promise<MountSpec[]> {
  const checked = checkMounts(mounts);
  for (const m of checked) {
    if (m.type === 'volume') throw unimplemented(`volume mounts are not supported on this node yet (${m.source || 'anonymous'} on ${m.target}): use a bind (-v /host/path:${m.target}) or a tmpfs`);
    if (m.type !== 'bind') continue;
    try {
      await stat(m.source);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      if (!m.createMountpoint) throw invalidArgument(`invalid mount config for type "bind": bind source path does not exist: ${m.source}`);
      await mkdir(m.source, { recursive: true, mode: 0o755 });
    }
  }
  return checked;
}

/** The runtime spec's form of the checked mounts (binds and tmpfs; volumes by then are binds of their directory). */
export function runtimeMounts(mounts: readonly MountSpec[]): UserMount[] {
  return mounts.map((m): UserMount => {
    if (m.type === 'tmpfs') {
      return {
        type: 'tmpfs',
        destination: m.target,
        readOnly: m.readOnly,
        ...(m.tmpfsSizeBytes === undefined ? {} : { sizeBytes: m.tmpfsSizeBytes }),
        ...(m.tmpfsMode === undefined ? {} : { mode: m.tmpfsMode }),
        ...(m.tmpfsOptions === undefined ? {} : { options: m.tmpfsOptions }),
      };
    }
    return { type: 'bind', source: m.source, destination: m.target, readOnly: m.readOnly };
  });
}
