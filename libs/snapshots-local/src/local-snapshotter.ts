import { chmod, mkdir, open, readdir, readFile, unlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { unavailable, type Logger } from '@strata/kit';
import {
  applyLabelUpdate,
  hasChildren,
  noMounts,
  notActive,
  parentNotCommitted,
  parentNotFound,
  parseFilters,
  snapshotExists,
  snapshotNotFound,
  snapshotterClosed,
  validateKey,
  validateLabels,
  type CommitOptions,
  type Info,
  type Kind,
  type Labels,
  type Layout,
  type LocalSnapshotter,
  type Mount,
  type PrepareOptions,
  type SnapshotDirectories,
  type Usage,
} from '@strata/snapshots';
import { diskUsage } from './disk-usage.js';
import { createNativeDriver, createOverlayDriver, type Driver, type DriverSnapshot } from './drivers.js';
import { errnoOf, FS_DIR_MODE, ioFailure, Mutex, PRIVATE_DIR_MODE, processAlive, removeTree, syncDir, syncFileSystem } from './fs-io.js';
import { IdleDeleter } from './idle-deleter.js';
import { infoOf, MetadataDir, type SnapshotRecord } from './metadata.js';

/** How a local snapshotter is set up. */
export interface LocalSnapshotterOptions {
  /**
   * Directory of its state, created with mode 0700: `snapshots/<id>/fs` and
   * `snapshots/<id>/work` per snapshot (short numbers keep overlay options
   * short), `metadata/<id>.json` per snapshot, and `lock` (the owner's pid).
   */
  root: string;
  /** `overlay` (the default; needs kernel overlayfs) or `native` (full copies). */
  driver?: Layout;
  logger: Logger;
  /**
   * Flush the file system before a commit is recorded, so that even a power
   * loss never leaves a committed snapshot with missing content (default
   * true; a SIGKILL needs no flush).
   */
  syncOnCommit?: boolean;
}

interface Entry {
  record: SnapshotRecord;
  /** Usage of a committed snapshot, computed once. */
  usage?: Usage;
}

const openRoots = new Set<string>();

/**
 * Removed snapshots' directories are deleted once no snapshot operation
 * has come for this long, or when this many wait (see IdleDeleter).
 */
const DELETE_WHEN_IDLE_MS = 200;
const DELETE_BACKLOG = 16;

/**
 * Opens (creating if needed) a snapshotter whose snapshots are directories
 * under options.root, with the overlay or the native driver. It takes the
 * root for this process (a `lock` file with its pid), loads the metadata and
 * removes what a crash left behind (see cleanup). Unavailable when another
 * live process, or another snapshotter of this process, holds the root;
 * DataLoss when a metadata record is damaged; Internal/ResourceExhausted for
 * file system failures.
 *
 * Operations that change metadata are serialized; a prepare's copy (native)
 * and a remove's deletion run outside that lock, so calls may be made
 * concurrently. A snapshot appears in the metadata only once its directory
 * is complete, and disappears from it before its directory is deleted: in
 * the background once snapshot operations pause for 200 ms or 16 removed
 * directories wait, and at the latest by cleanup() and close().
 */
export async function createLocalSnapshotter(options: LocalSnapshotterOptions): Promise<LocalSnapshotter> {
  const root = resolve(options.root);
  const driver = options.driver === 'native' ? createNativeDriver() : await createOverlayDriver();
  const logger = options.logger.child({ snapshotter: driver.layout, root });
  try {
    for (const path of [root, join(root, 'snapshots'), join(root, 'metadata')]) {
      await mkdir(path, { recursive: true, mode: PRIVATE_DIR_MODE });
      await chmod(path, PRIVATE_DIR_MODE);
    }
  } catch (err) {
    throw ioFailure(err, `cannot create snapshot root ${root}`);
  }
  await lockRoot(root);
  try {
    const snapshotter = new DirectorySnapshotter(root, driver, logger, options.syncOnCommit ?? true);
    await snapshotter.open();
    return snapshotter;
  } catch (err) {
    await unlockRoot(root);
    throw ioFailure(err, `cannot open snapshot root ${root}`);
  }
}

async function lockRoot(root: string): Promise<void> {
  const path = join(root, 'lock');
  if (openRoots.has(root)) throw unavailable(`snapshot root ${root} is in use by another snapshotter of this process`);
  const held = Number((await readFile(path, 'utf8').catch(() => '')).trim());
  if (Number.isSafeInteger(held) && held > 0 && held !== process.pid && processAlive(held)) {
    throw unavailable(`snapshot root ${root} is in use by process ${held}; stop it or choose another root`);
  }
  try {
    const fh = await open(path, 'w', 0o600);
    await fh.writeFile(`${process.pid}\n`);
    await fh.close();
  } catch (err) {
    throw ioFailure(err, `cannot lock snapshot root ${root}`);
  }
  openRoots.add(root);
}

async function unlockRoot(root: string): Promise<void> {
  openRoots.delete(root);
  await unlink(join(root, 'lock')).catch(() => undefined);
}

class DirectorySnapshotter implements LocalSnapshotter {
  private readonly snapshotsDir: string;
  private readonly metadata: MetadataDir;
  private readonly mutex = new Mutex();
  private readonly entries = new Map<string, Entry>();
  /** Keys of snapshots being prepared, with their directory numbers. */
  private readonly reserved = new Map<string, number>();
  /** Children (prepared or being prepared) per committed name. */
  private readonly children = new Map<string, number>();
  /** Directory numbers being made or deleted: cleanup leaves them alone. */
  private readonly busy = new Set<number>();
  /** Background work: flushes and deletions of removed snapshots' directories. */
  private readonly pending = new Set<Promise<void>>();
  /** Deletions of removed snapshots' directories, run when operations pause. */
  private readonly deleter = new IdleDeleter({ idleMs: DELETE_WHEN_IDLE_MS, maxBacklog: DELETE_BACKLOG });
  private nextId = 1;
  private closed = false;

  constructor(
    private readonly root: string,
    private readonly driver: Driver,
    private readonly logger: Logger,
    private readonly syncOnCommit: boolean,
  ) {
    this.snapshotsDir = join(root, 'snapshots');
    this.metadata = new MetadataDir(join(root, 'metadata'));
  }

  async open(): Promise<void> {
    for (const record of await this.metadata.load()) {
      this.entries.set(record.key, { record });
      if (record.parent !== undefined) this.addChild(record.parent, 1);
      this.nextId = Math.max(this.nextId, record.id + 1);
    }
    for (const name of await readdir(this.snapshotsDir)) {
      if (/^\d+$/.test(name)) this.nextId = Math.max(this.nextId, Number(name) + 1);
    }
    await this.metadata.removeStaleTemps(this.logger, true);
    await this.mutex.run(() => this.removeLeftovers());
  }

  async stat(key: string): Promise<Info> {
    return infoOf(this.get(key).record);
  }

  async update(key: string, labels: Labels, fieldPaths: readonly string[] = []): Promise<Info> {
    this.get(key);
    return this.mutex.run(async () => {
      const entry = this.get(key);
      const next = applyLabelUpdate(entry.record.labels, labels, fieldPaths);
      const record: SnapshotRecord = { ...entry.record, labels: next, updated: new Date() };
      await this.write(record, `cannot update snapshot ${key}`);
      entry.record = record;
      return infoOf(record);
    });
  }

  async usage(key: string): Promise<Usage> {
    const entry = this.get(key);
    if (entry.usage !== undefined) return { ...entry.usage };
    let usage: Usage;
    try {
      usage = await diskUsage(this.fsDir(entry.record.id));
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') throw snapshotNotFound(key);
      throw ioFailure(err, `cannot measure snapshot ${key}`);
    }
    if (entry.record.kind === 'committed' && this.entries.get(key) === entry) entry.usage = usage;
    return { ...usage };
  }

  async mounts(key: string): Promise<Mount[]> {
    const { record } = this.get(key);
    if (record.kind === 'committed') throw noMounts(key);
    return this.driver.mounts(this.driverSnapshot(record), this.snapshotsDir);
  }

  prepare(key: string, parent?: string, options: PrepareOptions = {}): Promise<Mount[]> {
    return this.create('active', key, parent, options);
  }

  view(key: string, parent?: string, options: PrepareOptions = {}): Promise<Mount[]> {
    return this.create('view', key, parent, options);
  }

  async commit(name: string, key: string, options: CommitOptions = {}): Promise<void> {
    validateKey(name, 'name');
    const labels = options.labels === undefined ? undefined : validateLabels(options.labels);
    const entry = this.get(key);
    if (entry.record.kind !== 'active') throw notActive(key, entry.record.kind);
    if (this.entries.has(name) || this.reserved.has(name)) throw snapshotExists(name);
    this.deleter.touch();
    if (this.syncOnCommit) await syncFileSystem(this.fsDir(entry.record.id));
    await this.mutex.run(async () => {
      const current = this.get(key);
      if (current.record.kind !== 'active') throw notActive(key, current.record.kind);
      if (this.entries.has(name) || this.reserved.has(name)) throw snapshotExists(name);
      const record: SnapshotRecord = {
        ...current.record,
        key: name,
        kind: 'committed',
        labels: labels ?? current.record.labels,
        updated: new Date(),
      };
      await this.write(record, `cannot commit snapshot ${key} as ${name}`);
      this.entries.delete(key);
      this.entries.set(name, { record });
    });
    this.logger.debug({ key, name }, 'committed a snapshot');
  }

  async remove(key: string): Promise<void> {
    this.get(key);
    await this.mutex.run(async () => {
      const { record } = this.get(key);
      const children = this.children.get(key) ?? 0;
      if (children > 0) throw hasChildren(key, children);
      this.busy.add(record.id);
      try {
        await this.metadata.delete(record.id);
      } catch (err) {
        this.busy.delete(record.id);
        throw ioFailure(err, `cannot remove snapshot ${key}`);
      }
      this.entries.delete(key);
      if (record.parent !== undefined) this.addChild(record.parent, -1);
      this.deleter.add(() => this.deleteDirectory(key, record.id));
    });
  }

  /** Deletes a removed snapshot's directory once its removal from the metadata is durable. */
  private async deleteDirectory(key: string, id: number): Promise<void> {
    try {
      await this.metadata.flush();
      await removeTree(join(this.snapshotsDir, String(id)));
      await this.metadata.purge(id);
    } catch (err) {
      this.logger.warn({ key, id, err }, 'a removed snapshot left its directory; cleanup removes it');
    } finally {
      this.busy.delete(id);
    }
  }

  /** Tracks work that outlives the call that started it; close() and cleanup() wait for it. */
  private background(work: Promise<void>): void {
    const tracked = work.catch((err: unknown) => this.logger.warn({ err }, 'background snapshot work failed'));
    this.pending.add(tracked);
    void tracked.finally(() => this.pending.delete(tracked));
  }

  async *list(filters: readonly string[] = []): AsyncIterable<Info> {
    this.checkOpen();
    const matches = parseFilters(filters);
    for (const { record } of [...this.entries.values()]) {
      const info = infoOf(record);
      if (matches(info)) yield info;
    }
  }

  async cleanup(): Promise<void> {
    this.checkOpen();
    await this.deleter.drain();
    await Promise.all([...this.pending]);
    await this.mutex.run(() => this.removeLeftovers());
    await this.metadata.removeStaleTemps(this.logger, false);
  }

  async directories(key: string): Promise<SnapshotDirectories> {
    const { record } = this.get(key);
    const snapshot = this.driverSnapshot(record);
    const out: SnapshotDirectories = {
      key,
      kind: record.kind,
      layout: this.driver.layout,
      lowers: this.driver.lowers(snapshot, this.snapshotsDir),
    };
    if (record.kind !== 'view') out.upper = this.fsDir(record.id);
    return out;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.mutex.run(async () => undefined);
    await this.deleter.drain();
    await Promise.all([...this.pending]);
    await this.metadata.close();
    await unlockRoot(this.root);
  }

  private async create(kind: Kind, key: string, parent: string | undefined, options: PrepareOptions): Promise<Mount[]> {
    this.checkOpen();
    validateKey(key);
    if (parent !== undefined && parent !== '') validateKey(parent, 'parent');
    const parentName = parent === '' ? undefined : parent;
    const labels = validateLabels(options.labels ?? {});
    this.deleter.touch();
    const id = await this.mutex.run(async () => {
      this.checkOpen();
      if (this.entries.has(key) || this.reserved.has(key)) throw snapshotExists(key);
      if (parentName !== undefined) {
        const p = this.entries.get(parentName);
        if (p === undefined) throw parentNotFound(parentName);
        if (p.record.kind !== 'committed') throw parentNotCommitted(parentName, p.record.kind);
        this.addChild(parentName, 1);
      }
      const reservedId = this.nextId++;
      this.reserved.set(key, reservedId);
      this.busy.add(reservedId);
      return reservedId;
    });
    const now = new Date();
    const record: SnapshotRecord = { id, key, kind, labels, created: now, updated: now };
    if (parentName !== undefined) record.parent = parentName;
    const dir = join(this.snapshotsDir, String(id));
    try {
      await mkdir(dir, { mode: PRIVATE_DIR_MODE });
      await Promise.all([
        mkdir(join(dir, 'fs'), { mode: FS_DIR_MODE }),
        this.driver.layout === 'overlay' ? mkdir(join(dir, 'work'), { mode: PRIVATE_DIR_MODE }) : undefined,
      ]);
      const snapshot = this.driverSnapshot(record);
      await this.driver.populate(snapshot, this.snapshotsDir);
      await this.metadata.put(record, 'soon');
      this.background(this.metadata.flush());
      this.entries.set(key, { record });
      return this.driver.mounts(snapshot, this.snapshotsDir);
    } catch (err) {
      if (parentName !== undefined) this.addChild(parentName, -1);
      await removeTree(dir).catch(() => undefined);
      throw ioFailure(err, `cannot prepare snapshot ${key}`);
    } finally {
      this.reserved.delete(key);
      this.busy.delete(id);
    }
  }

  /** Removes snapshot directories no record or operation owns. Runs under the mutex. */
  private async removeLeftovers(): Promise<void> {
    const owned = new Set<string>([...this.entries.values()].map((e) => String(e.record.id)));
    for (const id of this.busy) owned.add(String(id));
    let removed = 0;
    for (const name of await readdir(this.snapshotsDir)) {
      if (owned.has(name)) continue;
      await removeTree(join(this.snapshotsDir, name));
      removed++;
      this.logger.info({ dir: name }, 'removed a snapshot directory that no snapshot owns');
    }
    if (removed > 0) await syncDir(this.snapshotsDir);
  }

  private async write(record: SnapshotRecord, what: string): Promise<void> {
    try {
      await this.metadata.put(record, 'now');
    } catch (err) {
      throw ioFailure(err, what);
    }
  }

  private get(key: string): Entry {
    this.checkOpen();
    validateKey(key);
    const entry = this.entries.get(key);
    if (entry === undefined) throw snapshotNotFound(key);
    return entry;
  }

  private checkOpen(): void {
    if (this.closed) throw snapshotterClosed();
  }

  private addChild(parent: string, delta: number): void {
    const n = (this.children.get(parent) ?? 0) + delta;
    if (n > 0) this.children.set(parent, n);
    else this.children.delete(parent);
  }

  private fsDir(id: number): string {
    return join(this.snapshotsDir, String(id), 'fs');
  }

  /** The record with its parents' directory numbers, nearest first. */
  private driverSnapshot(record: SnapshotRecord): DriverSnapshot {
    const parents: number[] = [];
    for (let name = record.parent; name !== undefined; ) {
      const parent = this.entries.get(name);
      if (parent === undefined) break;
      parents.push(parent.record.id);
      name = parent.record.parent;
    }
    return { id: record.id, kind: record.kind, parents };
  }
}
