import { lstat, readFile } from 'node:fs/promises';
import { join } from 'node:path';

/** What a merged view must show: file contents by path, directories, and paths that must not exist. */
export interface ExpectedView {
  files: Readonly<Record<string, string>>;
  dirs: readonly string[];
  absent: readonly string[];
}

/**
 * Compares the tree at root (e.g. a mounted snapshot) with a view such as
 * image-fixtures' MULTI_LAYER_VIEW, path by path; returns one sentence per
 * difference, so a test asserts an empty list and a failure names every
 * wrong path.
 */
export async function viewMismatches(root: string, view: ExpectedView): Promise<string[]> {
  const out: string[] = [];
  for (const [path, content] of Object.entries(view.files)) {
    const stats = await lstat(join(root, path)).catch(() => undefined);
    if (stats === undefined) out.push(`${path}: missing, expected a file`);
    else if (!stats.isFile()) out.push(`${path}: not a regular file`);
    else {
      const actual = await readFile(join(root, path), 'utf8');
      if (actual !== content) out.push(`${path}: content ${JSON.stringify(actual)}, expected ${JSON.stringify(content)}`);
    }
  }
  for (const path of view.dirs) {
    const stats = await lstat(join(root, path)).catch(() => undefined);
    if (stats === undefined || !stats.isDirectory()) out.push(`${path}: expected a directory`);
  }
  for (const path of view.absent) {
    const stats = await lstat(join(root, path)).catch(() => undefined);
    if (stats !== undefined) out.push(`${path}: present, expected absent`);
  }
  return out;
}
