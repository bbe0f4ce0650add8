import {
  closeSync,
  constants,
  fchmodSync,
  fchownSync,
  fstatSync,
  futimesSync,
  lchownSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  openSync,
  readdirSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeSync,
  type Stats,
} from 'node:fs';
import { StrataError, canceled, failedPrecondition, internal, invalidArgument, isStrataError, resourceExhausted } from '@strata/kit';
import { Digester, layerCompression, type Digest } from '@strata/oci';
import { DEFAULT_DECOMPRESS_LIMITS, decompress, type DecompressCounters, type DecompressLimits } from './decompress.js';
import { makeFifo, makeWhiteoutDevice, setXattr } from './fs-tools.js';
import { createWorkerDigester, type WorkerDigester } from './hash-worker.js';
import { cleanComponents, physical, resolveDirectory, strictDirectory } from './root-path.js';
import { DEFAULT_TAR_READER_LIMITS, readTar, type TarHeader, type TarReaderLimits } from './tar-reader.js';

/**
 * Compressed bytes from which a layer's uncompressed bytes are hashed on a
 * worker thread (beside decompression and file writing) rather than on the
 * calling thread. Below it, a worker's start and messages cost more than
 * they save; a small blob that decompresses to a lot (a bomb) is stopped by
 * the limits long before hashing it matters.
 */
const WORKER_HASHING_MIN_BYTES = 1 << 20;

/** A sha256 computed on the calling thread, with the interface of the worker's. */
function inlineDigester(): WorkerDigester {
  const digester = new Digester();
  return {
    update(data) {
      digester.update(data);
      return undefined;
    },
    digest: async () => digester.digest(),
    dispose: () => undefined,
  };
}

/**
 * Reads source until at least n bytes arrived or it ended, keeping them;
 * chunks yields those bytes and then the rest of source (ending it early
 * ends source). reached: whether n bytes arrived.
 */
async function peekBytes(source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, n: number): Promise<{ chunks: AsyncIterable<Uint8Array>; reached: boolean }> {
  const iterator = Symbol.asyncIterator in source ? source[Symbol.asyncIterator]() : source[Symbol.iterator]();
  const head: Uint8Array[] = [];
  let bytes = 0;
  let done = false;
  try {
    while (bytes < n) {
      const next = await iterator.next();
      if (next.done === true) {
        done = true;
        break;
      }
      head.push(next.value);
      bytes += next.value.byteLength;
    }
  } catch (err) {
    await iterator.return?.();
    throw err;
  }
  const chunks = (async function* () {
    try {
      yield* head.splice(0);
      while (!done) {
        const next = await iterator.next();
        if (next.done === true) {
          done = true;
          return;
        }
        yield next.value;
      }
    } finally {
      if (!done) await iterator.return?.();
    }
  })();
  return { chunks, reached: bytes >= n };
}

/** How whiteouts land in the target (see {@link applyLayer}). */
export type ApplyMode = 'overlay' | 'native';

/** Every cap applyLayer enforces; each has a default (see DEFAULT_TAR_READER_LIMITS and DEFAULT_DECOMPRESS_LIMITS). */
export type ApplyLimits = TarReaderLimits & DecompressLimits;

/** The defaults of {@link ApplyLimits}. */
export const DEFAULT_APPLY_LIMITS: Readonly<ApplyLimits> = { ...DEFAULT_TAR_READER_LIMITS, ...DEFAULT_DECOMPRESS_LIMITS };

/** What {@link applyLayer} applies, and where. */
export interface ApplyLayerOptions {
  /** The layer blob as stored (compressed as its media type says). Consumed to its end, destroyed on failure. */
  blob: AsyncIterable<Uint8Array> | Iterable<Uint8Array>;
  /** The layer's media type (OCI or Docker; tar, tar+gzip, tar+zstd). */
  mediaType: string;
  /** The blob's digest, named in messages. */
  digest: Digest;
  /** The diff_id the image config lists for this layer: the digest of the uncompressed bytes. */
  diffId: Digest;
  /** The directory to write into: the snapshot's upper directory (overlay) or a full copy of the parent (native). */
  target: string;
  mode: ApplyMode;
  /** Caps beyond the defaults. */
  limits?: Partial<ApplyLimits>;
  /** Apply the archive's uid/gid; by default when running as root. */
  chown?: boolean;
  /** Aborts between entries (Canceled). */
  signal?: AbortSignal;
}

/** What {@link applyLayer} did. */
export interface AppliedLayer {
  /** Digest of the uncompressed bytes, trailing data included (equals options.diffId). */
  diffId: Digest;
  /** Uncompressed bytes, trailing data included. */
  size: number;
  /** Archive entries applied (whiteouts and opaque markers included; PAX and GNU records not). */
  entries: number;
}

