import type { Stats } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { readTreeXattrs } from './fs-tools.js';

/** How a path differs from the image: added, changed (its content, metadata or, for a directory, an entry), deleted. */
export type ChangeKind = 'A' | 'C' | 'D';

/** One change of a container's files, as `docker diff` lists them. */
export interface Change {
  kind: ChangeKind;
  /** Absolute in the container: `/etc/hosts`. */
  path: string;
}

const OPAQUE_XATTR = 'trusted.overlay.opaque';
const isWhiteout = (stats: Stats): boolean => stats.isCharacterDevice() && stats.rdev === 0;
const byBytes = (a: Change, b: Change): number => Buffer.compare(Buffer.from(a.path), Buffer.from(b.path));

async function lstatOrUndefined(path: string): Promise<Stats | undefined> {
  try {
    return await lstat(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw err;
  }
}

/**
 * Answers what the lower layers (nearest first) hold at a path, resolving
 * each path inside its layer only: a component that is a symbolic link or
 * a whiteout in a layer ends the lookup there (the link is not followed, so
 * nothing outside the layer is looked at). Directories seen are cached.
 */
class LowerStack {
  private readonly dirs = new Map<string, boolean>();

  constructor(private readonly lowers: readonly string[]) {}

  /** Whether layer holds a real directory at every one of components (no link, no whiteout). */
  private async isDirectory(layer: string, components: readonly string[]): Promise<boolean> {
    if (components.length === 0) return true;
    const key = `${layer}\0${components.join('/')}`;
    const known = this.dirs.get(key);
    if (known !== undefined) return known;
    const parent = await this.isDirectory(layer, components.slice(0, -1));
    const is = parent && ((await lstatOrUndefined(join(layer, ...components)))?.isDirectory() ?? false);
    this.dirs.set(key, is);
    return is;
  }

  /** Whether the image (the layers merged) has rel: the nearest layer that has an entry there decides. */
  async has(rel: string): Promise<boolean> {
    const components = rel.split('/');
    for (const layer of this.lowers) {
      if (!(await this.isDirectory(layer, components.slice(0, -1)))) continue;
      const stats = await lstatOrUndefined(join(layer, rel));
      if (stats !== undefined) return !isWhiteout(stats);
    }
    return false;
  }

  /** Whether the image's entry at rel has the mode and owner of stats. */
  async sameOwnerAndMode(rel: string, stats: Stats): Promise<boolean> {
    const components = rel.split('/');
    for (const layer of this.lowers) {
      if (!(await this.isDirectory(layer, components.slice(0, -1)))) continue;
      const image = await lstatOrUndefined(join(layer, rel));
      if (image === undefined) continue;
      return !isWhiteout(image) && image.mode === stats.mode && image.uid === stats.uid && image.gid === stats.gid;
    }
    return false;
  }

  /** The names of the image's directory rel (the layers merged, whiteouts applied). */
  async names(rel: string): Promise<string[]> {
    const components = rel.split('/');
    const shown = new Set<string>();
    const hidden = new Set<string>();
    for (const layer of this.lowers) {
      if (!(await this.isDirectory(layer, components))) continue;
      for (const name of await readdir(join(layer, rel))) {
        if (shown.has(name) || hidden.has(name)) continue;
        const stats = await lstatOrUndefined(join(layer, rel, name));
        if (stats !== undefined && isWhiteout(stats)) hidden.add(name);
        else shown.add(name);
      }
    }
    return [...shown];
  }
}

/** Settings of {@link overlayChanges}. */
export interface OverlayChangesOptions {
  /**
   * Where the runtime mounts things into the container (absolute paths:
   * `/proc`, `/etc/hosts`, volumes): an empty file or directory there that
   * the image does not have is the mount point runc made, not a change,
   * and a directory that changed only by holding such mount points (its
   * mode and owner the image's) is no change either, as Docker's init
   * layer keeps them out of `docker diff`.
   */
  mountPoints?: readonly string[];
}

/**
 * The changes of an overlay snapshot against its image, as `docker diff`
 * reports them, in path order: every entry of upper is added (A) or
 * changed (C, directories included: one is in upper because an entry under
 * it changed), a whiteout is a deletion (D), and an opaque directory that
 * the image has also deletes every image entry it does not have again.
 * upper is the snapshot's own directory, lowers its parents' (nearest
 * first; none for a snapshot without parent). Nothing is followed out of
 * the directories. Raises what reading them raises, Unavailable when
 * getfattr is not installed.
 */
export async function overlayChanges(upper: string, lowers: readonly string[], options: OverlayChangesOptions = {}): Promise<Change[]> {
  const xattrs = await readTreeXattrs(upper);
  const stack = new LowerStack(lowers);
  const mountPoints = new Set((options.mountPoints ?? []).map((p) => p.replace(/^\/+|\/+$/g, '')).filter((p) => p !== ''));
  const changes: Change[] = [];
  /** Walks the directory rel of upper; answers how many changes it recorded and how many mount points it passed over. */
  const walk = async (rel: string): Promise<{ recorded: number; stubs: number }> => {
    const names = await readdir(rel === '' ? upper : join(upper, rel));
    let recorded = 0;
    let stubs = 0;
    for (const name of names) {
      const childRel = rel === '' ? name : `${rel}/${name}`;
      const path = join(upper, childRel);
      const stats = await lstat(path);
      if (isWhiteout(stats)) {
        changes.push({ kind: 'D', path: `/${childRel}` });
        recorded++;
        continue;
      }
      const inImage = await stack.has(childRel);
      const change: Change = { kind: inImage ? 'C' : 'A', path: `/${childRel}` };
      if (!stats.isDirectory()) {
        if (!inImage && mountPoints.has(childRel) && stats.isFile() && stats.size === 0) {
          stubs++;
          continue;
        }
        changes.push(change);
        recorded++;
        continue;
      }
      const at = changes.length;
      let inside = { recorded: 0, stubs: 0 };
      if (inImage && xattrs.get(childRel)?.[OPAQUE_XATTR]?.toString() === 'y') {
        const kept = new Set(await readdir(path));
        for (const gone of await stack.names(childRel)) {
          if (kept.has(gone)) continue;
          changes.push({ kind: 'D', path: `/${childRel}/${gone}` });
          inside.recorded++;
        }
      }
      const below = await walk(childRel);
      inside = { recorded: inside.recorded + below.recorded, stubs: below.stubs };
      // A mount point runc made, or a directory that only holds such (runc made it, or its mode and owner are the image's).
      const emptyStub = !inImage && mountPoints.has(childRel) && inside.recorded === 0;
      const onlyStubs = inside.recorded === 0 && inside.stubs > 0 && (!inImage || (await stack.sameOwnerAndMode(childRel, stats)));
      if (emptyStub || onlyStubs) {
        stubs++;
        continue;
      }
      changes.splice(at, 0, change);
      recorded += 1 + inside.recorded;
      stubs += inside.stubs;
    }
    return { recorded, stubs };
  };
  await walk('');
  return changes.sort(byBytes);
}
