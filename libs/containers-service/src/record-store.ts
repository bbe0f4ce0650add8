import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { decodeRecord, encodeRecord, type ContainerRecord } from '@strata/containers';
import { DISCARDED_DIR, deleteInBackground, discardDir, writeFileDurably, type Logger } from '@strata/kit';

/** File name of a container's record inside its directory. */
export const RECORD_FILE = 'record.json';

/**
 * The durable records of the containers of a node: `<dir>/<id>/record.json`,
 * each written to a temporary file, synced and renamed over the old one
 * (then, unless asked not to, the directory synced), so a crash leaves the
 * old or the new record, never a torn one.
 */
export class RecordStore {
  constructor(
    readonly dir: string,
    private readonly logger: Logger,
  ) {}

  /** The directory of a container (its bundle: config.json, rootfs, etc files, record). */
  containerDir(id: string): string {
    return join(this.dir, id);
  }

  /**
   * Writes record durably; creates its directory (0700) when missing. With
   * syncDirectory false the replacement itself is not flushed: after a
   * power loss the old record may be read (never a torn one), for a change
   * that recovery derives again (a start: runc still knows the container).
   */
  async save(record: ContainerRecord, options: { syncDirectory?: boolean } = {}): Promise<void> {
    const dir = this.containerDir(record.id);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await writeFileDurably(join(dir, RECORD_FILE), encodeRecord(record), options.syncDirectory ?? true);
  }

  /**
   * Every record on disk; unreadable ones are logged and left out. The
   * files of containers whose removal an earlier process did not finish
   * deleting go now, in the background.
   */
  async loadAll(): Promise<ContainerRecord[]> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const out: ContainerRecord[] = [];
    for (const name of await readdir(this.dir)) {
      if (DISCARDED_DIR.test(name)) {
        deleteInBackground(join(this.dir, name), this.deleteFailed);
        continue;
      }
      const path = join(this.dir, name, RECORD_FILE);
      try {
        out.push(decodeRecord(await readFile(path, 'utf8'), path));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOTDIR') continue;
        this.logger.warn({ err, path }, 'container record unreadable; left alone');
      }
    }
    return out;
  }

  /**
   * Removes a container's directory with everything in it (nothing may be
   * mounted there any more): renamed away at once, so the record is gone
   * when this resolves, its files then deleted in the background (by
   * loadAll after a crash).
   */
  async remove(id: string): Promise<void> {
    await discardDir(this.containerDir(id), this.deleteFailed);
  }

  private readonly deleteFailed = (err: unknown, dir: string): void => this.logger.warn({ err, dir }, "cannot delete a removed container's files");
}
