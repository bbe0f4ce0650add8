import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { readTreeXattrs } from './fs-tools.js';
import { isWhiteout, LayerStack } from './layer-stack.js';
import { mountStubs } from './mount-stubs.js';

/** How a path differs from the image: added, changed (its content, metadata or, for a directory, an entry), deleted. */
export type ChangeKind = 'A' | 'C' | 'D';

/** One change of a container's files, as `docker diff` lists them. */
export interface Change {
  kind: ChangeKind;
  /** Absolute in the container: `/etc/hosts`. */
  path: string;
}

/** Settings of {@link overlayChanges}. */
export interface OverlayChangesOptions {
  /** Where the runtime mounts things into the container: its mount points are no changes (see mountStubs). */
  mountPoints?: readonly string[];
}

const OPAQUE_XATTR = 'trusted.overlay.opaque';
const byBytes = (a: Change, b: Change): number => Buffer.compare(Buffer.from(a.path), Buffer.from(b.path));

/**
 * The changes of an overlay snapshot against its image, as `docker diff`
 * reports them, in path order: every entry of upper is added (A) or
 * changed (C, directories included: one is in upper because an entry under
 * it changed), a whiteout is a deletion (D), and an opaque directory that
 * the image has also deletes every image entry it does not have again.
 * upper is the snapshot's own directory, lowers its parents' (nearest
 * first; none for a snapshot without parent). The runtime's mount points
 * are left out (options.mountPoints). Nothing is followed out of the
 * directories. Raises what reading them raises, Unavailable when getfattr
 * is not installed.
 */
export async function overlayChanges(upper: string, lowers: readonly string[], options: OverlayChangesOptions = {}): Promise<Change[]> {
  const xattrs = await readTreeXattrs(upper);
  const image = new LayerStack(lowers);
  const stubs = await mountStubs(upper, lowers, options.mountPoints ?? [], xattrs);
  const changes: Change[] = [];
  const walk = async (rel: string): Promise<void> => {
    for (const name of await readdir(rel === '' ? upper : join(upper, rel))) {
      const childRel = rel === '' ? name : `${rel}/${name}`;
      if (stubs.has(childRel)) continue;
      const path = join(upper, childRel);
      const stats = await lstat(path);
      if (isWhiteout(stats)) {
        changes.push({ kind: 'D', path: `/${childRel}` });
        continue;
      }
      const inImage = await image.has(childRel);
      changes.push({ kind: inImage ? 'C' : 'A', path: `/${childRel}` });
      if (!stats.isDirectory()) continue;
      if (inImage && xattrs.get(childRel)?.[OPAQUE_XATTR]?.toString() === 'y') {
        const kept = new Set(await readdir(path));
        for (const gone of await image.names(childRel)) if (!kept.has(gone)) changes.push({ kind: 'D', path: `/${childRel}/${gone}` });
      }
      await walk(childRel);
    }
  };
  await walk('');
  return changes.sort(byBytes);
}
