import { mkdir, stat } from 'node:fs/promises';
import { posix } from 'node:path';
import { checkMounts, type MountSpec } from '@strata/containers';
import { invalidArgument } from '@strata/kit';
import type { UserMount } from '@strata/runtime-spec';
import { copyImageContent } from './volume-content.js';
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

/**
 * The anonymous volumes of an image's `VOLUME`s that no mount of the
 * container covers, made on the node. Each path is cleaned as if absolute
 * (`/../../etc` is `/etc`: nothing above the container's root is named,
 * CVE-2022-23648); `/` and paths with NUL bytes are skipped. Resolves
 * with the new mounts and the names of the volumes made.
 */
export async function imageVolumeMounts(
  imageVolumes: Readonly<Record<string, unknown>> | undefined,
  mounts: readonly MountSpec[],
  volumes: Volumes,
): Promise<{ mounts: MountSpec[]; madeVolumes: string[] }> {
  const taken = new Set(mounts.map((m) => m.target));
  const made: MountSpec[] = [];
  for (const path of Object.keys(imageVolumes ?? {})) {
    if (path.includes('\0')) continue;
    const target = posix.resolve('/', path);
    if (target === '/' || taken.has(target)) continue;
    taken.add(target);
    const { volume } = await volumes.create(undefined);
    made.push({ type: 'volume', source: volume.name, target, readOnly: false, volumePath: volumes.pathOf(volume.name) });
  }
  return { mounts: made, madeVolumes: made.map((m) => m.source) };
}

/**
 * Copies the image's content into the container's empty volumes (see
 * copyImageContent), as Docker does at create; a `-v` with mode nocopy is
 * left empty. tmpDir holds the copies' scratch files.
 */
export async function populateVolumes(rootfs: string, mounts: readonly MountSpec[], tmpDir: string): Promise<void> {
  for (const m of mounts) {
    if (m.type !== 'volume' || m.volumePath === undefined || (m.mode ?? '').split(',').includes('nocopy')) continue;
    await copyImageContent(rootfs, m.target, m.volumePath, tmpDir);
  }
}
