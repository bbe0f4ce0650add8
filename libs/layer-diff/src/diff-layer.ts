import { constants, type BigIntStats } from 'node:fs';
import { lstat, open, readdir, readlink } from 'node:fs/promises';
import { PassThrough, Transform, pipeline, type Readable } from 'node:stream';
import { internal, invalidArgument, isStrataError, notFound } from '@strata/kit';
import { MediaTypes, type Digest } from '@strata/oci';
import { createParallelGzip, createTarPacker, type TarEntry, type TarPacker } from '@strata/tar';
import type { ApplyMode } from './apply-layer.js';
import { readTreeXattrs } from './fs-tools.js';
import { createWorkerDigester, type WorkerDigester } from './hash-worker.js';
import { mountStubs } from './mount-stubs.js';

/** What {@link diffLayer} compares. */
export interface DiffLayerOptions {
  /**
   * 'overlay': upper is an overlay upper directory and holds exactly the
   * changes (0:0 character devices are whiteouts, `trusted.overlay.opaque=y`
   * marks opaque directories). 'native': upper is the snapshot's full tree
   * and is compared with lower, the parent's full tree.
   */
  mode: ApplyMode;
  upper: string;
  /** native mode: the parent's full tree; none means an empty parent (everything is new). Unused in overlay mode. */
  lower?: string;
  /** gzip level, 6 by default. */
  gzipLevel?: number;
  /**
   * Where a runtime mounted things into the snapshot (absolute paths): the
   * mount points it made are left out of the layer (see mountStubs), as
   * Docker's init layer keeps them out of a commit.
   */
  mountPoints?: readonly string[];
  /** overlay mode: the parents' directories, nearest first, against which mountPoints are judged. */
  lowers?: readonly string[];
  /** false: the stream is the plain tar (`application/vnd.oci.image.layer.v1.tar`, its digest the diff_id); gzip by default. */
  compress?: boolean;
}

/** The digests of a diff, known once its stream has been read to the end. */
export interface LayerDiffResult {
  /** `application/vnd.oci.image.layer.v1.tar+gzip`. */
  mediaType: string;
  /** Digest of the uncompressed tar: the image config's diff_id. */
  diffId: Digest;
  /** Digest and size of the gzip blob: the manifest's layer descriptor. */
  digest: Digest;
  size: number;
  /** Bytes of the uncompressed tar. */
  uncompressedSize: number;
  /** Tar entries written. */
  entries: number;
}

/** A diff in progress: read `stream` to its end (e.g. into a content Writer), then await `result`. */
export interface LayerDiff {
  /** The gzip-compressed layer. Destroyed with the error when the diff fails. */
  stream: Readable;
  /** Resolves when the whole stream has been produced; rejects when the diff fails. */
  result: Promise<LayerDiffResult>;
}

const OPAQUE_XATTR = 'trusted.overlay.opaque';
const byBytes = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b));
type Xattrs = Map<string, Record<string, Buffer>>;

interface Node {
  name: string;
  path: string;
  rel: string;
  stats: BigIntStats;
}

function keptXattrs(all: Record<string, Buffer> | undefined): Record<string, Buffer> | undefined {
  if (all === undefined) return undefined;
  const kept = Object.entries(all).filter(([k]) => k === 'security.capability' || k.startsWith('user.'));
  return kept.length === 0 ? undefined : Object.fromEntries(kept);
}

function sameXattrs(a: Record<string, Buffer> | undefined, b: Record<string, Buffer> | undefined): boolean {
  const ka = Object.keys(a ?? {}).sort();
  const kb = Object.keys(b ?? {}).sort();
  return ka.length === kb.length && ka.every((k, i) => k === kb[i] && a![k]!.equals(b![k]!));
}

const isWhiteoutDevice = (stats: BigIntStats): boolean => stats.isCharacterDevice() && stats.rdev === 0n;
const seconds = (stats: BigIntStats): number => Number(stats.mtimeNs / 1_000_000_000n);

async function sameContent(a: string, b: string, size: bigint): Promise<boolean> {
  if (size === 0n) return true;
  const [fa, fb] = await Promise.all([open(a, constants.O_RDONLY | constants.O_NOFOLLOW), open(b, constants.O_RDONLY | constants.O_NOFOLLOW)]);
  try {
    const ba = Buffer.allocUnsafe(1 << 16);
    const bb = Buffer.allocUnsafe(1 << 16);
    for (;;) {
      const [ra, rb] = await Promise.all([fa.read(ba, 0, ba.length, null), fb.read(bb, 0, bb.length, null)]);
      if (ra.bytesRead !== rb.bytesRead) return false;
      if (ra.bytesRead === 0) return true;
      if (!ba.subarray(0, ra.bytesRead).equals(bb.subarray(0, rb.bytesRead))) return false;
    }
  } finally {
    await Promise.all([fa.close(), fb.close()]);
  }
}

