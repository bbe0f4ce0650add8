import { createHash } from 'node:crypto';
import { readFileSync, type BigIntStats } from 'node:fs';
import { lstat, readdir, readlink } from 'node:fs/promises';
import { readTreeXattrs } from '../fs-tools.js';

/** What {@link describeTree} records of one path. */
export interface TreeEntry {
  type: 'file' | 'directory' | 'symlink' | 'fifo' | 'char-device' | 'block-device' | 'socket';
  mode: string;
  uid: number;
  gid: number;
  /** Whole seconds (what a tar layer carries). */
  mtime: number;
  /** Regular files: size and sha256 of the content. */
  size?: number;
  sha256?: string;
  /** Symlinks: the target. */
  target?: string;
  /** Devices: major:minor. */
  device?: string;
  /** Regular files with several links: the first path (byte order) of the inode in the tree. */
  linkedTo?: string;
  /** user.* and security.capability xattrs, hex. */
  xattrs?: Record<string, string>;
}

const byBytes = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b));

function typeOf(stats: BigIntStats): TreeEntry['type'] {
  if (stats.isDirectory()) return 'directory';
  if (stats.isSymbolicLink()) return 'symlink';
  if (stats.isFIFO()) return 'fifo';
  if (stats.isCharacterDevice()) return 'char-device';
  if (stats.isBlockDevice()) return 'block-device';
  if (stats.isSocket()) return 'socket';
  return 'file';
}

/**
 * Every path under root (root itself left out) with its type, permission
 * bits, owner, whole-second mtime, content digest, link target, hardlink
 * group and kept xattrs, keyed by relative path in byte order: two trees
 * that a layer round trip should make equal compare equal with toEqual.
 * Directory mtimes are left out when withDirectoryTimes is false.
 */
export async function describeTree(root: string, withDirectoryTimes = true): Promise<Record<string, TreeEntry>> {
  const xattrs = await readTreeXattrs(root);
  const out: Record<string, TreeEntry> = {};
  const firstOfInode = new Map<string, string>();
  const walk = async (dir: string, rel: string): Promise<void> => {
    for (const name of (await readdir(dir)).sort(byBytes)) {
      const path = `${dir}/${name}`;
      const relative = rel === '' ? name : `${rel}/${name}`;
      const stats = await lstat(path, { bigint: true });
      const type = typeOf(stats);
      const entry: TreeEntry = {
        type,
        mode: (stats.mode & 0o7777n).toString(8),
        uid: Number(stats.uid),
        gid: Number(stats.gid),
        mtime: type === 'directory' && !withDirectoryTimes ? 0 : Number(stats.mtimeNs / 1_000_000_000n),
      };
      if (type === 'file') {
        const content = readFileSync(path);
        entry.size = content.length;
        entry.sha256 = createHash('sha256').update(content).digest('hex');
        if (stats.nlink > 1n) {
          const key = `${stats.dev}:${stats.ino}`;
          const first = firstOfInode.get(key);
          if (first === undefined) firstOfInode.set(key, relative);
          entry.linkedTo = first ?? relative;
        }
      }
      if (type === 'symlink') entry.target = await readlink(path);
      if (type === 'char-device' || type === 'block-device') entry.device = `${(stats.rdev >> 8n) & 0xfffn}:${stats.rdev & 0xffn}`;
      const kept = Object.entries(xattrs.get(relative) ?? {}).filter(([k]) => k.startsWith('user.') || k === 'security.capability');
      if (kept.length > 0) entry.xattrs = Object.fromEntries(kept.map(([k, v]) => [k, v.toString('hex')]));
      out[relative] = entry;
      if (type === 'directory') await walk(path, relative);
    }
  };
  await walk(root, '');
  return out;
}
