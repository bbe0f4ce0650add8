import { invalidArgument } from '@strata/kit';

/** Size of a tar block: headers are one block, data is padded to whole blocks. */
export const BLOCK_SIZE = 512;

/** The fields of a ustar header block with their offsets and lengths (POSIX.1-2001). */
export const HEADER_FIELDS = {
  name: [0, 100],
  mode: [100, 8],
  uid: [108, 8],
  gid: [116, 8],
  size: [124, 12],
  mtime: [136, 12],
  checksum: [148, 8],
  typeflag: [156, 1],
  linkname: [157, 100],
  magic: [257, 6],
  version: [263, 2],
  uname: [265, 32],
  gname: [297, 32],
  devmajor: [329, 8],
  devminor: [337, 8],
  prefix: [345, 155],
} as const satisfies Record<string, readonly [number, number]>;

/** A ustar header field name. */
export type HeaderFieldName = keyof typeof HEADER_FIELDS;

/**
 * The value of one header field: a number is written as zero-padded octal
 * followed by NUL; text and bytes are written verbatim and NUL-padded;
 * `{ base256 }` uses the GNU binary encoding (first byte 0x80, or 0xff for a
 * negative two's-complement value).
 */
export type HeaderFieldValue = number | string | Uint8Array | { base256: bigint };

const encoder = new TextEncoder();

/** UTF-8 bytes of text. */
export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}

function writeOctal(block: Uint8Array, field: HeaderFieldName, value: number): void {
  const [offset, length] = HEADER_FIELDS[field];
  if (!Number.isSafeInteger(value) || value < 0) {
    throw invalidArgument(`tar header ${field}: ${value} is not a non-negative whole number`);
  }
  const digits = value.toString(8);
  if (digits.length > length - 1) {
    throw invalidArgument(`tar header ${field}: ${value} does not fit in ${length - 1} octal digits`);
  }
  block.set(utf8(digits.padStart(length - 1, '0')), offset);
  block[offset + length - 1] = 0;
}

function writeBase256(block: Uint8Array, field: HeaderFieldName, value: bigint): void {
  const [offset, length] = HEADER_FIELDS[field];
  const bits = BigInt((length - 1) * 8);
  if (value >= 1n << bits || value < -(1n << bits)) {
    throw invalidArgument(`tar header ${field}: ${value} does not fit in base-256 of ${length} bytes`);
  }
  let v = BigInt.asUintN(length * 8, value);
  for (let i = length - 1; i >= 1; i--) {
    block[offset + i] = Number(v & 0xffn);
    v >>= 8n;
  }
  block[offset] = value < 0n ? 0xff : 0x80;
}

function writeBytes(block: Uint8Array, field: HeaderFieldName, value: string | Uint8Array): void {
  const [offset, length] = HEADER_FIELDS[field];
  const bytes = typeof value === 'string' ? utf8(value) : value;
  if (bytes.length > length) {
    throw invalidArgument(`tar header ${field}: ${bytes.length} bytes do not fit in ${length}`);
  }
  block.set(bytes, offset);
}

/** Writes one field of a header block; raises InvalidArgument when the value does not fit. */
export function writeHeaderField(block: Uint8Array, field: HeaderFieldName, value: HeaderFieldValue): void {
  if (typeof value === 'number') writeOctal(block, field, value);
  else if (typeof value === 'string' || value instanceof Uint8Array) writeBytes(block, field, value);
  else writeBase256(block, field, value.base256);
}

/** The header checksum: the unsigned byte sum with the checksum field taken as spaces. */
export function headerChecksum(block: Uint8Array): number {
  const [offset, length] = HEADER_FIELDS.checksum;
  let sum = 0;
  for (let i = 0; i < BLOCK_SIZE; i++) sum += i >= offset && i < offset + length ? 0x20 : (block[i] ?? 0);
  return sum;
}

/**
 * Encodes a header block from its fields. Unset fields stay zero, except
 * magic and version (`ustar\0`, `00`). The checksum is computed unless
 * `checksum` is given (hostile fixtures forge it). Raises InvalidArgument
 * when a value does not fit its field.
 */
export function encodeHeader(fields: Partial<Record<HeaderFieldName, HeaderFieldValue>>): Uint8Array {
  const block = new Uint8Array(BLOCK_SIZE);
  const all: Partial<Record<HeaderFieldName, HeaderFieldValue>> = { magic: 'ustar\0', version: '00', ...fields };
  for (const [field, value] of Object.entries(all) as Array<[HeaderFieldName, HeaderFieldValue | undefined]>) {
    if (field !== 'checksum' && value !== undefined) writeHeaderField(block, field, value);
  }
  if (fields.checksum !== undefined) {
    writeHeaderField(block, 'checksum', fields.checksum);
  } else {
    const [offset] = HEADER_FIELDS.checksum;
    block.set(utf8(`${headerChecksum(block).toString(8).padStart(6, '0')}\0 `), offset);
  }
  return block;
}

/**
 * One PAX extended-header record, `"<length> <key>=<value>\n"`, where length
 * counts the whole record in bytes. Values may be binary (SCHILY.xattr.*).
 */
export function paxRecord(key: string | Uint8Array, value: string | Uint8Array): Uint8Array {
  const k = typeof key === 'string' ? utf8(key) : key;
  const v = typeof value === 'string' ? utf8(value) : value;
  const rest = k.length + v.length + 3;
  let length = rest + 1;
  while (String(length).length + rest !== length) length = String(length).length + rest;
  const out = new Uint8Array(length);
  let at = 0;
  for (const part of [utf8(`${length} `), k, utf8('='), v, utf8('\n')]) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** Zero bytes that pad size bytes of data to a whole block. */
export function padding(size: number): Uint8Array {
  const rest = size % BLOCK_SIZE;
  return new Uint8Array(rest === 0 ? 0 : BLOCK_SIZE - rest);
}
