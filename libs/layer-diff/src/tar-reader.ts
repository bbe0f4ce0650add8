import { invalidArgument, resourceExhausted } from '@strata/kit';
import { BLOCK_SIZE, HEADER_FIELDS, type HeaderFieldName, type TarEntryType } from '@strata/tar';

/** Caps a tar reader enforces on what an archive may declare (SECURITY.md "Layer tarballs": bombs, long names). */
export interface TarReaderLimits {
  /** Headers of any kind (entries, PAX and GNU long-name records); 1 000 000 by default. */
  maxEntries: number;
  /** Bytes of one PAX extended header or GNU long-name/long-link record; 1 MiB by default. */
  maxHeaderBytes: number;
  /** Bytes of an entry's name or link target (PATH_MAX); 4096 by default. */
  maxPathBytes: number;
  /** Bytes of one path component (NAME_MAX); 255 by default. */
  maxNameBytes: number;
  /** Components of an entry's name; 256 by default. */
  maxDepth: number;
  /** Declared data bytes of one entry; 64 GiB by default. */
  maxEntryBytes: number;
}

/** The defaults of {@link TarReaderLimits}. */
export const DEFAULT_TAR_READER_LIMITS: Readonly<TarReaderLimits> = {
  maxEntries: 1_000_000,
  maxHeaderBytes: 1 << 20,
  maxPathBytes: 4096,
  maxNameBytes: 255,
  maxDepth: 256,
  maxEntryBytes: 64 * 1024 ** 3,
};

/**
 * One entry as the extractor must use it: PAX records and GNU long
 * names/links already override the ustar fields, numbers are checked, the
 * name and link target are within the limits and free of NUL. The name is
 * as written in the archive (not cleaned).
 */
export interface TarHeader {
  name: string;
  type: TarEntryType;
  /** Permission bits, 0..0o7777. */
  mode: number;
  uid: number;
  gid: number;
  /** Seconds since the epoch, fractional when a PAX record says so. */
  mtime: number;
  /** Data bytes that follow (0 for every type but files). */
  size: number;
  /** Target of a symlink or hardlink; '' otherwise. */
  linkname: string;
  devmajor: number;
  devminor: number;
  /** `SCHILY.xattr.*` PAX records, values as raw bytes. */
  xattrs: Record<string, Buffer>;
}

/** An entry of {@link readTar}: its header and its data, to be read before the next entry (or skipped). */
export interface TarReadEntry {
  header: TarHeader;
  /** The entry's data in chunks (exactly header.size bytes); what is not read is skipped. */
  data(): AsyncIterable<Buffer>;
}

const textDecoder = new TextDecoder('utf-8');

function field(block: Buffer, name: HeaderFieldName): Buffer {
  const [offset, length] = HEADER_FIELDS[name];
  return block.subarray(offset, offset + length);
}

function cString(bytes: Buffer): Buffer {
  const nul = bytes.indexOf(0);
  return nul === -1 ? bytes : bytes.subarray(0, nul);
}

const decode = (bytes: Uint8Array): string => textDecoder.decode(bytes);

function describeName(name: string): string {
  return JSON.stringify(name.length > 120 ? `${name.slice(0, 120)}…` : name);
}

const SPACE = 0x20;
const ZERO = 0x30;
const SEVEN = 0x37;

/**
 * A numeric header field: octal text (spaces/NULs around it) or GNU
 * base-256. entry is the raw entry name, quoted in messages.
 */
