import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { LayerStack } from './layer-stack.js';

const OPAQUE_XATTR = 'trusted.overlay.opaque';

/**
 * The paths of a container's own directory (upper, relative) that are the
 * runtime's mount points rather than changes: an empty file or directory
 * at one of mountPoints (absolute in the container: `/proc`, `/etc/hosts`,
 * volumes) that the image (lowers, nearest first) does not have — runc
 * made it to mount onto — and then each directory above them that holds
 * nothing else, is not opaque, and is the image's with the same mode and
 * owner or not the image's at all. Docker keeps such mount points in an
 * init layer, out of `docker diff` and `docker commit`. upperXattrs are
 * upper's (readTreeXattrs). Nothing is followed out of the directories.
 */
export async function mountStubs(
  upper: string,
  lowers: readonly string[],
  mountPoints: readonly string[],
  upperXattrs: ReadonlyMap<string, Record<string, Buffer>>,
): Promise<Set<string>> {
  const own = new LayerStack([upper]);
  const image = new LayerStack(lowers);
  const stubs = new Set<string>();
  const parents = new Set<string>();
  for (const rel of new Set(mountPoints.map((p) => p.replace(/^\/+|\/+$/g, '')).filter((p) => p !== ''))) {
    const stats = await own.entry(rel);
    if (stats === undefined) continue;
    const empty = stats.isFile() ? stats.size === 0 : stats.isDirectory() && (await readdir(join(upper, rel))).length === 0;
    if (!empty || (await image.has(rel))) continue;
    stubs.add(rel);
    for (let at = rel.lastIndexOf('/'); at > 0; at = rel.lastIndexOf('/', at - 1)) parents.add(rel.slice(0, at));
  }
  // Deepest first, so that a directory sees whether its subdirectories went.
  for (const dir of [...parents].sort((a, b) => b.split('/').length - a.split('/').length)) {
    const stats = await own.entry(dir);
    if (stats === undefined || !stats.isDirectory() || upperXattrs.get(dir)?.[OPAQUE_XATTR]?.toString() === 'y') continue;
    if (!(await readdir(join(upper, dir))).every((name) => stubs.has(`${dir}/${name}`))) continue;
    const before = await image.entry(dir);
    if (before !== undefined && (before.mode !== stats.mode || before.uid !== stats.uid || before.gid !== stats.gid)) continue;
    stubs.add(dir);
  }
  return stubs;
}
