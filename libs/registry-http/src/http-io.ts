import type { IncomingMessage } from 'node:http';
import { registryError } from './registry-error.js';

/** Size of the blocks {@link coalesce} gathers small reads into. */
export const WRITE_BLOCK_BYTES = 256 * 1024;

/**
 * Gathers the small chunks of a request body into blocks of about
 * blockBytes (larger chunks pass whole), so a store gets fewer, larger
 * writes. Holds at most one block in memory. When the source fails (the
 * client went away), what it delivered is still yielded before the error,
 * so an upload keeps every byte that arrived.
 */
export async function* coalesce(source: AsyncIterable<Uint8Array>, blockBytes = WRITE_BLOCK_BYTES): AsyncGenerator<Uint8Array> {
  let parts: Uint8Array[] = [];
  let size = 0;
  const take = (): Uint8Array => {
    const block = parts.length === 1 ? (parts[0] as Uint8Array) : Buffer.concat(parts, size);
    parts = [];
    size = 0;
    return block;
  };
  try {
    for await (const chunk of source) {
      if (chunk.length === 0) continue;
      parts.push(chunk);
      size += chunk.length;
      if (size >= blockBytes) yield take();
    }
  } catch (err) {
    if (size > 0) yield take();
    throw err;
  }
  if (size > 0) yield take();
}

/**
 * Reads a request body of at most maxBytes into memory (for manifests only).
 * A larger body, declared or sent, is MANIFEST_INVALID answered with 413,
 * raised without reading past the limit.
 */
export async function readCappedBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const tooLarge = (size: string) =>
    registryError('MANIFEST_INVALID', `manifest is ${size} bytes, over the limit of ${maxBytes} bytes`, { status: 413, detail: { limit: maxBytes } });
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > maxBytes) throw tooLarge(declared);
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) throw tooLarge(`more than ${maxBytes}`);
    parts.push(chunk);
  }
  return Buffer.concat(parts, size);
}

/** What a `Range` header asks of a blob of a known size. */
export type RangeRequest = { kind: 'whole' } | { kind: 'range'; start: number; end: number } | { kind: 'unsatisfiable' };

const BYTE_RANGE = /^bytes=(\d*)-(\d*)$/;

/**
 * Interprets a `Range` header (RFC 9110) for a blob of size bytes: one
 * `bytes=a-b`, `bytes=a-` or `bytes=-n` range, the end clamped to the blob.
 * Absent, malformed, or several ranges: the whole blob (a server may ignore
 * Range). A first byte at or past the end, or an empty suffix: unsatisfiable.
 */
export function parseRange(header: string | undefined, size: number): RangeRequest {
  if (header === undefined) return { kind: 'whole' };
  const m = BYTE_RANGE.exec(header.trim());
  if (m === null) return { kind: 'whole' };
  const [, first = '', last = ''] = m;
  if (first === '' && last === '') return { kind: 'whole' };
  if (first === '') {
    const suffix = Number(last);
    if (!Number.isSafeInteger(suffix)) return { kind: 'whole' };
    if (suffix === 0 || size === 0) return { kind: 'unsatisfiable' };
    return { kind: 'range', start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(first);
  const end = last === '' ? Number.MAX_SAFE_INTEGER : Number(last);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || end < start) return { kind: 'whole' };
  if (start >= size) return { kind: 'unsatisfiable' };
  return { kind: 'range', start, end: Math.min(end, size - 1) };
}

const CONTENT_RANGE = /^(?:bytes )?(\d{1,15})-(\d{1,15})$/;

/**
 * Parses the `Content-Range` of an upload chunk: `<start>-<end>`, inclusive,
 * as the Distribution API sends it (an RFC `bytes ` prefix is accepted).
 * Undefined when absent. BLOB_UPLOAD_INVALID when malformed; RANGE_INVALID
 * when end is before start.
 */
export function parseContentRange(header: string | undefined): { start: number; length: number } | undefined {
  if (header === undefined) return undefined;
  const m = CONTENT_RANGE.exec(header.trim());
  if (m === null) {
    throw registryError('BLOB_UPLOAD_INVALID', `Content-Range ${JSON.stringify(header.slice(0, 100))} is not <start>-<end>`);
  }
  const start = Number(m[1]);
  const end = Number(m[2]);
  if (end < start) throw registryError('RANGE_INVALID', `Content-Range ${header} ends before it starts`);
  return { start, length: end - start + 1 };
}

/** The `Content-Length` of a request as a number; undefined when absent or chunked. */
export function contentLength(req: IncomingMessage): number | undefined {
  const value = req.headers['content-length'];
  if (value === undefined) return undefined;
  const n = Number(value);
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}
