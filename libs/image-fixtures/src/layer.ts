import { invalidArgument } from '@strata/kit';
import { MediaTypes, digestOf, type Digest } from '@strata/oci';
import { collectBytes, createTarWriter, gzip, tarDirectory, tarBytes, type TarEntry, type TarItem } from '@strata/tar';

/** Bytes of one piece of content with the descriptor fields that name it. */
export interface ImageBlob {
  mediaType: string;
  digest: Digest;
  size: number;
  bytes: Uint8Array;
}

/** A built layer: the blob as stored (compressed or not) and its uncompressed tar. */
export interface BuiltLayer extends ImageBlob {
  /** Digest of the uncompressed tar (what the config lists in rootfs.diff_ids). */
  diffId: Digest;
  /** The uncompressed tar. */
  tar: Uint8Array;
  /** The history `created_by` of the layer. */
  createdBy: string;
}

/** Owner, mode, time and xattrs an item may set. */
export interface ItemMetadata {
  /** Permission bits; 0o644 for files, 0o755 for directories by default. */
  mode?: number;
  uid?: number;
  gid?: number;
  /** Seconds since the epoch; the image's `created` time by default. */
  mtime?: number;
  xattrs?: Readonly<Record<string, string | Uint8Array>>;
}

/**
 * One thing a layer adds or deletes. Paths are relative to the image root
 * (a leading `/` is dropped) and may not contain `.` or `..` segments; missing
 * parent directories are added (0755) just before their first child.
 */
export type LayerItem =
  | ({ file: string; content?: string | Uint8Array } & ItemMetadata)
  | ({ dir: string } & ItemMetadata)
  | { symlink: string; target: string; uid?: number; gid?: number; mtime?: number }
  /** A hardlink to an earlier file of the same layer (target is an image path). */
  | { hardlink: string; target: string; mtime?: number }
  /** Deletes path of the layers below: an empty `.wh.<name>` file beside it. */
  | { whiteout: string }
  /** Hides everything the layers below have in directory path: the directory and a `.wh..wh..opq` file in it. */
  | ({ opaque: string } & ItemMetadata)
  | { device: string; kind: 'char' | 'block'; major: number; minor: number; mode?: number }
  | { fifo: string; mode?: number };

/** How a layer's tar is stored. */
export type FixtureCompression = 'gzip' | 'none';

/** What a layer is made of: items, a directory on disk, or a ready tar (e.g. a hostile one). */
export type LayerSource =
  | { items: readonly LayerItem[] }
  /** The tree under directory (not the directory itself), sorted, with every mtime set to the layer's time. */
  | { directory: string }
  /** Tar bytes used as they are. */
  | { tar: Uint8Array };

/** One layer of an image spec. */
export type LayerSpec = LayerSource & {
  /** gzip by default. */
  compression?: FixtureCompression;
  /** The history `created_by` of this layer. */
  createdBy?: string;
};

/** Media type family of the built documents. */
export type FixtureFormat = 'oci' | 'docker';

/**
 * The image path of p: leading `/` and `./` and trailing `/` dropped.
 * Raises InvalidArgument for an empty path or `.`/`..` segments.
 */
export function imagePath(p: string): string {
  const trimmed = p.replace(/^(\.?\/)+/, '').replace(/\/+$/, '');
  const segments = trimmed.split('/');
  if (trimmed === '' || segments.some((s) => s === '' || s === '.' || s === '..')) {
    throw invalidArgument(`fixture path ${JSON.stringify(p)} must be a non-empty path without empty, "." or ".." segments`);
  }
  return trimmed;
}

function parentOf(path: string): string | undefined {
  const slash = path.lastIndexOf('/');
  return slash === -1 ? undefined : path.slice(0, slash);
}

const bytesOf = (content: string | Uint8Array | undefined): Uint8Array =>
  content === undefined ? new Uint8Array(0) : typeof content === 'string' ? Buffer.from(content) : content;

function metadata(item: ItemMetadata, mtime: number): Partial<TarEntry> {
  const out: Partial<TarEntry> = { mtime: item.mtime ?? mtime };
  if (item.mode !== undefined) out.mode = item.mode;
  if (item.uid !== undefined) out.uid = item.uid;
  if (item.gid !== undefined) out.gid = item.gid;
  if (item.xattrs !== undefined) out.xattrs = item.xattrs;
  return out;
}