function parseNumber(block: Buffer, name: HeaderFieldName, entry: string): number {
  const [offset, length] = HEADER_FIELDS[name];
  const first = block[offset] ?? 0;
  if (first & 0x80) {
    if (first === 0xff) throw invalidArgument(`tar entry ${describeName(entry)}: ${name} is negative (base-256)`);
    let value = BigInt(first & 0x7f);
    for (let i = offset + 1; i < offset + length; i++) value = (value << 8n) | BigInt(block[i] ?? 0);
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw invalidArgument(`tar entry ${describeName(entry)}: ${name} ${value} is out of range`);
    return Number(value);
  }
  let start = offset;
  let end = offset + length;
  while (start < end && (block[start] === SPACE || block[start] === 0)) start++;
  while (end > start && (block[end - 1] === SPACE || block[end - 1] === 0)) end--;
  let value = 0;
  for (let i = start; i < end; i++) {
    const digit = block[i]!;
    if (digit < ZERO || digit > SEVEN) {
      throw invalidArgument(`tar entry ${describeName(entry)}: ${name} ${JSON.stringify(block.toString('latin1', start, end))} is not an octal number`);
    }
    value = value * 8 + (digit - ZERO);
  }
  if (!Number.isSafeInteger(value)) throw invalidArgument(`tar entry ${describeName(entry)}: ${name} ${block.toString('latin1', start, end)} is out of range`);
  return value;
}

/**
 * Whether stored is the header's checksum: the sum of its bytes with the
 * checksum field read as spaces, unsigned or (as some old tars wrote it)
 * signed. The signed sum is the unsigned one less 256 for every byte over 127.
 */
function checksumMatches(block: Buffer, stored: number): boolean {
  const [offset, length] = HEADER_FIELDS.checksum;
  let unsigned = length * SPACE;
  let high = 0;
  for (let i = 0; i < offset; i++) {
    const b = block[i]!;
    unsigned += b;
    high += b >> 7;
  }
  for (let i = offset + length; i < BLOCK_SIZE; i++) {
    const b = block[i]!;
    unsigned += b;
    high += b >> 7;
  }
  return stored === unsigned || stored === unsigned - 256 * high;
}

const TYPES: Readonly<Record<string, TarEntryType>> = {
  '0': 'file',
  '\0': 'file',
  '7': 'file',
  '1': 'hardlink',
  '2': 'symlink',
  '3': 'char-device',
  '4': 'block-device',
  '5': 'directory',
  '6': 'fifo',
};

/** PAX records that apply to the next entry (local) or to all that follow (global). */
type PaxRecords = Map<string, Buffer>;

function parsePax(body: Buffer, entry: string): PaxRecords {
  const records: PaxRecords = new Map();
  let at = 0;
  while (at < body.length) {
    if (body[at] === 0) break;
    const space = body.indexOf(0x20, at);
    const lengthText = space === -1 ? '' : body.toString('latin1', at, space);
    if (!/^[1-9][0-9]{0,8}$/.test(lengthText)) throw invalidArgument(`tar entry ${describeName(entry)}: malformed PAX record length ${JSON.stringify(lengthText.slice(0, 20))}`);
    const length = Number(lengthText);
    const end = at + length;
    if (end > body.length || body[end - 1] !== 0x0a) throw invalidArgument(`tar entry ${describeName(entry)}: PAX record of ${length} bytes overruns its header`);
    const record = body.subarray(space + 1, end - 1);
    const equals = record.indexOf(0x3d);
    if (equals <= 0) throw invalidArgument(`tar entry ${describeName(entry)}: PAX record without key=value`);
    const key = record.toString('utf8', 0, equals);
    if (key.startsWith('GNU.sparse.')) throw invalidArgument(`tar entry ${describeName(entry)}: sparse files (PAX ${key}) are not supported`);
    records.set(key, Buffer.from(record.subarray(equals + 1)));
    at = end;
  }
  return records;
}

function paxText(records: PaxRecords, key: string, entry: string): string | undefined {
  const value = records.get(key);
  if (value === undefined || value.length === 0) return undefined;
  if (value.includes(0)) throw invalidArgument(`tar entry ${describeName(entry)}: PAX ${key} contains NUL`);
  return decode(value);
}

function paxInteger(records: PaxRecords, key: string, entry: string): number | undefined {
  const text = paxText(records, key, entry);
  if (text === undefined) return undefined;
  if (!/^[0-9]{1,16}$/.test(text) || !Number.isSafeInteger(Number(text))) {
    throw invalidArgument(`tar entry ${describeName(entry)}: PAX ${key} ${JSON.stringify(text.slice(0, 40))} is not a whole number`);
  }
  return Number(text);
}

