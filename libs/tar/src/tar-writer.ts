import { Readable } from 'node:stream';
import { canceled, failedPrecondition, invalidArgument } from '@strata/kit';
import { TYPE_FLAGS, type TarEntry } from './tar-entry.js';
import { BLOCK_SIZE, encodeHeader, padding, paxRecord, utf8, type HeaderFieldName, type HeaderFieldValue } from './tar-header.js';

const MAX_OCTAL_11 = 0o77777777777;
const MAX_OCTAL_7 = 0o7777777;
const END_OF_ARCHIVE = new Uint8Array(2 * BLOCK_SIZE);
const SLASH = 0x2f;

/** Settings of {@link createTarWriter}. */
export interface TarWriterOptions {
  /** Bytes the output stream buffers before add() waits for the reader; 64 KiB by default. */
  highWaterMark?: number;
}

/** Settings of {@link TarWriter.finish}. */
export interface TarFinishOptions {
  /** Bytes written after the end-of-archive marker (hostile fixtures: trailing data is part of a diff_id). */
  trailer?: Uint8Array;
}

/**
 * A streaming tar writer. Entries are written in the order add() is called
 * (calls queue behind each other), each as an optional PAX extended header,
 * a ustar header, its data and zero padding; finish() writes the two zero
 * blocks that end the archive and ends the stream. The same entries and data
 * always give the same bytes. add() waits while the reader of `stream` lags
 * (backpressure), so always consume `stream` while adding.
 */
export interface TarWriter {
  /** The archive bytes. Destroying it makes pending and later add() calls fail with Canceled. */
  readonly stream: Readable;
  /**
   * Writes one entry. data is the file content (a file's only); a stream
   * must yield exactly `entry.size` bytes. Raises InvalidArgument for an
   * entry that cannot be written (before anything of it is written, the
   * writer stays usable) or for data whose length differs from the size
   * (the writer then fails and destroys its stream); FailedPrecondition
   * after finish() or a failure; Canceled when the reader destroyed the
   * stream.
   */
  add(entry: TarEntry, data?: Uint8Array | AsyncIterable<Uint8Array>): Promise<void>;
  /**
   * Writes bytes verbatim, with no header and no padding: for records the
   * caller framed itself (hostile fixtures). Raises like add().
   */
  addRaw(bytes: Uint8Array): Promise<void>;
  /** Ends the archive and the stream. Raises FailedPrecondition when already finished or failed. */
  finish(options?: TarFinishOptions): Promise<void>;
  /** Bytes handed to the stream so far. */
  readonly bytesWritten: number;
}

/** How error messages name an entry: `tar entry "NAME"`, long names cut at 200 characters. */
export function describeEntry(entry: TarEntry): string {
  return `tar entry ${JSON.stringify(entry.name.length > 200 ? `${entry.name.slice(0, 200)}…` : entry.name)}`;
}
const describe = describeEntry;

/**
 * The size of an entry's data: the bytes given, or entry.size for data that
 * comes later (a stream or a file, called `kind` in messages).
 * InvalidArgument when the two disagree, when later data has no size, or
 * when a size is declared and no data given.
 */
export function entryDataSize(entry: TarEntry, data: Uint8Array | object | undefined, kind: string): number {
  if (data instanceof Uint8Array) {
    if (entry.size !== undefined && entry.size !== data.length) {
      throw invalidArgument(`${describe(entry)}: size ${entry.size} differs from the ${data.length} bytes given`);
    }
    return data.length;
  }
  if (data !== undefined && entry.size === undefined) throw invalidArgument(`${describe(entry)}: ${kind} data needs entry.size`);
  const size = entry.size ?? 0;
  if (data === undefined && size > 0) throw invalidArgument(`${describe(entry)}: declares ${size} bytes but no data was given`);
  return size;
}

function checkWhole(entry: TarEntry, what: string, value: number | undefined, max = Number.MAX_SAFE_INTEGER): void {
  if (value !== undefined && (!Number.isSafeInteger(value) || value < 0 || value > max)) {
    throw invalidArgument(`${describe(entry)}: ${what} ${value} is not a whole number in 0..${max}`);
  }
}

