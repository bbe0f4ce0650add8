import {
  ContentService,
  ReadContentResponse,
  WriteContentRequest,
  type MessageFns,
} from '@strata/api/content/v1';

/*
 * Blob bytes cross the wire in two messages: WriteContentRequest.data and
 * ReadContentResponse.data. The generated codecs copy them twice on the way
 * out (writer chunks → one array → a Buffer) and once on the way in; these
 * codecs encode the small fields with the generated code and put the bytes
 * field after them with one copy, and decode it as a view of the received
 * message, which grpc-js allocates afresh for every message.
 */

const EMPTY = Buffer.alloc(0);
const LEN = 2;

function varint(value: number): number[] {
  const out: number[] = [];
  let v = value >>> 0;
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  out.push(v);
  return out;
}

/** Encodes message with its bytes field `key` (number `field`) appended after the rest. */
function encodeWithBytes<T>(fns: MessageFns<T>, message: T, key: keyof T, field: number): Buffer {
  const data = message[key] as unknown as Uint8Array;
  const head = fns.encode({ ...message, [key]: EMPTY }).finish();
  if (data.length === 0) return Buffer.from(head.buffer, head.byteOffset, head.byteLength);
  const prefix = Buffer.from([...varint((field << 3) | LEN), ...varint(data.length)]);
  return Buffer.concat([head, prefix, data], head.length + prefix.length + data.length);
}

interface Span {
  start: number;
  end: number;
}

/** Reads a varint at pos; undefined when the buffer ends first or it has more than 35 bits. */
function readVarint(buf: Buffer, pos: number): { value: number; next: number } | undefined {
  let value = 0;
  for (let shift = 0, i = pos; i < buf.length && shift < 35; shift += 7, i++) {
    const b = buf[i] as number;
    value += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) return { value, next: i + 1 };
  }
  return undefined;
}

/** Where the last occurrence of a length-delimited field lies (whole field, and its payload); undefined when absent or unparsable. */
function findBytesField(buf: Buffer, field: number): { whole: Span; payload: Span } | undefined {
  let found: { whole: Span; payload: Span } | undefined;
  let pos = 0;
  while (pos < buf.length) {
    const tag = readVarint(buf, pos);
    if (tag === undefined) return undefined;
    const wireType = tag.value % 8;
    let next: number;
    if (wireType === 0) {
      const v = readVarint(buf, tag.next);
      if (v === undefined) {
        let i = tag.next;
        while (i < buf.length && (buf[i] as number) >= 0x80) i++;
        next = i + 1;
      } else next = v.next;
    } else if (wireType === 1) next = tag.next + 8;
    else if (wireType === 5) next = tag.next + 4;
    else if (wireType === LEN) {
      const len = readVarint(buf, tag.next);
      if (len === undefined) return undefined;
      next = len.next + len.value;
      if (Math.floor(tag.value / 8) === field) found = { whole: { start: pos, end: next }, payload: { start: len.next, end: next } };
    } else return undefined;
    if (next > buf.length) return undefined;
    pos = next;
  }
  return found;
}

/** Decodes a message whose bytes field `key` (number `field`) becomes a view of buf instead of a copy. */
function decodeWithBytes<T>(fns: MessageFns<T>, buf: Buffer, key: keyof T, field: number): T {
  const at = findBytesField(buf, field);
  if (at === undefined) return fns.decode(buf);
  const rest = Buffer.concat([buf.subarray(0, at.whole.start), buf.subarray(at.whole.end)]);
  const message = fns.decode(rest);
  message[key] = buf.subarray(at.payload.start, at.payload.end) as T[keyof T];
  return message;
}

/**
 * Encodes a Write request whose bytes are the concatenation of parts (one
 * copy, made now: the caller may reuse the parts as soon as this returns).
 */
export function encodeWriteRequest(message: Omit<WriteContentRequest, 'data'>, parts: readonly Uint8Array[]): Buffer {
  const head = WriteContentRequest.encode({ ...message, data: EMPTY }).finish();
  const length = parts.reduce((n, p) => n + p.length, 0);
  const prefix = length === 0 ? EMPTY : Buffer.from([...varint((6 << 3) | LEN), ...varint(length)]);
  return Buffer.concat([head, prefix, ...parts], head.length + prefix.length + length);
}

/** ContentService with the bytes of Write requests and Read responses encoded and decoded without extra copies; same wire format. */
export const contentDefinition = {
  ...ContentService,
  write: {
    ...ContentService.write,
    requestSerialize: (m: WriteContentRequest): Buffer => encodeWithBytes(WriteContentRequest, m, 'data', 6),
    requestDeserialize: (b: Buffer): WriteContentRequest => decodeWithBytes(WriteContentRequest, b, 'data', 6),
  },
  read: {
    ...ContentService.read,
    responseSerialize: (m: ReadContentResponse): Buffer => encodeWithBytes(ReadContentResponse, m, 'data', 2),
    responseDeserialize: (b: Buffer): ReadContentResponse => decodeWithBytes(ReadContentResponse, b, 'data', 2),
  },
} as const;

/** The Write method for a client that encodes its requests itself with encodeWriteRequest. */
export const preEncodedWrite = {
  ...contentDefinition.write,
  requestSerialize: (b: Buffer): Buffer => b,
  requestDeserialize: (b: Buffer): Buffer => b,
} as const;