function paxTime(records: PaxRecords, key: string, entry: string): number | undefined {
  const text = paxText(records, key, entry);
  if (text === undefined) return undefined;
  if (!/^-?[0-9]{1,15}(\.[0-9]{1,9})?[0-9]*$/.test(text)) throw invalidArgument(`tar entry ${describeName(entry)}: PAX ${key} ${JSON.stringify(text.slice(0, 40))} is not a time`);
  return Number(text);
}

function checkPath(what: string, value: string, entry: string, limits: TarReaderLimits, isName: boolean): void {
  if (value.includes('\0')) throw invalidArgument(`tar entry ${describeName(entry)}: the ${what} contains NUL`);
  const bytes = Buffer.byteLength(value);
  if (bytes > limits.maxPathBytes) throw invalidArgument(`tar entry ${describeName(entry)}: the ${what} is ${bytes} bytes, over the limit of ${limits.maxPathBytes}`);
  if (!isName) return;
  // A name of n bytes has at most (n + 1) / 2 components, none longer than n: short names are within both limits.
  if (bytes <= limits.maxNameBytes && (bytes + 1) / 2 <= limits.maxDepth) return;
  const parts = value.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.length > limits.maxDepth) throw invalidArgument(`tar entry ${describeName(entry)}: the name is ${parts.length} levels deep, over the limit of ${limits.maxDepth}`);
  for (const part of parts) {
    const length = Buffer.byteLength(part);
    if (length > limits.maxNameBytes) throw invalidArgument(`tar entry ${describeName(entry)}: a name component is ${length} bytes, over the limit of ${limits.maxNameBytes}`);
  }
}

const EMPTY = Buffer.alloc(0);

/** Buffered reads of exact byte counts from a chunk iterator. */
class ByteSource {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private ended = false;

  constructor(private readonly source: AsyncIterator<Uint8Array>) {}

  /** Buffers at least n bytes; false when the source ends first. */
  async fill(n: number): Promise<boolean> {
    while (this.buffered < n) {
      if (this.ended) return false;
      const next = await this.source.next();
      if (next.done === true) {
        this.ended = true;
        return false;
      }
      const chunk = Buffer.isBuffer(next.value) ? next.value : Buffer.from(next.value.buffer, next.value.byteOffset, next.value.byteLength);
      if (chunk.length > 0) {
        this.chunks.push(chunk);
        this.buffered += chunk.length;
      }
    }
    return true;
  }

  get available(): number {
    return this.buffered;
  }

  /** Takes n buffered bytes (n ≤ available). */
  take(n: number): Buffer {
    const first = this.chunks[0];
    if (first !== undefined && first.length >= n) {
      const out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      this.buffered -= n;
      return out;
    }
    const out = Buffer.allocUnsafe(n);
    let at = 0;
    while (at < n) {
      const chunk = this.chunks[0]!;
      const part = Math.min(chunk.length, n - at);
      chunk.copy(out, at, 0, part);
      at += part;
      if (part === chunk.length) this.chunks.shift();
      else this.chunks[0] = chunk.subarray(part);
    }
    this.buffered -= n;
    return out;
  }

  /** Takes up to n buffered bytes without copying (from the first buffered chunk); empty when nothing is buffered. */
  takeBuffered(n: number): Buffer {
    if (this.buffered === 0) return EMPTY;
    return this.take(Math.min(n, this.chunks[0]!.length));
  }

  /** Takes up to n bytes without copying, reading more when nothing is buffered; empty at the end. */
  async takeSome(n: number): Promise<Buffer> {
    if (this.buffered === 0 && !(await this.fill(1))) return EMPTY;
    return this.takeBuffered(n);
  }

  /** Reads the source to its end, discarding everything. */
  async drain(): Promise<void> {
    this.chunks = [];
    this.buffered = 0;
    while (!this.ended) {
      const next = await this.source.next();
      if (next.done === true) this.ended = true;
    }
  }
}