function checkEntry(entry: TarEntry): void {
  const what = describe(entry);
  if (!(entry.type in TYPE_FLAGS)) throw invalidArgument(`${what}: unknown type ${JSON.stringify(entry.type)}`);
  if (entry.name === '') throw invalidArgument(`${what}: the name is empty`);
  if (entry.name.includes('\0')) throw invalidArgument(`${what}: the name contains NUL`);
  const isLink = entry.type === 'symlink' || entry.type === 'hardlink';
  if (isLink && (entry.linkname === undefined || entry.linkname === '')) throw invalidArgument(`${what}: a ${entry.type} needs a linkname`);
  if (!isLink && entry.linkname !== undefined) throw invalidArgument(`${what}: only links have a linkname`);
  if (entry.linkname?.includes('\0')) throw invalidArgument(`${what}: the linkname contains NUL`);
  const isDevice = entry.type === 'char-device' || entry.type === 'block-device';
  if (!isDevice && (entry.devmajor !== undefined || entry.devminor !== undefined)) {
    throw invalidArgument(`${what}: only devices have devmajor and devminor`);
  }
  checkWhole(entry, 'mode', entry.mode, 0o7777);
  checkWhole(entry, 'uid', entry.uid);
  checkWhole(entry, 'gid', entry.gid);
  checkWhole(entry, 'devmajor', entry.devmajor, MAX_OCTAL_7);
  checkWhole(entry, 'devminor', entry.devminor, MAX_OCTAL_7);
  checkWhole(entry, 'size', entry.size);
  if (entry.type !== 'file' && (entry.size ?? 0) !== 0) throw invalidArgument(`${what}: only files have data, but size is ${entry.size}`);
  if (entry.mtime !== undefined && !(Number.isFinite(entry.mtime) && Math.abs(entry.mtime) < 1e15)) {
    throw invalidArgument(`${what}: mtime ${entry.mtime} is not a time in seconds`);
  }
  for (const key of [...Object.keys(entry.xattrs ?? {}).map((k) => `SCHILY.xattr.${k}`), ...Object.keys(entry.pax ?? {})]) {
    if (key.includes('=') || key.includes('\0') || key.endsWith('.')) {
      throw invalidArgument(`${what}: PAX key ${JSON.stringify(key)} is empty or contains "=" or NUL`);
    }
  }
}

/** Splits name bytes into a ustar prefix and name, or undefined when they need a PAX path. */
function splitName(bytes: Uint8Array): { name: Uint8Array; prefix?: Uint8Array } | undefined {
  if (bytes.length <= 100) return { name: bytes };
  for (let i = Math.max(1, bytes.length - 101); i <= 155 && i < bytes.length - 1; i++) {
    if (bytes[i] === SLASH) return { prefix: bytes.subarray(0, i), name: bytes.subarray(i + 1) };
  }
  return undefined;
}

function baseName(name: string): string {
  const trimmed = name.replace(/\/+$/, '');
  return trimmed.slice(trimmed.lastIndexOf('/') + 1) || 'root';
}

function truncate(bytes: Uint8Array, max: number): Uint8Array {
  return bytes.length <= max ? bytes : bytes.subarray(0, max);
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  return Buffer.concat(parts);
}

/**
 * The header blocks of entry whose data is size bytes: a PAX extended header
 * (type `x`) when a value does not fit ustar (names over 100/155 bytes,
 * linknames over 100, sizes and times beyond 11 octal digits, ids beyond 7,
 * long user names, fractional or negative times, xattrs, extra records),
 * then the ustar header. Raises InvalidArgument for an entry that cannot be
 * written (empty name, NUL in a name, a link without target, out-of-range
 * numbers, data on a non-file).
 */
export function encodeEntryHeaders(entry: TarEntry, size: number): Uint8Array {
  checkEntry({ ...entry, size });
  const name = entry.type === 'directory' && !entry.name.endsWith('/') ? `${entry.name}/` : entry.name;
  const pax: Array<[string, string | Uint8Array]> = [];
  const fields: Partial<Record<HeaderFieldName, HeaderFieldValue>> = { typeflag: TYPE_FLAGS[entry.type] };

  const nameBytes = utf8(name);
  const split = splitName(nameBytes);
  if (split === undefined) {
    pax.push(['path', name]);
    fields.name = truncate(nameBytes, 100);
  } else {
    fields.name = split.name;
    if (split.prefix !== undefined) fields.prefix = split.prefix;
  }
  if (entry.linkname !== undefined) {
    const link = utf8(entry.linkname);
    if (link.length > 100) pax.push(['linkpath', entry.linkname]);
    fields.linkname = truncate(link, 100);
  }
  const numeric = (key: 'size' | 'uid' | 'gid', field: HeaderFieldName, value: number, max: number) => {
    if (value > max) pax.push([key, String(value)]);
    fields[field] = value > max ? 0 : value;
  };
  numeric('size', 'size', size, MAX_OCTAL_11);
  numeric('uid', 'uid', entry.uid ?? 0, MAX_OCTAL_7);
  numeric('gid', 'gid', entry.gid ?? 0, MAX_OCTAL_7);
  for (const key of ['uname', 'gname'] as const) {
    const value = utf8(entry[key] ?? '');
    if (value.length > 32) pax.push([key, entry[key] ?? '']);
    fields[key] = value.length > 32 ? '' : value;
  }
  const mtime = entry.mtime ?? 0;
  const plainTime = Number.isSafeInteger(mtime) && mtime >= 0 && mtime <= MAX_OCTAL_11;
  if (!plainTime) pax.push(['mtime', String(mtime)]);
  fields.mtime = plainTime ? mtime : 0;
  fields.mode = entry.mode ?? (entry.type === 'directory' ? 0o755 : entry.type === 'symlink' ? 0o777 : 0o644);
  if (entry.type === 'char-device' || entry.type === 'block-device') {
    fields.devmajor = entry.devmajor ?? 0;
    fields.devminor = entry.devminor ?? 0;
  }
  for (const key of Object.keys(entry.xattrs ?? {}).sort()) pax.push([`SCHILY.xattr.${key}`, entry.xattrs![key]!]);
  for (const [key, value] of Object.entries(entry.pax ?? {})) pax.push([key, value]);

  const ustar = encodeHeader(fields);
  if (pax.length === 0) return ustar;
  const records = concat(pax.map(([k, v]) => paxRecord(k, v)));
  const paxHeader = encodeHeader({
    name: truncate(utf8(`PaxHeaders.0/${baseName(name)}`), 100),
    mode: 0o644,
    size: records.length,
    mtime: fields.mtime,
    typeflag: 'x',
  });
  return concat([paxHeader, records, padding(records.length), ustar]);
}

