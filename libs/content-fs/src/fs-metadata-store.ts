import { open, readdir, readFile, rename, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { invalidArgument, StrataError } from '@strata/kit';
import type { MetadataStore } from '@strata/content';
import { errnoOf, FILE_MODE, ioFailure, makeDirs, syncDir, tempPathFor } from './fs-io.js';

const SEGMENT = /^[A-Za-z0-9._-]+$/;
const SUFFIX = '.json';

function segments(key: string, what: string): string[] {
  const parts = key.split('/');
  const bad = (p: string) => !SEGMENT.test(p) || p === '.' || p === '..' || p.endsWith(SUFFIX) || p.endsWith('.tmp');
  if (key === '' || parts.some(bad)) {
    throw invalidArgument(
      `invalid metadata ${what} ${JSON.stringify(key.slice(0, 200))}: use / separated names of A-Z a-z 0-9 . _ -, without . or .. parts or names ending in .json or .tmp`,
    );
  }
  return parts;
}

/**
 * A MetadataStore in directory dir: key `a/b` is the file `dir/a/b.json`
 * (mode 0600, directories 0700; no part of a key may end in .json or .tmp). put writes a temp file, fsyncs it, renames
 * it over the old value and fsyncs the directory, so a value is either the
 * old or the new one after a crash; leftover temp files are removed by the
 * fs store at startup. InvalidArgument for a key with other characters or
 * `.`/`..` parts; DataLoss for a stored value that is not JSON; Internal or
 * ResourceExhausted for failed I/O.
 */
export function createFsMetadataStore(dir: string): MetadataStore {
  const pathOf = (key: string) => `${join(dir, ...segments(key, 'key'))}${SUFFIX}`;

  const collect = async (base: string, rel: string, out: string[]): Promise<void> => {
    let entries;
    try {
      entries = await readdir(base, { withFileTypes: true });
    } catch (err) {
      if (errnoOf(err) === 'ENOENT' || errnoOf(err) === 'ENOTDIR') return;
      throw ioFailure(err, `cannot list metadata under ${rel || '/'}`);
    }
    for (const entry of entries) {
      if (entry.isDirectory()) await collect(join(base, entry.name), `${rel}${entry.name}/`, out);
      else if (entry.isFile() && entry.name.endsWith(SUFFIX)) out.push(`${rel}${entry.name.slice(0, -SUFFIX.length)}`);
    }
  };

  return {
    async get<T>(key: string) {
      const path = pathOf(key);
      let text: string;
      try {
        text = await readFile(path, 'utf8');
      } catch (err) {
        if (errnoOf(err) === 'ENOENT') return undefined;
        throw ioFailure(err, `cannot read metadata ${key}`);
      }
      try {
        return JSON.parse(text) as T;
      } catch (cause) {
        throw new StrataError('DataLoss', `metadata ${key} is corrupt (not JSON); delete ${path} to drop it`, { cause, fields: { key } });
      }
    },

    async put(key, value) {
      const path = pathOf(key);
      const text = JSON.stringify(value);
      const tmp = tempPathFor(path);
      try {
        await makeDirs(dirname(path));
        const fh = await open(tmp, 'wx', FILE_MODE);
        try {
          await fh.writeFile(text, 'utf8');
          await fh.sync();
        } finally {
          await fh.close();
        }
        await rename(tmp, path);
        await syncDir(dirname(path));
      } catch (err) {
        await unlink(tmp).catch(() => undefined);
        throw ioFailure(err, `cannot write metadata ${key}`);
      }
    },

    async delete(key) {
      try {
        await unlink(pathOf(key));
      } catch (err) {
        if (errnoOf(err) !== 'ENOENT') throw ioFailure(err, `cannot delete metadata ${key}`);
      }
    },

    async list(prefix) {
      const cut = prefix.lastIndexOf('/');
      const base = cut === -1 ? '' : prefix.slice(0, cut);
      const out: string[] = [];
      await collect(base === '' ? dir : join(dir, ...segments(base, 'prefix')), base === '' ? '' : `${base}/`, out);
      return out.filter((k) => k.startsWith(prefix));
    },
  };
}