/** Walks the trees and writes the changes as tar entries, parents before children, each directory's entries in byte order. */
class ChangeWriter {
  private readonly firstLink = new Map<string, string>();
  /** Directories whose entry is written only if something below them is. */
  private readonly pendingParents: Array<{ node: Node; written: boolean }> = [];
  entries = 0;

  constructor(
    private readonly writer: TarPacker,
    private readonly upperXattrs: Xattrs,
    private readonly lowerXattrs: Xattrs,
    /** Paths of upper (relative) left out of the layer. */
    private readonly skipped: ReadonlySet<string> = new Set(),
  ) {}

  private async add(entry: TarEntry, file?: string): Promise<void> {
    for (const parent of this.pendingParents) {
      if (!parent.written) {
        parent.written = true;
        await this.writer.add(await this.entryFor(parent.node));
        this.entries++;
      }
    }
    await this.writer.add(entry, file === undefined ? undefined : { path: file });
    this.entries++;
  }

  private async entryFor(node: Node): Promise<TarEntry> {
    const { stats } = node;
    const base = { name: node.rel, mode: Number(stats.mode & 0o7777n), uid: Number(stats.uid), gid: Number(stats.gid), mtime: seconds(stats) };
    const xattrs = keptXattrs(this.upperXattrs.get(node.rel));
    const withXattrs = xattrs === undefined ? base : { ...base, xattrs };
    if (stats.isDirectory()) return { ...withXattrs, type: 'directory' };
    if (stats.isSymbolicLink()) return { ...withXattrs, type: 'symlink', linkname: await readlink(node.path) };
    if (stats.isFIFO()) return { ...withXattrs, type: 'fifo' };
    return { ...withXattrs, type: 'file', size: Number(stats.size) };
  }

  /** Writes one non-directory node (file, symlink, FIFO); devices and sockets are left out (apply refuses devices). */
  private async writeLeaf(node: Node): Promise<void> {
    const { stats } = node;
    if (!stats.isFile() && !stats.isSymbolicLink() && !stats.isFIFO()) return;
    if (stats.isFile() && stats.nlink > 1n) {
      const key = `${stats.dev}:${stats.ino}`;
      const first = this.firstLink.get(key);
      if (first !== undefined) {
        await this.add({ name: node.rel, type: 'hardlink', linkname: first, mtime: seconds(stats) });
        return;
      }
      this.firstLink.set(key, node.rel);
    }
    const entry = await this.entryFor(node);
    if (entry.type !== 'file' || entry.size === 0) {
      await this.add(entry);
      return;
    }
    await this.add(entry, node.path);
  }

  /** The entries of dir (at rel) in byte order of their names; of upper only those not skipped. */
  private async children(dir: string, rel: string, side: 'upper' | 'lower' = 'upper'): Promise<Node[]> {
    const all = (await readdir(dir)).sort(byBytes);
    const names = side === 'lower' || this.skipped.size === 0 ? all : all.filter((name) => !this.skipped.has(rel === '' ? name : `${rel}/${name}`));
    return Promise.all(
      names.map(async (name) => {
        const path = `${dir}/${name}`;
        return { name, path, rel: rel === '' ? name : `${rel}/${name}`, stats: await lstat(path, { bigint: true }) };
      }),
    );
  }

  private whiteoutEntry(rel: string, name: string, stats?: BigIntStats): TarEntry {
    const slash = rel.lastIndexOf('/');
    const parent = slash === -1 ? '' : rel.slice(0, slash + 1);
    return { name: `${parent}.wh.${name}`, type: 'file', mode: 0o644, mtime: stats === undefined ? 0 : seconds(stats) };
  }

  /** overlay mode: everything in the upper directory is a change. */
  async overlay(dir: string, rel: string): Promise<void> {
    for (const node of await this.children(dir, rel)) {
      if (isWhiteoutDevice(node.stats)) {
        await this.add(this.whiteoutEntry(node.rel, node.name, node.stats));
      } else if (node.stats.isDirectory()) {
        await this.add(await this.entryFor(node));
        const opaque = this.upperXattrs.get(node.rel)?.[OPAQUE_XATTR];
        if (opaque !== undefined && opaque.toString() === 'y') {
          await this.add({ name: `${node.rel}/.wh..wh..opq`, type: 'file', mode: 0o644, mtime: seconds(node.stats) });
        }
        await this.overlay(node.path, node.rel);
      } else {
        await this.writeLeaf(node);
      }
    }
  }