const WHITEOUT_PREFIX = '.wh.';
const OPAQUE_MARKER = '.wh..wh..opq';
const OPAQUE_XATTR = 'trusted.overlay.opaque';
const O_NOFOLLOW_DIR = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;
const O_NEW_FILE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

function keptXattrs(xattrs: Record<string, Buffer>): Array<[string, Buffer]> {
  return Object.entries(xattrs).filter(([key]) => key === 'security.capability' || (key.startsWith('user.') && key.length > 'user.'.length));
}

function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

function removeAny(path: string, stats: Stats): void {
  if (stats.isDirectory()) rmSync(path, { recursive: true, force: true });
  else unlinkSync(path);
}

function writeAll(fd: number, chunk: Buffer): void {
  let at = 0;
  while (at < chunk.length) at += writeSync(fd, chunk, at, chunk.length - at);
}

interface PendingDirTime {
  components: string[];
  ino: number;
  mtime: number;
}

/**
 * One layer's extraction state: the target, the paths this layer wrote
 * (native mode: whiteouts and opaque markers only hide what lower layers
 * hold; in overlay mode the target holds only this layer) and the
 * directory times to set once their contents are written.
 */
class Extractor {
  readonly written = new Set<string>();
  readonly dirTimes = new Map<string, PendingDirTime>();

  constructor(
    private readonly root: string,
    private readonly mode: ApplyMode,
    private readonly chown: boolean,
  ) {}

  private markWritten(components: readonly string[]): void {
    for (let i = components.length; i > 0; i--) {
      const key = components.slice(0, i).join('/');
      if (this.written.has(key) && i < components.length) break;
      this.written.add(key);
    }
  }

  private setXattrs(path: string, header: TarHeader): void {
    for (const [key, value] of keptXattrs(header.xattrs)) setXattr(path, key, value);
  }

  async apply(header: TarHeader, data: () => AsyncIterable<Buffer>): Promise<void> {
    const what = `tar entry ${JSON.stringify(header.name.length > 120 ? `${header.name.slice(0, 120)}…` : header.name)}`;
    const components = cleanComponents(header.name);
    const base = components.at(-1);
    if (base === undefined) {
      if (header.type !== 'directory') throw invalidArgument(`${what}: names the root but is not a directory`);
      return;
    }
    const parentNames = components.slice(0, -1);

    if (base.startsWith(WHITEOUT_PREFIX)) {
      this.whiteoutEntry(what, parentNames, base);
      return;
    }
    if (header.type === 'char-device' && header.devmajor === 0 && header.devminor === 0) {
      this.whiteout(what, parentNames, base);
      return;
    }
    if (header.type === 'char-device' || header.type === 'block-device') {
      throw invalidArgument(`${what}: device nodes are not allowed in layers (${header.type} ${header.devmajor}:${header.devminor})`);
    }

    let linkTarget: string | undefined;
    if (header.type === 'hardlink') linkTarget = this.hardlinkTarget(what, header.linkname);

    const parent = resolveDirectory(this.root, parentNames, true, what)!;
    const own = [...parent, base];
    const path = physical(this.root, own);
    if (linkTarget === path) return;

    switch (header.type) {
      case 'directory': {
        this.createDirectory(path, own);
        const fd = openSync(path, O_NOFOLLOW_DIR);
        try {
          if (this.chown) fchownSync(fd, header.uid, header.gid);
          fchmodSync(fd, header.mode);
          this.dirTimes.set(own.join('/'), { components: own, ino: fstatSync(fd).ino, mtime: header.mtime });
        } finally {
          closeSync(fd);
        }
        this.setXattrs(path, header);
        break;
      }
      case 'file': {
        const fd = this.replacing(path, own, () => openSync(path, O_NEW_FILE, 0o600));
        try {
          for await (const chunk of data()) writeAll(fd, chunk);
          if (this.chown) fchownSync(fd, header.uid, header.gid);
          fchmodSync(fd, header.mode);
          futimesSync(fd, header.mtime, header.mtime);
        } finally {
          closeSync(fd);
        }
        this.setXattrs(path, header);
        break;
      }
      case 'symlink':
        this.replacing(path, own, () => symlinkSync(header.linkname, path));
        if (this.chown) lchownSync(path, header.uid, header.gid);
        lutimesSync(path, header.mtime, header.mtime);
        break;
      case 'hardlink':
        this.replacing(path, own, () => linkSync(linkTarget!, path));
        break;
      case 'fifo': {
        const existing = lstatOrUndefined(path);
        if (existing !== undefined) {
          removeAny(path, existing);
          this.dirTimes.delete(own.join('/'));
        }
        makeFifo(path, header.mode);
        if (this.chown) lchownSync(path, header.uid, header.gid);
        lutimesSync(path, header.mtime, header.mtime);
        break;
      }
      default:
        throw invalidArgument(`${what}: unsupported entry type ${header.type}`);
    }
    if (this.mode === 'native') this.markWritten(own);
  }

