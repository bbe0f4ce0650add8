import { posix } from 'node:path';
import { invalidArgument } from '@strata/kit';

/** What a mount brings into the container: a host path, a volume of the node, or a fresh tmpfs. */
export type MountType = 'bind' | 'volume' | 'tmpfs';

/** Every mount type, as `--mount type=` names them. */
export const MOUNT_TYPES: readonly MountType[] = ['bind', 'volume', 'tmpfs'];

/** One mount a container asks for (`-v`, `--mount`, `--tmpfs`), as Docker's HostConfig keeps it. */
export interface MountSpec {
  type: MountType;
  /** Absolute host path (bind), volume name ('' for an anonymous volume), '' (tmpfs). */
  source: string;
  /** Absolute path in the container, cleaned. */
  target: string;
  readOnly: boolean;
  /** The mode text of a `-v` (`ro`, `rw`, `ro,z`…, possibly ''), Docker's MountPoint.Mode; unset for a `--mount`. */
  mode?: string;
  /** Bind: create a missing source directory, as Docker does for `-v` (never for `--mount`). */
  createMountpoint?: boolean;
  /** Tmpfs: size limit in bytes (`tmpfs-size`); the kernel's default when unset. */
  tmpfsSizeBytes?: number;
  /** Tmpfs: permission bits of its root (`tmpfs-mode`); the kernel's 1777 when unset. */
  tmpfsMode?: number;
  /**
   * Tmpfs of `--tmpfs` (Docker's HostConfig.Tmpfs): its option text
   * (`size=64m,exec`, possibly ''). Docker lists these in HostConfig.Tmpfs,
   * not in Mounts; unset for a `--mount type=tmpfs`.
   */
  tmpfsOptions?: string;
  /** Volume: its data directory on the node, set by the node when it made or found the volume. */
  volumePath?: string;
}

const RW_MODES = new Set(['ro', 'rw']);
const LABEL_MODES = new Set(['z', 'Z']);
const PROPAGATION_MODES = new Set(['private', 'rprivate', 'slave', 'rslave', 'shared', 'rshared']);
const COPY_MODES = new Set(['nocopy']);
const CONSISTENCY_MODES = new Set(['consistent', 'cached', 'delegated']);
const MODE_GROUPS = [RW_MODES, LABEL_MODES, PROPAGATION_MODES, COPY_MODES, CONSISTENCY_MODES];

/** Docker's valid `-v` mode: comma-separated words, at most one of each group (rw/ro, z/Z, propagation, nocopy, consistency). */
export function isValidMountMode(mode: string): boolean {
  if (mode === '') return true;
  const counts = MODE_GROUPS.map(() => 0);
  for (const word of mode.split(',')) {
    const group = MODE_GROUPS.findIndex((g) => g.has(word));
    if (group < 0) return false;
    counts[group]! += 1;
  }
  return counts.every((n) => n <= 1);
}

/** The error of a `-v` value Docker cannot read, with its text. */
const invalidSpec = (raw: string, why?: string) => invalidArgument(`invalid volume specification: '${raw}'${why === undefined ? '' : `: ${why}`}`);

/** The sentence of a mount that breaks a rule, as Docker's errMountConfig words it. */
const mountConfigError = (type: MountType, why: string) => `invalid mount config for type "${type}": ${why}`;

/**
 * A `-v`/`--volume` value (Docker's HostConfig.Binds entry) as Docker's
 * Linux parser reads it: `/host:/ctr[:mode]` is a bind (its source created
 * when missing), `name:/ctr[:mode]` a named volume, `/ctr` an anonymous
 * volume; mode as {@link isValidMountMode}, `ro` making it read-only.
 * Raises InvalidArgument with Docker's texts: "invalid volume
 * specification: 'x'", "invalid mode: x", and the rules of
 * {@link checkMount} after the specification.
 */
export function parseVolumeSpec(raw: string): MountSpec {
  const parts = raw.split(':');
  if (parts[0] === '' || parts.length > 3 || raw.includes('\0')) throw invalidSpec(raw);
  let source = '';
  let target: string;
  let mode = '';
  if (parts.length === 1) target = parts[0]!;
  else {
    // `/ctr:rw` would be a destination with a mode: Docker reads it as no valid volume.
    if (parts.length === 2 && isValidMountMode(parts[1]!)) throw invalidSpec(raw);
    [source, target, mode = ''] = parts as [string, string, string?];
  }
  if (!isValidMountMode(mode)) throw invalidArgument(`invalid mode: ${mode}`);
  const bind = posix.isAbsolute(source);
  const mount: MountSpec = {
    type: bind ? 'bind' : 'volume',
    source: bind ? posix.normalize(source) : source,
    target,
    readOnly: mode.split(',').includes('ro'),
    mode,
    ...(bind ? { createMountpoint: true } : {}),
  };
  try {
    return checkMount(mount);
  } catch (err) {
    throw invalidSpec(raw, (err as Error).message);
  }
}

/**
 * A `--tmpfs` entry (`/path[:options]`, Docker's HostConfig.Tmpfs) as a
 * mount; its options are checked by {@link checkMount}.
 */
export function parseTmpfsSpec(raw: string): MountSpec {
  const colon = raw.indexOf(':');
  const target = colon < 0 ? raw : raw.slice(0, colon);
  const options = colon < 0 ? '' : raw.slice(colon + 1);
  return checkMount({ type: 'tmpfs', source: '', target, readOnly: options.split(',').includes('ro'), tmpfsOptions: options });
}