  /** Everything under an upper directory is new (native mode, no lower counterpart). */
  async addedTree(dir: string, rel: string): Promise<void> {
    for (const node of await this.children(dir, rel)) {
      if (node.stats.isDirectory()) {
        await this.add(await this.entryFor(node));
        await this.addedTree(node.path, node.rel);
      } else {
        await this.writeLeaf(node);
      }
    }
  }

  private async sameNode(upper: Node, lower: Node): Promise<boolean> {
    const a = upper.stats;
    const b = lower.stats;
    if (a.mode !== b.mode || a.uid !== b.uid || a.gid !== b.gid) return false;
    if (!sameXattrs(keptXattrs(this.upperXattrs.get(upper.rel)), keptXattrs(this.lowerXattrs.get(lower.rel)))) return false;
    if (a.isDirectory()) return a.mtimeNs === b.mtimeNs;
    if (a.dev === b.dev && a.ino === b.ino) return true;
    if (a.size !== b.size || seconds(a) !== seconds(b)) return false;
    if (a.isSymbolicLink()) return (await readlink(upper.path)) === (await readlink(lower.path));
    const nsA = a.mtimeNs % 1_000_000_000n;
    const nsB = b.mtimeNs % 1_000_000_000n;
    if (nsA !== nsB) return false;
    // Whole-second times may come from a tar and hide a change within that second: compare the bytes.
    if (nsA === 0n && a.isFile()) return sameContent(upper.path, lower.path, a.size);
    return true;
  }

  /** native mode: the changes of upper directory dir against lower directory lowerDir. */
  async native(dir: string, lowerDir: string, rel: string): Promise<void> {
    const uppers = await this.children(dir, rel);
    const lowers = new Map((await this.children(lowerDir, rel, 'lower')).map((n) => [n.name, n]));
    const upperNames = new Set(uppers.map((n) => n.name));
    type Change = { name: string; run: () => Promise<void> };
    const changes: Change[] = [];
    for (const [name, lower] of lowers) {
      if (!upperNames.has(name)) changes.push({ name: `.wh.${name}`, run: () => this.add(this.whiteoutEntry(lower.rel, name)) });
    }
    for (const node of uppers) {
      const lower = lowers.get(node.name);
      changes.push({
        name: node.name,
        run: async () => {
          if (!node.stats.isDirectory()) {
            if (lower === undefined || !(await this.sameNode(node, lower))) await this.writeLeaf(node);
            return;
          }
          if (lower === undefined || !lower.stats.isDirectory()) {
            await this.add(await this.entryFor(node));
            await this.addedTree(node.path, node.rel);
            return;
          }
          const pending = { node, written: false };
          if (!(await this.sameNode(node, lower))) await this.add(await this.entryFor(node));
          else this.pendingParents.push(pending);
          try {
            await this.native(node.path, lower.path, node.rel);
          } finally {
            if (this.pendingParents.at(-1) === pending) this.pendingParents.pop();
          }
        },
      });
    }
    changes.sort((x, y) => byBytes(x.name, y.name));
    for (const change of changes) await change.run();
  }
}

async function checkDirectory(path: string, what: string): Promise<void> {
  let stats: BigIntStats;
  try {
    stats = await lstat(path, { bigint: true });
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') throw notFound(`${what} ${path} does not exist`, { cause });
    throw cause;
  }
  if (!stats.isDirectory()) throw invalidArgument(`${what} ${path} is not a directory`);
}

/** Passes chunks through unchanged, counting them and hashing them on the worker thread (waiting while it is behind). */
function hashing(digester: WorkerDigester, counter: { bytes: number }, highWaterMark: number, onFlush?: () => void): Transform {
  return new Transform({
    highWaterMark,
    transform(chunk: Buffer, _encoding, callback) {
      counter.bytes += chunk.length;
      const behind = digester.update(chunk);
      if (behind === undefined) callback(null, chunk);
      else behind.then(() => callback(null, chunk), callback);
    },
    flush(callback) {
      onFlush?.();
      callback();
    },
  });
}

/** Bytes of the tar chunks the packer lays out and reads files into. */
const TAR_CHUNK_BYTES = 1 << 20;

