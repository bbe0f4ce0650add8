import { randomBytes } from 'node:crypto';
import { lstat, mkdir, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  ANONYMOUS_VOLUME_LABEL,
  VOLUME_NAME,
  checkVolumeName,
  decodeVolume,
  encodeVolume,
  noSuchVolume,
  volumeFilter,
  volumeInUse,
  type VolumeRecord,
  type VolumeUse,
} from '@strata/containers';
import { invalidArgument, isNotFound, writeFileDurably, type EventSink, type Logger } from '@strata/kit';
import { KeyedLock } from './keyed-lock.js';

/** File of a volume's record, beside its `_data` directory. */
const RECORD_FILE = 'volume.json';

/** Settings of {@link createVolumes}. */
export interface VolumesOptions {
  /** Where volumes live: `<dir>/<name>/_data` and `<dir>/<name>/volume.json` (0700 but `_data`, 0755). */
  dir: string;
  /** Ids of the containers whose mounts name volume (being created included). */
  users: (name: string) => string[];
  events: EventSink;
  node: string;
  logger: Logger;
}

/** What {@link Volumes.prune} removed. */
export interface PruneResult {
  deleted: string[];
  spaceReclaimed: number;
}

/**
 * The volumes of a node (driver "local"): directories the containers
 * mount, which outlive them. Errors with Docker's texts: InvalidArgument
 * for a bad name or driver, NotFound "get NAME: no such volume",
 * FailedPrecondition "remove NAME: volume is in use - [ids]".
 */
export interface Volumes {
  /**
   * Makes a volume (publishes volume.created), or returns the one of that
   * name as it is; without a name, an anonymous volume (a 64-hex name and
   * the label com.docker.volume.anonymous).
   */
  create(name: string | undefined, options?: { labels?: Record<string, string>; driver?: string }): Promise<VolumeUse>;
  /** The volumes matching filters (see volumeFilter), by name. */
  list(filters?: readonly string[]): Promise<VolumeUse[]>;
  inspect(name: string): Promise<VolumeUse>;
  /** Deletes a volume no container has, with its data; publishes volume.deleted. With force, a missing one is no error. */
  remove(name: string, force?: boolean): Promise<void>;
  /** Removes the unused volumes that match filters: anonymous ones only unless all. */
  prune(options: { all?: boolean; filters?: readonly string[] }): Promise<PruneResult>;
  /** The data directory of a volume (whether or not it exists). */
  pathOf(name: string): string;
}

/** Bytes of the files below path (not following symlinks); 0 when it is gone. */
async function sizeOf(path: string): Promise<number> {
  let total = 0;
  const walk = async (p: string): Promise<void> => {
    const st = await lstat(p).catch(() => undefined);
    if (st === undefined) return;
    if (st.isDirectory()) {
      for (const entry of await readdir(p).catch(() => [])) await walk(join(p, entry));
    } else {
      total += st.size;
    }
  };
  await walk(path);
  return total;
}

/** Creates the node's volumes over dir. Raises nothing itself. */
export function createVolumes(options: VolumesOptions): Volumes {
  const { dir, users, events, node, logger } = options;
  const lock = new KeyedLock();
  const recordPath = (name: string) => join(dir, name, RECORD_FILE);
  const pathOf = (name: string) => join(dir, name, '_data');
  const use = (volume: VolumeRecord): VolumeUse => ({ volume, usedBy: users(volume.name) });

  async function read(name: string): Promise<VolumeRecord | undefined> {
    try {
      return decodeVolume(await readFile(recordPath(name), 'utf8'), recordPath(name));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
      throw err;
    }
  }

  async function all(): Promise<VolumeRecord[]> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const out: VolumeRecord[] = [];
    for (const name of (await readdir(dir)).sort()) {
      try {
        const v = await read(name);
        if (v !== undefined) out.push(v);
      } catch (err) {
        logger.warn({ err, volume: name }, 'volume record unreadable; left alone');
      }
    }
    return out;
  }

  /** Deletes a volume's directory: renamed aside first, so a crash never leaves a half-removed volume under its name. */
  async function drop(name: string): Promise<number> {
    const size = await sizeOf(pathOf(name));
    const aside = join(dir, `.removing-${name}-${randomBytes(4).toString('hex')}`);
    await rename(join(dir, name), aside);
    await rm(aside, { recursive: true, force: true });
    events.publish('volume.deleted', name, { name, node });
    logger.info({ volume: name }, 'volume removed');
    return size;
  }

  const volumes: Volumes = {
    pathOf,

    async create(name, opts = {}) {
      if (opts.driver !== undefined && opts.driver !== '' && opts.driver !== 'local') {
        throw invalidArgument(`error looking up volume plugin ${opts.driver}: plugin "${opts.driver}" not found`);
      }
      const anonymous = name === undefined || name === '';
      const chosen = anonymous ? randomBytes(32).toString('hex') : checkVolumeName(name);
      return lock.run(chosen, async () => {
        const existing = await read(chosen);
        if (existing !== undefined) return use(existing);
        await mkdir(dir, { recursive: true, mode: 0o700 });
        const volumeDir = join(dir, chosen);
        await mkdir(volumeDir, { recursive: true, mode: 0o700 });
        await mkdir(pathOf(chosen), { recursive: true, mode: 0o755 });
        const volume: VolumeRecord = {
          name: chosen,
          driver: 'local',
          createdAt: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
          labels: { ...opts.labels, ...(anonymous ? { [ANONYMOUS_VOLUME_LABEL]: '' } : {}) },
        };
        await writeFileDurably(recordPath(chosen), encodeVolume(volume), true);
        events.publish('volume.created', chosen, { name: chosen, driver: 'local', node });
        logger.info({ volume: chosen }, 'volume created');
        return use(volume);
      });
    },

    async list(filters = []) {
      const keep = volumeFilter(filters);
      return (await all()).map(use).filter(keep);
    },

    async inspect(name) {
      const volume = VOLUME_NAME.test(name) ? await read(name) : undefined;
      if (volume === undefined) throw noSuchVolume(name);
      return use(volume);
    },

    async remove(name, force = false) {
      await lock.run(name, async () => {
        const volume = VOLUME_NAME.test(name) ? await read(name) : undefined;
        if (volume === undefined) {
          if (force) return;
          throw noSuchVolume(name);
        }
        const usedBy = users(name);
        if (usedBy.length > 0) throw volumeInUse(name, usedBy);
        await drop(name);
      });
    },

    async prune(opts) {
      const keep = volumeFilter(opts.filters ?? []);
      const result: PruneResult = { deleted: [], spaceReclaimed: 0 };
      for (const volume of await all()) {
        if (!opts.all && !(ANONYMOUS_VOLUME_LABEL in volume.labels)) continue;
        await lock.run(volume.name, async () => {
          const current = use(volume);
          if (current.usedBy.length > 0 || !keep(current)) return;
          try {
            result.spaceReclaimed += await drop(volume.name);
            result.deleted.push(volume.name);
          } catch (err) {
            if (!isNotFound(err)) logger.warn({ err, volume: volume.name }, 'cannot prune the volume');
          }
        });
      }
      return result;
    },
  };
  return volumes;
}
