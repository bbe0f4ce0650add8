import { promisify } from 'node:util';
import { gunzip as gunzipCallback, gzip as gzipCallback } from 'node:zlib';
import { invalidArgument } from '@strata/kit';

const gzipAsync = promisify(gzipCallback);
const gunzipAsync = promisify(gunzipCallback);

/**
 * Gzips bytes in memory (level 6 by default). The header carries no name
 * and mtime 0, so the same bytes and level give the same output with the
 * same zlib.
 */
export async function gzip(data: Uint8Array, level = 6): Promise<Uint8Array> {
  return gzipAsync(data, { level });
}

/**
 * Gunzips bytes in memory. Raises InvalidArgument when they are not gzip or
 * when the output would exceed maxBytes (256 MiB by default), so a bomb
 * does not fill memory.
 */
export async function gunzip(data: Uint8Array, maxBytes = 256 << 20): Promise<Uint8Array> {
  try {
    return await gunzipAsync(data, { maxOutputLength: maxBytes });
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    if (code === 'ERR_BUFFER_TOO_LARGE') throw invalidArgument(`gunzip: output exceeds ${maxBytes} bytes`, { cause });
    throw invalidArgument(`gunzip: not valid gzip data (${(cause as Error).message})`, { cause });
  }
}

/** True when data starts with the gzip magic bytes. */
export function isGzip(data: Uint8Array): boolean {
  return data.length >= 2 && data[0] === 0x1f && data[1] === 0x8b;
}
