import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Usage } from '@strata/snapshots';

/**
 * Disk usage of the tree at dir, as `du`: bytes allocated (st_blocks × 512)
 * and distinct inodes, hard links counted once, symlinks not followed, the
 * directory itself included. Entries that vanish while walking are skipped.
 */
export async function diskUsage(dir: string): Promise<Usage> {
  const seen = new Set<string>();
  let size = 0;
  let inodes = 0;
  const count = (st: { ino: number; dev: number; nlink: number; blocks: number }) => {
    if (st.nlink > 1) {
      const id = `${st.dev}:${st.ino}`;
      if (seen.has(id)) return;
      seen.add(id);
    }
    size += st.blocks * 512;
    inodes++;
  };
  count(await lstat(dir));
  const pending = [dir];
  while (pending.length > 0) {
    const current = pending.pop()!;
    let names: string[];
    try {
      names = await readdir(current);
    } catch {
      continue;
    }
    const stats = await Promise.all(names.map((name) => lstat(join(current, name)).catch(() => undefined)));
    stats.forEach((st, i) => {
      if (st === undefined) return;
      count(st);
      if (st.isDirectory()) pending.push(join(current, names[i]!));
    });
  }
  return { size, inodes };
}
