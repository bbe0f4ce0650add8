import { failedPrecondition, invalidArgument } from '@strata/kit';
import { Digester, parseDigest } from '@strata/oci';

/** Settings of {@link verifyingStream}. */
export interface VerifyingStreamOptions {
  /**
   * Bytes of the blob before body (a resumed download); needs digester, the
   * hash of exactly those bytes. 0 by default.
   */
  offset?: number;
  /** The running hash of the first offset bytes; a new one by default. */
  digester?: Digester;
  /** Names the content in errors; `blob <digest>` by default. */
  label?: string;
}

/**
 * Passes body through unchanged while hashing it, and fails the stream
 * (FailedPrecondition, naming the expected and actual digest or size) when
 * the bytes are not the blob digest of size bytes:
 * - a chunk that would go past size fails at once; nothing past size is passed on;
 * - the chunk that completes size is passed on only after the digest matched,
 *   so a consumer never receives a whole blob with the wrong content;
 * - a body that ends short of size fails when it ends.
 * A plain async generator (no stream around it: one promise per chunk);
 * ending its iteration early (break, return()) ends the iteration of body. Raises
 * InvalidArgument at once for a malformed digest, a negative or non-integer
 * size or offset, an offset past size, or an offset without a digester.
 */
export function verifyingStream(body: AsyncIterable<Uint8Array>, digest: string, size: number, options: VerifyingStreamOptions = {}): AsyncGenerator<Uint8Array> {
  const expected = parseDigest(digest);
  const offset = options.offset ?? 0;
  const label = options.label ?? `blob ${expected}`;
  if (!Number.isSafeInteger(size) || size < 0) throw invalidArgument(`${label}: size must be a non-negative integer, got ${size}`);
  if (!Number.isSafeInteger(offset) || offset < 0 || offset > size) {
    throw invalidArgument(`${label}: offset must be an integer between 0 and the size ${size}, got ${offset}`);
  }
  if (offset > 0 && options.digester === undefined) throw invalidArgument(`${label}: resuming at offset ${offset} needs the digester of the first ${offset} bytes`);
  const digester = options.digester ?? new Digester();
  const fields = { digest: expected, size };

  const check = () => {
    const actual = digester.digest();
    if (actual !== expected) {
      throw failedPrecondition(`${label}: content has digest ${actual}, not the expected ${expected}; nothing of it may be kept`, {
        fields: { ...fields, actual },
      });
    }
  };

  async function* verify(): AsyncGenerator<Uint8Array> {
    let received = offset;
    let verified = false;
    for await (const chunk of body) {
      if (chunk.length === 0) continue;
      if (received + chunk.length > size) {
        throw failedPrecondition(`${label}: body is longer than the declared size of ${size} bytes (got at least ${received + chunk.length})`, {
          fields,
        });
      }
      digester.update(chunk);
      received += chunk.length;
      if (received === size) {
        check();
        verified = true;
      }
      yield chunk;
    }
    if (received < size) {
      throw failedPrecondition(`${label}: body ended after ${received} of ${size} bytes`, { fields: { ...fields, received } });
    }
    if (!verified) check();
  }

  return verify();
}
