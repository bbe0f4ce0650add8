import type { CommitOptions, Info, Kind, Labels, Mount, PrepareOptions, Usage } from './types.js';

/**
 * Snapshots of file systems with containerd's semantics: layers unpacked
 * once per host and stacked, containers as writable snapshots on top.
 *
 * Keys and names are one namespace: an active or view snapshot is known by
 * its key, a committed one by its name (a chain ID for unpacked layers).
 * Only committed snapshots are parents. Implemented by the local overlay and
 * native drivers (snapshots-local) and by the gRPC client; every
 * implementation passes snapshotterSuite. Messages of the errors are those of
 * ./errors.ts, so callers and tests can rely on them.
 *
 * Errors common to every method: InvalidArgument for a malformed key, name,
 * label or filter (validateKey, validateLabels); NotFound for an unknown key.
 */
export interface Snapshotter {
  /** The snapshot's info. NotFound when absent. */
  stat(key: string): Promise<Info>;

  /**
   * Replaces labels, the only thing that changes after creation. fieldPaths
   * `labels` or `labels.<key>` limit what changes (a listed key absent from
   * labels is removed); none means all labels. InvalidArgument for any other
   * path; NotFound when absent.
   */
  update(key: string, labels: Labels, fieldPaths?: readonly string[]): Promise<Info>;

  /**
   * Disk usage of the snapshot's own directory (not its parents'); computed
   * on demand for active snapshots. NotFound when absent.
   */
  usage(key: string): Promise<Usage>;

  /**
   * The mounts that show an active (read-write) or view (read-only)
   * snapshot. NotFound when absent; FailedPrecondition for a committed
   * snapshot (view or prepare one on top of it).
   */
  mounts(key: string): Promise<Mount[]>;

  /**
   * Creates an active snapshot key on top of the committed parent (none: an
   * empty one) and returns its mounts. AlreadyExists when key is taken;
   * NotFound when parent is absent; FailedPrecondition when parent is not
   * committed.
   */
  prepare(key: string, parent?: string, options?: PrepareOptions): Promise<Mount[]>;

  /**
   * Creates a read-only view key of the committed parent (none: an empty
   * directory) and returns its mounts. Errors as prepare.
   */
  view(key: string, parent?: string, options?: PrepareOptions): Promise<Mount[]>;

  /**
   * Turns the active snapshot key into the committed snapshot name; key
   * disappears. The caller must have unmounted it and stopped writing.
   * NotFound when key is absent; FailedPrecondition when it is not active;
   * AlreadyExists when name is taken. Durable when it resolves: a crash never
   * leaves a committed snapshot whose content is incomplete.
   */
  commit(name: string, key: string, options?: CommitOptions): Promise<void>;

  /**
   * Removes a snapshot of any kind: when this resolves it is gone from every
   * call; its storage is reclaimed soon after (a local driver deletes the
   * directory once the removal is durable; close and cleanup wait for it).
   * NotFound when absent; FailedPrecondition when other snapshots have it as
   * parent.
   */
  remove(key: string): Promise<void>;

  /**
   * Every snapshot matching the filters (see parseFilters: a snapshot is
   * listed when any filter matches; none lists all), in no set order.
   * Snapshots made or removed while listing may or may not be seen.
   */
  list(filters?: readonly string[]): AsyncIterable<Info>;

  /**
   * Removes what no snapshot owns any more: directories left by a crash or
   * an interrupted remove. Snapshots themselves are never touched.
   */
  cleanup(): Promise<void>;

  /** Releases the snapshotter's resources; other calls fail afterwards. */
  close(): Promise<void>;
}

/** How a local driver lays a snapshot out on disk (see SnapshotDirectories). */
export type Layout = 'overlay' | 'native';

/**
 * Where a snapshot of a snapshotter on this host lives, for the Diff
 * service of the same host, which applies layers into and diffs snapshots
 * from these directories without mounting them.
 */
export interface SnapshotDirectories {
  key: string;
  kind: Kind;
  /**
   * `overlay`: upper holds only this snapshot's changes, deletions as
   * overlay whiteouts (character device 0:0; opaque directories have xattr
   * `trusted.overlay.opaque=y`), and lowers are the parents' directories.
   * `native`: upper is the whole tree (a copy of the parent's), so an apply
   * deletes files outright, and lowers[0] is the parent's whole tree.
   */
  layout: Layout;
  /**
   * The snapshot's own directory: writable for an active snapshot, frozen
   * for a committed one. Undefined for a view (its mounts show lowers).
   */
  upper?: string;
  /**
   * The committed parents' directories, nearest parent first: every
   * ancestor for `overlay`, only the parent for `native`; empty without a
   * parent.
   */
  lowers: string[];
}

/** A snapshotter on this host, whose snapshots are directories. */
export interface LocalSnapshotter extends Snapshotter {
  /** The snapshot's directories (see SnapshotDirectories). NotFound when absent. */
  directories(key: string): Promise<SnapshotDirectories>;
}