  /**
   * Runs create, which makes a new name at path and fails with EEXIST when
   * the name exists; then removes what is there (never following a link:
   * an existing non-directory is replaced, not written through) and runs it
   * again. The common case (nothing there) costs no extra system call.
   */
  private replacing<T>(path: string, own: readonly string[], create: () => T): T {
    try {
      return create();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    removeAny(path, lstatSync(path));
    this.dirTimes.delete(own.join('/'));
    return create();
  }

  /** Makes the directory of a directory entry (mode 0700 until its own mode is set), keeping an existing directory. */
  private createDirectory(path: string, own: readonly string[]): void {
    try {
      mkdirSync(path, 0o700);
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const existing = lstatSync(path);
    if (existing.isDirectory()) return;
    removeAny(path, existing);
    this.dirTimes.delete(own.join('/'));
    mkdirSync(path, 0o700);
  }

  /** A hardlink's target, resolved like a name; it must exist inside the root and not be a directory. */
  private hardlinkTarget(what: string, linkname: string): string {
    const components = cleanComponents(linkname);
    const base = components.at(-1);
    if (base === undefined) throw invalidArgument(`${what}: hardlink to the root`);
    const parent = resolveDirectory(this.root, components.slice(0, -1), false, what);
    const target = parent === undefined ? undefined : physical(this.root, [...parent, base]);
    const stats = target === undefined ? undefined : lstatOrUndefined(target);
    if (target === undefined || stats === undefined) throw invalidArgument(`${what}: hardlink target ${JSON.stringify(linkname)} does not exist in the layer's root`);
    if (stats.isDirectory()) throw invalidArgument(`${what}: hardlink target ${JSON.stringify(linkname)} is a directory`);
    return target;
  }

  private whiteoutEntry(what: string, parentNames: string[], base: string): void {
    if (base === OPAQUE_MARKER) {
      this.opaque(what, parentNames);
      return;
    }
    if (base.startsWith(`${WHITEOUT_PREFIX}${WHITEOUT_PREFIX}`)) return;
    const name = base.slice(WHITEOUT_PREFIX.length);
    if (name === '' || name === '.' || name === '..') throw invalidArgument(`${what}: a whiteout of ${JSON.stringify(name)} is not allowed`);
    this.whiteout(what, parentNames, name);
  }

  private whiteout(what: string, parentNames: string[], name: string): void {
    if (this.mode === 'overlay') {
      const parent = resolveDirectory(this.root, parentNames, true, what)!;
      const path = physical(this.root, [...parent, name]);
      if (lstatOrUndefined(path) !== undefined) return;
      makeWhiteoutDevice(path);
      return;
    }
    const parent = resolveDirectory(this.root, parentNames, false, what);
    if (parent === undefined) return;
    const own = [...parent, name];
    if (this.written.has(own.join('/'))) return;
    const path = physical(this.root, own);
    const stats = lstatOrUndefined(path);
    if (stats !== undefined) removeAny(path, stats);
  }

  private opaque(what: string, parentNames: string[]): void {
    if (this.mode === 'overlay') {
      const parent = resolveDirectory(this.root, parentNames, true, what)!;
      setXattr(physical(this.root, parent), OPAQUE_XATTR, Buffer.from('y'));
      return;
    }
    const parent = resolveDirectory(this.root, parentNames, false, what);
    if (parent !== undefined) this.hideLower(parent);
  }

  /** Native opaque directory: removes what lower layers put under dir, keeping what this layer wrote. */
  private hideLower(dir: string[]): void {
    const path = physical(this.root, dir);
    for (const name of readdirSync(path)) {
      const child = [...dir, name];
      const childPath = `${path}/${name}`;
      const stats = lstatSync(childPath);
      if (!this.written.has(child.join('/'))) removeAny(childPath, stats);
      else if (stats.isDirectory()) this.hideLower(child);
    }
  }

  /** Sets directory times last, each on the directory it was recorded for (re-walked, no symlink followed). */
  finish(): void {
    for (const pending of this.dirTimes.values()) {
      if (strictDirectory(this.root, pending.components) === undefined) continue;
      let fd: number;
      try {
        fd = openSync(physical(this.root, pending.components), O_NOFOLLOW_DIR);
      } catch {
        continue;
      }
      try {
        if (fstatSync(fd).ino === pending.ino) futimesSync(fd, pending.mtime, pending.mtime);
      } finally {
        closeSync(fd);
      }
    }
  }
}

/**
 * Applies a layer blob to target: decompress (gzip, zstd or none, from the
 * media type), hash the uncompressed bytes — trailing data after the
 * end-of-archive marker included — and extract the tar entry by entry,
 * streaming, with bounded memory.
 *
 * Safety (SECURITY.md "Layer tarballs"): names are cleaned as if absolute
 * (`..` never climbs above target); every entry's parent directories are
 * resolved from target on every entry, with chroot semantics for symlinks
 * (a symlink in a parent is followed as if target were `/`, so it can never
 * lead outside); an existing non-directory is removed and replaced, never
 * written through; hardlink targets are resolved the same way and must
 * exist inside target; devices other than the 0:0 whiteout are refused;
 * FIFOs are created; only `security.capability` and `user.*` xattrs are
 * kept; owners are set with fchown/lchown and modes with fchmod on a
 * descriptor opened without following links; directory times are set after
 * their contents. PAX and GNU long names override ustar names and are
 * checked against the limits; duplicates: the last entry wins. The root
 * entry (`./`) is skipped: target's own metadata stays the caller's.
 *
 * Whiteouts: in 'overlay' mode `.wh.name` becomes a 0:0 character device
 * and `.wh..wh..opq` the xattr `trusted.overlay.opaque=y` on its directory;
 * in 'native' mode (target is a full copy of the parent) a whiteout deletes
 * the path and an opaque marker removes what lower layers hold in the
 * directory, keeping what this layer wrote. Whiteouts never hide entries of
 * the same layer. `.wh..wh.*` (aufs metadata) is skipped.
 *
 * Raises FailedPrecondition `layer <digest> unpacked to diff_id X, expected
 * Y` on a diff_id mismatch; InvalidArgument for an unknown media type,
 * corrupt compression, a malformed or refused archive; ResourceExhausted
 * when a cap is passed; Canceled on abort; Unavailable when a needed tool
 * (zstd, mknod, setfattr) is missing. On ANY error target holds a partial
 * layer and must be thrown away, never committed.
 */
export async function applyLayer(options: ApplyLayerOptions): Promise<AppliedLayer> {
  const what = `layer ${options.digest}`;
  const compression = layerCompression(options.mediaType);
  if (compression === undefined) throw invalidArgument(`${what}: unsupported layer media type ${JSON.stringify(options.mediaType)}`);
  const limits: ApplyLimits = { ...DEFAULT_APPLY_LIMITS, ...options.limits };
  const rootStats = lstatOrUndefined(options.target);
  if (rootStats === undefined || !rootStats.isDirectory()) throw invalidArgument(`${what}: target ${options.target} is not a directory`);

  const counters: DecompressCounters = { compressed: 0, decompressed: 0 };
  const extractor = new Extractor(options.target, options.mode, options.chown ?? process.getuid?.() === 0);
  let digester: WorkerDigester | undefined;
  let entries = 0;
  try {
    const blob = await peekBytes(options.blob, WORKER_HASHING_MIN_BYTES);
    const hash = blob.reached ? createWorkerDigester() : inlineDigester();
    digester = hash;
    const hashed = (async function* () {
      for await (const chunk of decompress(blob.chunks, compression, what, limits, counters)) {
        const wait = hash.update(chunk);
        if (wait !== undefined) await wait;
        yield chunk;
      }
    })();
    for await (const { header, data } of readTar(hashed, limits)) {
      if (options.signal?.aborted === true) throw canceled(`${what}: apply was aborted`);
      await extractor.apply(header, data);
      entries++;
    }
    extractor.finish();
  } catch (err) {
    digester?.dispose();
    if (isStrataError(err)) {
      if (err.message.startsWith(what) || err.kind === 'FailedPrecondition') throw err;
      throw new StrataError(err.kind, `${what}: ${err.message}`, { cause: err, fields: err.fields });
    }
    const code = (err as NodeJS.ErrnoException).code;
    const message = `${what}: ${(err as Error).message}`;
    if (code === 'ENOSPC' || code === 'EDQUOT') throw resourceExhausted(message, { cause: err });
    throw internal(message, { cause: err });
  }
  const diffId = await digester.digest();
  if (diffId !== options.diffId) throw failedPrecondition(`layer ${options.digest} unpacked to diff_id ${diffId}, expected ${options.diffId}`);
  return { diffId, size: counters.decompressed, entries };
}