/**
 * The changes of a snapshot as a gzip-compressed OCI layer, streamed: new
 * and changed files, directories, symlinks, FIFOs and hardlinks (a second
 * path of an inode written in the layer becomes a link entry), deletions as
 * `.wh.<name>` and opaque directories (overlay mode) as `.wh..wh..opq`
 * right after the directory. Entries are in a fixed order (depth first,
 * each directory's entries in byte order of their names; in native mode the
 * unchanged parents of a change are written before it), with numeric
 * owners, whole-second times, PAX records for long names and the xattrs
 * `security.capability` and `user.*` (as `SCHILY.xattr.*`). Devices and
 * sockets are left out. The overlay upper must come from a mount without
 * redirect_dir or metacopy (a renamed directory or metadata-only copy-up
 * is not resolved against the lower layers).
 *
 * The tar is laid out in 1 MiB chunks with file data read ahead
 * (createTarPacker) and compressed a chunk per piece on several threads
 * (createParallelGzip: one gzip member, the same bytes for the same tree).
 * Both digests are computed while the stream is produced, on the hashing
 * worker thread (createWorkerDigester), so that the event loop only lays
 * out the tar and moves bytes: pipe `stream`
 * into a content Writer, then await `result` for the diff_id and the blob's
 * digest and size. `result` rejects (and `stream` is destroyed) with
 * NotFound / InvalidArgument when upper or lower is missing or not a
 * directory, Unavailable when getfattr is not installed, Internal for other
 * failures while walking.
 */
export function diffLayer(options: DiffLayerOptions): LayerDiff {
  const packer = createTarPacker({ chunkBytes: TAR_CHUNK_BYTES });
  const tarDigester = createWorkerDigester();
  const blobDigester = createWorkerDigester();
  const tarSize = { bytes: 0 };
  const blobSize = { bytes: 0 };
  let entries = 0;
  let walked = false;
  let resolveResult!: (value: LayerDiffResult) => void;
  let rejectResult!: (err: unknown) => void;
  const result = new Promise<LayerDiffResult>((resolve, reject) => {
    resolveResult = resolve;
    rejectResult = reject;
  });
  result.catch(() => undefined);

  const out = new PassThrough();
  const gzip = options.compress === false ? undefined : createParallelGzip({ level: options.gzipLevel ?? 6, release: (chunk) => packer.recycle(chunk) });
  const fail = (err: unknown) => {
    const error = isStrataError(err) ? err : internal(`layer diff of ${options.upper} failed: ${(err as Error).message}`, { cause: err });
    rejectResult(error);
    tarDigester.dispose();
    blobDigester.dispose();
    if (!out.destroyed) out.destroy(error);
    if (gzip !== undefined && !gzip.destroyed) gzip.destroy(error);
    if (!packer.stream.destroyed) packer.stream.destroy(error);
  };
  const finishBlob = () => {
    if (!walked) return;
    Promise.all([tarDigester.digest(), blobDigester.digest()]).then(
      ([diffId, digest]) =>
        resolveResult({ mediaType: MediaTypes.ociLayerGzip, diffId, digest, size: blobSize.bytes, uncompressedSize: tarSize.bytes, entries }),
      fail,
    );
  };
  // pipe() hands each chunk of the packer to gzip as it was pushed (1 MiB, the last one shorter): one
  // piece each, so the pieces, and the gzip bytes, depend only on the tar. (Reading the packer with
  // read() or an async iterator instead would join whatever chunks are buffered into one piece.)
  const finishTar = () => {
    if (!walked) return;
    blobDigester.dispose();
    tarDigester.digest().then(
      (diffId) => resolveResult({ mediaType: MediaTypes.ociLayer, diffId, digest: diffId, size: tarSize.bytes, uncompressedSize: tarSize.bytes, entries }),
      fail,
    );
  };
  const failed = (err: NodeJS.ErrnoException | null) => {
    if (err) fail(err);
  };
  if (gzip === undefined) pipeline(packer.stream, hashing(tarDigester, tarSize, TAR_CHUNK_BYTES, finishTar), out, failed);
  else pipeline(packer.stream, hashing(tarDigester, tarSize, TAR_CHUNK_BYTES), gzip, hashing(blobDigester, blobSize, TAR_CHUNK_BYTES, finishBlob), out, failed);

  const walk = async () => {
    await checkDirectory(options.upper, 'upper directory');
    if (options.mode === 'native' && options.lower !== undefined) await checkDirectory(options.lower, 'lower directory');
    const [upperXattrs, lowerXattrs] = await Promise.all([
      readTreeXattrs(options.upper),
      options.mode === 'native' && options.lower !== undefined ? readTreeXattrs(options.lower) : Promise.resolve<Xattrs>(new Map()),
    ]);
    const lowers = options.mode === 'native' ? (options.lower === undefined ? [] : [options.lower]) : (options.lowers ?? []);
    const skipped = options.mountPoints === undefined ? undefined : await mountStubs(options.upper, lowers, options.mountPoints, upperXattrs);
    const changes = new ChangeWriter(packer, upperXattrs, lowerXattrs, skipped);
    if (options.mode === 'overlay') await changes.overlay(options.upper, '');
    else if (options.lower === undefined) await changes.addedTree(options.upper, '');
    else await changes.native(options.upper, options.lower, '');
    entries = changes.entries;
    walked = true;
    await packer.finish();
  };
  walk().catch(fail);
  return { stream: out, result };
}