/**
 * Creates a streaming tar writer (see {@link TarWriter}). Output is POSIX
 * ustar with PAX extended headers where ustar falls short; GNU tar, bsdtar,
 * Go's archive/tar and containerd read it.
 */
export function createTarWriter(options: TarWriterOptions = {}): TarWriter {
  let waiting: (() => void) | undefined;
  const wake = () => {
    const resume = waiting;
    waiting = undefined;
    resume?.();
  };
  const stream = new Readable({
    highWaterMark: options.highWaterMark ?? 64 * 1024,
    read: wake,
    destroy: (err, callback) => {
      wake();
      callback(err);
    },
  });
  let state: 'open' | 'finished' | 'failed' = 'open';
  let failure = '';
  let written = 0;
  let queue: Promise<unknown> = Promise.resolve();

  const push = async (chunk: Uint8Array): Promise<void> => {
    if (chunk.length === 0) return;
    if (stream.destroyed) throw canceled('tar stream was closed by its reader');
    written += chunk.length;
    if (!stream.push(chunk)) {
      await new Promise<void>((resolve) => {
        waiting = resolve;
      });
      if (stream.destroyed) throw canceled('tar stream was closed by its reader');
    }
  };

  const fail = (err: unknown): never => {
    if (state === 'open') {
      state = 'failed';
      failure = err instanceof Error ? err.message : String(err);
      if (!stream.destroyed) stream.destroy(err instanceof Error ? err : new Error(failure));
    }
    throw err;
  };

  const checkOpen = () => {
    if (state === 'finished') throw failedPrecondition('tar writer is finished; create a new one');
    if (state === 'failed') throw failedPrecondition(`tar writer failed earlier: ${failure}`);
  };

  const enqueue = (work: () => Promise<void>): Promise<void> => {
    const run = queue.then(() => {
      checkOpen();
      return work();
    });
    queue = run.catch(() => undefined);
    return run;
  };

  const writeData = async (entry: TarEntry, size: number, data: AsyncIterable<Uint8Array>) => {
    let seen = 0;
    for await (const chunk of data) {
      seen += chunk.length;
      if (seen > size) throw invalidArgument(`${describe(entry)}: data is longer than the declared size ${size}`);
      await push(chunk);
    }
    if (seen < size) throw invalidArgument(`${describe(entry)}: data ended after ${seen} of ${size} bytes`);
  };

  return {
    stream,
    get bytesWritten() {
      return written;
    },
    add(entry, data) {
      return enqueue(async () => {
        const size = entryDataSize(entry, data, 'streamed');
        const headers = encodeEntryHeaders(entry, size);
        try {
          await push(headers);
          if (data instanceof Uint8Array) await push(data);
          else if (data !== undefined) await writeData(entry, size, data);
          await push(padding(size));
        } catch (err) {
          fail(err);
        }
      });
    },
    addRaw(bytes) {
      return enqueue(async () => {
        try {
          await push(bytes);
        } catch (err) {
          fail(err);
        }
      });
    },
    finish(finishOptions = {}) {
      return enqueue(async () => {
        try {
          await push(END_OF_ARCHIVE);
          if (finishOptions.trailer !== undefined) await push(finishOptions.trailer);
        } catch (err) {
          fail(err);
        }
        state = 'finished';
        stream.push(null);
      });
    },
  };
}

/** One entry and its data for {@link tarBytes}. */
export interface TarItem {
  entry: TarEntry;
  data?: Uint8Array | AsyncIterable<Uint8Array>;
}

/** Reads a byte stream to the end into one buffer. */
export async function collectBytes(source: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const chunk of source) parts.push(chunk);
  return Buffer.concat(parts);
}

/** A whole archive in memory, entries in the given order. Raises like {@link TarWriter.add}. */
export async function tarBytes(items: Iterable<TarItem> | AsyncIterable<TarItem>, finish: TarFinishOptions = {}): Promise<Uint8Array> {
  const writer = createTarWriter();
  const collected = collectBytes(writer.stream);
  collected.catch(() => undefined);
  try {
    for await (const item of items) await writer.add(item.entry, item.data);
    await writer.finish(finish);
  } catch (err) {
    writer.stream.destroy();
    throw err;
  }
  return collected;
}