function isZeroBlock(block: Buffer): boolean {
  for (let i = 0; i < BLOCK_SIZE; i++) if (block[i] !== 0) return false;
  return true;
}

const pad = (size: number): number => (BLOCK_SIZE - (size % BLOCK_SIZE)) % BLOCK_SIZE;

/**
 * Reads a tar archive as a stream of entries, with bounded memory: PAX
 * extended headers (local and global) and GNU long names/links override the
 * ustar fields; duplicates are returned as they come (the extractor lets the
 * last one win). Reading stops at the first zero block (the end-of-archive
 * marker) or at the end of the source on a block boundary; the source is
 * then read to its end (trailing data is the caller's to hash) unless
 * `drain` is false. Raises InvalidArgument for a malformed archive (bad
 * checksum, non-octal or negative numbers, truncated data, NUL in a PAX
 * name, unsupported entry types such as sparse files, names over the
 * limits) and ResourceExhausted when an archive declares more than the
 * limits allow (entries, header bytes, entry size).
 */
export async function* readTar(
  source: AsyncIterable<Uint8Array>,
  limits: Partial<TarReaderLimits> = {},
  drain = true,
): AsyncGenerator<TarReadEntry, void, undefined> {
  const caps: TarReaderLimits = { ...DEFAULT_TAR_READER_LIMITS, ...limits };
  const iterator = source[Symbol.asyncIterator]();
  const bytes = new ByteSource(iterator);
  let headers = 0;
  let global: PaxRecords = new Map();
  let local: PaxRecords = new Map();
  let longName: string | undefined;
  let longLink: string | undefined;

  const readBody = async (size: number, entry: string, what: string): Promise<Buffer> => {
    if (size > caps.maxHeaderBytes) throw resourceExhausted(`tar entry ${describeName(entry)}: ${what} of ${size} bytes is over the limit of ${caps.maxHeaderBytes}`);
    const total = size + pad(size);
    if (!(await bytes.fill(total))) throw invalidArgument(`tar entry ${describeName(entry)}: the archive ends inside its ${what}`);
    return Buffer.from(bytes.take(total).subarray(0, size));
  };

  try {
    for (;;) {
      if (bytes.available < BLOCK_SIZE && !(await bytes.fill(BLOCK_SIZE))) {
        if (bytes.available === 0) break;
        throw invalidArgument('tar archive ends inside a header block');
      }
      const block = bytes.take(BLOCK_SIZE);
      if (isZeroBlock(block)) break;
      headers++;
      if (headers > caps.maxEntries) throw resourceExhausted(`tar archive has more than ${caps.maxEntries} entries`);

      const magic = field(block, 'magic').toString('latin1');
      const ustar = magic === 'ustar\0';
      let rawName = cString(field(block, 'name'));
      if (ustar) {
        const prefix = cString(field(block, 'prefix'));
        if (prefix.length > 0) rawName = Buffer.concat([prefix, Buffer.from('/'), rawName]);
      }
      const headerName = decode(rawName);
      if (local.get('path')?.includes(0) === true) throw invalidArgument(`tar entry ${describeName(headerName)}: the PAX path contains NUL`);
      const shown = longName ?? paxText(local, 'path', '') ?? headerName;

      const storedChecksum = parseNumber(block, 'checksum', shown);
      if (!checksumMatches(block, storedChecksum)) throw invalidArgument(`tar entry ${describeName(shown)}: header checksum does not match`);

      const flag = String.fromCharCode(block[HEADER_FIELDS.typeflag[0]]!);
      const headerSize = parseNumber(block, 'size', shown);

      if (flag === 'x' || flag === 'g') {
        const records = parsePax(await readBody(headerSize, shown, 'PAX header'), shown);
        if (flag === 'x') {
          for (const [k, v] of records) local.set(k, v);
        } else {
          global = new Map([...global, ...records]);
          for (const [k, v] of records) if (v.length === 0) global.delete(k);
        }
        continue;
      }
      if (flag === 'L' || flag === 'K') {
        if (headerSize > caps.maxPathBytes + 1) {
          throw invalidArgument(`tar entry ${describeName(shown)}: GNU long ${flag === 'L' ? 'name' : 'link'} is ${headerSize} bytes, over the limit of ${caps.maxPathBytes}`);
        }
        const value = decode(cString(await readBody(headerSize, shown, 'GNU long-name record')));
        if (flag === 'L') longName = value;
        else longLink = value;
        continue;
      }

      const type = TYPES[flag];
      if (type === undefined) throw invalidArgument(`tar entry ${describeName(shown)}: unsupported entry type ${JSON.stringify(flag)}`);
      // The local records override the global ones; an empty local value removes the key. Without global records, local is used as it is (it is replaced below).
      const records: PaxRecords = global.size === 0 ? local : new Map([...global, ...local]);
      for (const [k, v] of local) if (v.length === 0) records.delete(k);

      const name = paxText(records, 'path', shown) ?? longName ?? headerName;
      const linkname = paxText(records, 'linkpath', name) ?? longLink ?? decode(cString(field(block, 'linkname')));
      const size = paxInteger(records, 'size', name) ?? headerSize;
      const header: TarHeader = {
        name,
        type: type === 'file' && name.endsWith('/') && flag !== '7' ? 'directory' : type,
        mode: parseNumber(block, 'mode', name) & 0o7777,
        uid: paxInteger(records, 'uid', name) ?? parseNumber(block, 'uid', name),
        gid: paxInteger(records, 'gid', name) ?? parseNumber(block, 'gid', name),
        mtime: paxTime(records, 'mtime', name) ?? parseNumber(block, 'mtime', name),
        size: 0,
        linkname: '',
        devmajor: 0,
        devminor: 0,
        xattrs: {},
      };
      local = new Map();
      longName = undefined;
      longLink = undefined;

      if (name === '') throw invalidArgument('tar entry with an empty name');
      checkPath('name', name, name, caps, true);
      if (header.type === 'symlink' || header.type === 'hardlink') {
        if (linkname === '') throw invalidArgument(`tar entry ${describeName(name)}: a ${header.type} without a target`);
        checkPath('link target', linkname, name, caps, false);
        header.linkname = linkname;
      }
      if (header.type === 'char-device' || header.type === 'block-device') {
        header.devmajor = parseNumber(block, 'devmajor', name);
        header.devminor = parseNumber(block, 'devminor', name);
      }
      for (const [key, value] of records) {
        if (key.startsWith('SCHILY.xattr.') && key.length > 'SCHILY.xattr.'.length) header.xattrs[key.slice('SCHILY.xattr.'.length)] = value;
      }

      // Only regular files carry data; the size of other types is not read (as Go's archive/tar does).
      const dataSize = header.type === 'file' ? size : 0;
      if (dataSize > caps.maxEntryBytes) throw resourceExhausted(`tar entry ${describeName(name)}: declares ${dataSize} bytes, over the limit of ${caps.maxEntryBytes}`);
      header.size = dataSize;

      let left = dataSize;
      const data = async function* (): AsyncGenerator<Buffer> {
        while (left > 0) {
          let chunk = bytes.takeBuffered(left);
          if (chunk.length === 0) chunk = await bytes.takeSome(left);
          if (chunk.length === 0) throw invalidArgument(`tar entry ${describeName(name)}: the archive ends ${left} bytes before the end of its data`);
          left -= chunk.length;
          yield chunk;
        }
      };
      yield { header, data };
      while (left > 0) {
        let chunk = bytes.takeBuffered(left);
        if (chunk.length === 0) chunk = await bytes.takeSome(left);
        if (chunk.length === 0) throw invalidArgument(`tar entry ${describeName(name)}: the archive ends ${left} bytes before the end of its data`);
        left -= chunk.length;
      }
      const padding = pad(dataSize);
      if (padding > 0) {
        if (bytes.available < padding && !(await bytes.fill(padding))) throw invalidArgument(`tar entry ${describeName(name)}: the archive ends inside the padding of its data`);
        bytes.take(padding);
      }
    }
    if (drain) await bytes.drain();
  } finally {
    await iterator.return?.();
  }
}
