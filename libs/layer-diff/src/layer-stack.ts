import type { Stats } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';

/** An overlay whiteout: a character device 0:0. */
export const isWhiteout = (stats: Stats): boolean => stats.isCharacterDevice() && stats.rdev === 0;

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
 * Layer directories (nearest first) read as one tree, each path resolved
 * inside its layer only: a component that is a symbolic link or a whiteout
 * in a layer ends the lookup there (the link is not followed, so nothing
 * outside the layer is looked at). A single directory is a stack of one.
 * Directories seen are cached.
 */
export class LayerStack {
  private readonly dirs = new Map<string, boolean>();

  constructor(private readonly layers: readonly string[]) {}

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

  /** The entry at rel of the nearest layer that has one there (a whiteout included), without following links. */
  async entry(rel: string): Promise<Stats | undefined> {
    const components = rel.split('/');
    for (const layer of this.layers) {
      if (!(await this.isDirectory(layer, components.slice(0, -1)))) continue;
      const stats = await lstatOrUndefined(join(layer, rel));
      if (stats !== undefined) return stats;
    }
    return undefined;
  }

  /** Whether the merged tree has rel (the nearest entry is no whiteout). */
  async has(rel: string): Promise<boolean> {
    const stats = await this.entry(rel);
    return stats !== undefined && !isWhiteout(stats);
  }

  /** The names of the merged directory rel (whiteouts applied). */
  async names(rel: string): Promise<string[]> {
    const components = rel.split('/');
    const shown = new Set<string>();
    const hidden = new Set<string>();
    for (const layer of this.layers) {
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