/**
 * The tar entries of layer items in order, with missing parent directories
 * added before their first child. Raises InvalidArgument for a bad path.
 */
export function layerTarItems(items: readonly LayerItem[], mtime: number): TarItem[] {
  const out: TarItem[] = [];
  const dirs = new Set<string>();
  const parents = (path: string) => {
    const missing: string[] = [];
    for (let p = parentOf(path); p !== undefined && !dirs.has(p); p = parentOf(p)) missing.unshift(p);
    for (const dir of missing) {
      dirs.add(dir);
      out.push({ entry: { name: dir, type: 'directory', mtime } });
    }
  };
  const push = (path: string, entry: Omit<TarEntry, 'name'>, data?: Uint8Array) => {
    parents(path);
    if (entry.type === 'directory') dirs.add(path);
    out.push(data === undefined ? { entry: { name: path, ...entry } } : { entry: { name: path, ...entry }, data });
  };
  for (const item of items) {
    if ('file' in item) push(imagePath(item.file), { type: 'file', ...metadata(item, mtime) }, bytesOf(item.content));
    else if ('dir' in item) push(imagePath(item.dir), { type: 'directory', ...metadata(item, mtime) });
    else if ('symlink' in item) push(imagePath(item.symlink), { type: 'symlink', linkname: item.target, ...metadata(item, mtime) });
    else if ('hardlink' in item) push(imagePath(item.hardlink), { type: 'hardlink', linkname: imagePath(item.target), mtime: item.mtime ?? mtime });
    else if ('whiteout' in item) {
      const path = imagePath(item.whiteout);
      const parent = parentOf(path);
      const name = path.slice(path.lastIndexOf('/') + 1);
      push(parent === undefined ? `.wh.${name}` : `${parent}/.wh.${name}`, { type: 'file', mtime }, new Uint8Array(0));
    } else if ('opaque' in item) {
      const path = imagePath(item.opaque);
      if (!dirs.has(path)) push(path, { type: 'directory', ...metadata(item, mtime) });
      push(`${path}/.wh..wh..opq`, { type: 'file', mtime }, new Uint8Array(0));
    } else if ('device' in item) {
      push(imagePath(item.device), {
        type: item.kind === 'char' ? 'char-device' : 'block-device',
        devmajor: item.major,
        devminor: item.minor,
        mode: item.mode ?? 0o600,
        mtime,
      });
    } else {
      push(imagePath(item.fifo), { type: 'fifo', mode: item.mode ?? 0o600, mtime });
    }
  }
  return out;
}

async function layerTar(spec: LayerSpec, mtime: number): Promise<Uint8Array> {
  if ('tar' in spec) return spec.tar;
  if ('items' in spec) return tarBytes(layerTarItems(spec.items, mtime));
  const writer = createTarWriter();
  const collected = collectBytes(writer.stream);
  collected.catch(() => undefined);
  try {
    await tarDirectory(spec.directory, writer, { mtime });
    await writer.finish();
  } catch (err) {
    writer.stream.destroy();
    throw err;
  }
  return collected;
}

/**
 * Builds one layer: its tar (from items, a directory or given bytes), the
 * diff_id, and the blob, gzip-compressed unless compression is `none`, with
 * the media type of format. The same spec always gives the same bytes.
 * Raises InvalidArgument for bad item paths and NotFound for a missing directory.
 */
export async function buildLayer(spec: LayerSpec, options: { mtime: number; format: FixtureFormat; index: number }): Promise<BuiltLayer> {
  const tar = await layerTar(spec, options.mtime);
  const compressed = (spec.compression ?? 'gzip') === 'gzip';
  const bytes = compressed ? await gzip(tar) : tar;
  const mediaType =
    options.format === 'docker'
      ? compressed
        ? MediaTypes.dockerLayerGzip
        : MediaTypes.dockerLayer
      : compressed
        ? MediaTypes.ociLayerGzip
        : MediaTypes.ociLayer;
  return {
    mediaType,
    digest: digestOf(bytes),
    size: bytes.length,
    bytes,
    diffId: digestOf(tar),
    tar,
    createdBy: spec.createdBy ?? `strata image-fixtures: layer ${options.index}`,
  };
}
