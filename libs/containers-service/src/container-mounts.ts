import { mkdir, stat } from 'node:fs/promises';
import { checkMounts, type MountSpec } from '@strata/containers';
import { invalidArgument } from '@strata/kit';
import type { UserMount } from '@strata/runtime-spec';
import type { Volumes } from './volumes.js';

/**
 * Checks the mounts of a Create with Docker's rules (see checkMounts) and
 * makes what they need on the node: a missing bind source is created
 * (0755, with its parents) when the mount asks for it, as `docker run -v`
 * does; a volume is made when missing (an anonymous one, `-v /path`, gets
 * its name here) and its data directory recorded. Returns the mounts
 * cleaned and complete, and the names of the volumes made (for an undo).
 * InvalidArgument 'invalid mount config for type "bind": bind source path
 * does not exist: /x' for a missing source of a `--mount`, and for a bad
 * volume name (Docker's text).
 */
export async function prepareMounts(mounts: readonly MountSpec[], volumes: Volumes): Promise<{ mounts: MountSpec[]; madeVolumes: string[] }> {
  const checked = checkMounts(mounts);
  const madeVolumes: string[] = [];
  const prepared: MountSpec[] = [];
  try {
    for (const m of checked) {
      if (m.type === 'volume') {
        const before = m.source === '' ? undefined : await volumes.inspect(m.source).catch(() => undefined);
        const { volume } = before ?? (await volumes.create(m.source));
        if (before === undefined) madeVolumes.push(volume.name);
        prepared.push({ ...m, source: volume.name, volumePath: volumes.pathOf(volume.name) });
        continue;
      }
      if (m.type === 'bind') {
        try {
          await stat(m.source);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
          if (!m.createMountpoint) throw invalidArgument(`invalid mount config for type "bind": bind source path does not exist: ${m.source}`);
          await mkdir(m.source, { recursive: true, mode: 0o755 });
        }
      }
      prepared.push(m);
    }
  } catch (err) {
    for (const name of madeVolumes) await volumes.remove(name, true).catch(() => undefined);
    throw err;
  }
  return { mounts: prepared, madeVolumes };
}

/** The runtime spec's form of prepared mounts (see prepareMounts): binds and tmpfs; a volume is a bind of its data directory. */
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
    return { type: 'bind', source: m.type === 'volume' ? (m.volumePath ?? '') : m.source, destination: m.target, readOnly: m.readOnly };
  });
}
