import { readdir, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { StrataError, type Logger } from '@strata/kit';
import { validateKey, validateLabels, type Info, type Kind, type Labels } from '@strata/snapshots';
import { DirFlusher, errnoOf, processAlive, TEMP_FILE, writeFileDurably } from './fs-io.js';

/** One snapshot as stored: its Info plus the number of its directory. */
export interface SnapshotRecord {
  /** Directory number: the snapshot lives in `<root>/snapshots/<id>`; never reused while the record exists. */
  id: number;
  key: string;
  kind: Kind;
  parent?: string;
  labels: Labels;
  created: Date;
  updated: Date;
}

/** The public Info of a record. */
export function infoOf(record: SnapshotRecord): Info {
  const info: Info = {
    name: record.key,
    kind: record.kind,
    labels: { ...record.labels },
    created: record.created,
    updated: record.updated,
  };
  if (record.parent !== undefined) info.parent = record.parent;
  return info;
}

const RECORD_FILE = /^(\d+)\.json$/;
/** A record taken out by delete(), until purge() (or the next start) unlinks it. */
const REMOVED_FILE = /^\d+\.json\.removed$/;
const KINDS = new Set<string>(['active', 'view', 'committed']);

function parseRecord(text: string, id: number): SnapshotRecord {
  const raw = JSON.parse(text) as Record<string, unknown>;
  if (raw.id !== id) throw new Error(`id ${String(raw.id)} does not match the file name`);
  if (typeof raw.kind !== 'string' || !KINDS.has(raw.kind)) throw new Error(`unknown kind ${JSON.stringify(raw.kind)}`);
  const created = new Date(String(raw.created));
  const updated = new Date(String(raw.updated));
  if (Number.isNaN(created.getTime()) || Number.isNaN(updated.getTime())) throw new Error('bad timestamps');
  const record: SnapshotRecord = {
    id,
    key: validateKey(raw.key),
    kind: raw.kind as Kind,
    labels: validateLabels(raw.labels),
    created,
    updated,
  };
  if (raw.parent !== undefined) record.parent = validateKey(raw.parent, 'parent');
  return record;
}

/**
 * The durable metadata of a snapshotter: one small JSON file per snapshot,
 * `<dir>/<id>.json`, each replaced atomically (temp file, fsync, rename).
 * Every operation touches one record, so a crash leaves each snapshot as it
 * was before or after the operation. put(…, 'now') also flushes the
 * directory before resolving; put(…, 'soon') and delete leave that to
 * flush(), which coalesces the flushes of concurrent callers.
 */
export class MetadataDir {
  private readonly flusher: DirFlusher;

  constructor(readonly dir: string) {
    this.flusher = new DirFlusher(dir);
  }

  private file(id: number): string {
    return join(this.dir, `${id}.json`);
  }

  /**
   * Writes a record atomically: complete or absent after any crash. With
   * 'now' it is durable when this resolves; with 'soon' after the next flush().
   */
  async put(record: SnapshotRecord, durable: 'now' | 'soon'): Promise<void> {
    const { id, key, kind, parent, labels, created, updated } = record;
    const json = JSON.stringify({ id, key, kind, parent, labels, created: created.toISOString(), updated: updated.toISOString() });
    await writeFileDurably(this.file(id), json, false);
    if (durable === 'now') await this.flusher.flush();
  }

  /**
   * Takes a record out: renamed to `<id>.json.removed`, a name load()
   * skips, for purge() to unlink later. A rename frees no disk blocks, where
   * an unlink on a file system mounted with online discard waits for the
   * disk to trim them (over a millisecond per record here). No error when
   * absent. Durable after the next flush().
   */
  async delete(id: number): Promise<void> {
    try {
      await rename(this.file(id), `${this.file(id)}.removed`);
    } catch (err) {
      if (errnoOf(err) !== 'ENOENT') throw err;
    }
  }

  /** Unlinks what delete(id) left; no error when absent. */
  async purge(id: number): Promise<void> {
    try {
      await unlink(`${this.file(id)}.removed`);
    } catch (err) {
      if (errnoOf(err) !== 'ENOENT') throw err;
    }
  }

  /** Makes every put and delete made before the call durable. */
  flush(): Promise<void> {
    return this.flusher.flush();
  }

  /** Lets go of the directory's descriptor kept for flushes (after the last flush; a later one opens it again). */
  close(): Promise<void> {
    return this.flusher.close();
  }

  /**
   * Reads every record. DataLoss naming the file when one cannot be parsed
   * (records are replaced atomically, so only a damaged disk does that).
   */
  async load(): Promise<SnapshotRecord[]> {
    const out: SnapshotRecord[] = [];
    for (const name of await readdir(this.dir)) {
      const m = RECORD_FILE.exec(name);
      if (m === null) continue;
      const path = join(this.dir, name);
      try {
        out.push(parseRecord(await readFile(path, 'utf8'), Number(m[1])));
      } catch (cause) {
        throw new StrataError(
          'DataLoss',
          `snapshot metadata ${path} is damaged (${(cause as Error).message}); move it away to start without that snapshot`,
          { cause, fields: { path } },
        );
      }
    }
    return out;
  }

  /**
   * Removes temp files whose writer process is gone (or is this process:
   * called when nothing writes), and records taken out that were never
   * purged (purging one early is harmless). Returns how many files.
   */
  async removeStaleTemps(logger: Logger, ownWritesIdle: boolean): Promise<number> {
    let removed = 0;
    for (const name of await readdir(this.dir)) {
      if (REMOVED_FILE.test(name)) {
        await unlink(join(this.dir, name)).catch((err: unknown) => {
          if (errnoOf(err) !== 'ENOENT') throw err;
        });
        continue;
      }
      const m = TEMP_FILE.exec(name);
      if (m === null) continue;
      const pid = Number(m[1]);
      if (pid === process.pid ? !ownWritesIdle : processAlive(pid)) continue;
      try {
        await unlink(join(this.dir, name));
        removed++;
        logger.info({ file: name }, 'removed a leftover metadata temp file');
      } catch (err) {
        if (errnoOf(err) !== 'ENOENT') throw err;
      }
    }
    return removed;
  }
}
