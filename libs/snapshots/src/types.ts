/** Labels of a snapshot: string keys and values (see validateLabels for limits). */
export type Labels = Record<string, string>;

/**
 * What a snapshot is, as in containerd:
 * - `active`: writable, made by prepare, mounted read-write; becomes a
 *   committed snapshot by commit (its key then disappears);
 * - `view`: read-only, made by view; never committed;
 * - `committed`: immutable, named by commit (by chain ID for unpacked
 *   layers); the only kind that can be a parent.
 */
export type Kind = 'active' | 'view' | 'committed';

/** Every {@link Kind}, in the order containerd numbers them after "unknown". */
export const KINDS: readonly Kind[] = ['view', 'active', 'committed'];

/** What a snapshotter knows about one snapshot. */
export interface Info {
  /** The key of an active or view snapshot, the name of a committed one. */
  name: string;
  /** Name of the committed parent; undefined for a snapshot with no parent. */
  parent?: string;
  kind: Kind;
  labels: Labels;
  created: Date;
  updated: Date;
}

/**
 * One mount that, performed in order with the others of its list onto one
 * target, shows a snapshot's file system (the Linux mount(2) arguments).
 *
 * When `cwd` is set, paths inside `options` (overlay's `lowerdir`,
 * `upperdir`, `workdir`) are relative to it: the caller must perform the
 * mount from that directory (chdir, or a child process started there, as
 * snapshots-local's mountAll does). Relative paths keep the option string of
 * a 128-layer overlay under the kernel's one-page (4096 bytes) limit.
 */
export interface Mount {
  /** File system type: `overlay` or `bind`. */
  type: string;
  /** What is mounted: `overlay`, or the absolute directory of a bind mount. */
  source: string;
  /** Where, relative to the caller's mount point; undefined means the mount point itself. */
  target?: string;
  /** mount(8) options, e.g. `ro`, `rbind`, `lowerdir=12/fs:7/fs`. */
  options: string[];
  /** Directory that relative paths in options are resolved against; see above. */
  cwd?: string;
}

/** Disk usage of a snapshot's own directory (not of its parents). */
export interface Usage {
  /** Bytes allocated on disk (st_blocks × 512, hard links counted once, as `du`). */
  size: number;
  /** Distinct inodes, directories included. */
  inodes: number;
}

/** Options of prepare and view. */
export interface PrepareOptions {
  /** Labels of the new snapshot. */
  labels?: Labels;
}

/** Options of commit. */
export interface CommitOptions {
  /** Labels of the committed snapshot; the active snapshot's labels when undefined. */
  labels?: Labels;
}