/** Mount flags a `--tmpfs` may carry (Docker's mount flag words). */
const TMPFS_FLAGS = new Set([
  'defaults', 'ro', 'rw', 'suid', 'nosuid', 'dev', 'nodev', 'exec', 'noexec', 'sync', 'async', 'dirsync', 'remount',
  'mand', 'nomand', 'atime', 'noatime', 'diratime', 'nodiratime', 'relatime', 'norelatime', 'strictatime',
  'nostrictatime', 'private', 'rprivate', 'shared', 'rshared', 'slave', 'rslave', 'unbindable', 'runbindable',
]);
/** Data options the tmpfs file system takes. */
const TMPFS_DATA = new Set(['size', 'mode', 'uid', 'gid', 'nr_inodes', 'nr_blocks', 'mpol']);

/** Go's %q of a list of strings: `["a" "b"]`. */
const goQuoted = (words: readonly string[]) => `[${words.map((w) => JSON.stringify(w)).join(' ')}]`;

/** Checks `--tmpfs` options as Docker's ParseTmpfsOptions: InvalidArgument "invalid tmpfs option [\"x\"]". */
function checkTmpfsOptions(options: string): void {
  if (options === '') return;
  for (const option of options.split(',')) {
    if (TMPFS_FLAGS.has(option)) continue;
    const eq = option.indexOf('=');
    const words = eq < 0 ? [option] : [option.slice(0, eq), option.slice(eq + 1)];
    if (eq < 0 || !TMPFS_DATA.has(words[0]!) || words[1]!.includes('\0')) throw invalidArgument(`invalid tmpfs option ${goQuoted(words)}`);
  }
}

/** Docker's rules for a target: set, absolute, not `/`. Returns it cleaned; a message without the mount type when not. */
function checkTarget(target: string): string {
  if (target === '') throw new Error('field Target must not be empty');
  if (target.includes('\0')) throw new Error(`invalid mount path: '${target.replace(/\0/g, '\\0')}' mount path must be absolute`);
  if (posix.normalize(target) === '/' || /^\/+$/.test(target)) throw new Error("invalid specification: destination can't be '/'");
  if (!posix.isAbsolute(target)) throw new Error(`invalid mount path: '${target}' mount path must be absolute`);
  return posix.normalize(target).replace(/\/+$/, '');
}

/**
 * Checks one mount with Docker's rules and returns it with its target (and
 * a bind's source) cleaned: a target that is absolute and not `/`; a bind
 * with an absolute source; a tmpfs without source, with a size and mode in
 * range and valid `--tmpfs` options; a read-only anonymous volume is
 * refused. InvalidArgument 'invalid mount config for type "bind": …'.
 * Whether a bind source exists is the node's to check.
 */
export function checkMount(mount: MountSpec): MountSpec {
  if (!MOUNT_TYPES.includes(mount.type)) throw invalidArgument(`invalid mount config for type "${String(mount.type)}": mount type unknown`);
  const fail = (why: string) => invalidArgument(mountConfigError(mount.type, why));
  let target: string;
  try {
    target = checkTarget(mount.target);
  } catch (err) {
    throw fail((err as Error).message);
  }
  const checked = { ...mount, target };
  switch (mount.type) {
    case 'bind':
      if (mount.source === '') throw fail('field Source must not be empty');
      if (!posix.isAbsolute(mount.source) || mount.source.includes('\0')) throw fail(`invalid mount path: '${mount.source}' mount path must be absolute`);
      checked.source = posix.normalize(mount.source);
      if (checked.source.length > 1) checked.source = checked.source.replace(/\/+$/, '');
      break;
    case 'volume':
      if (mount.source === '' && mount.readOnly) throw fail('must not set ReadOnly mode when using anonymous volumes');
      break;
    case 'tmpfs':
      if (mount.source !== '') throw fail('field Source must not be specified');
      if (mount.tmpfsSizeBytes !== undefined && (!Number.isSafeInteger(mount.tmpfsSizeBytes) || mount.tmpfsSizeBytes < 0)) {
        throw fail(`invalid tmpfs size ${mount.tmpfsSizeBytes}: use a whole number of bytes`);
      }
      if (mount.tmpfsMode !== undefined && (!Number.isInteger(mount.tmpfsMode) || mount.tmpfsMode < 0 || mount.tmpfsMode > 0o7777)) {
        throw fail(`invalid tmpfs mode ${mount.tmpfsMode}: use octal permission bits up to 7777`);
      }
      checkTmpfsOptions(mount.tmpfsOptions ?? '');
      break;
  }
  return checked;
}

/**
 * Checks the mounts of a container (each with {@link checkMount}) and that
 * no two have the same target: InvalidArgument "Duplicate mount point: /x"
 * as Docker's. Returns them cleaned, in the order given.
 */
export function checkMounts(mounts: readonly MountSpec[]): MountSpec[] {
  const seen = new Set<string>();
  return mounts.map((m) => {
    const checked = checkMount(m);
    if (seen.has(checked.target)) throw invalidArgument(`Duplicate mount point: ${checked.target}`);
    seen.add(checked.target);
    return checked;
  });
}
