import { createHash, type Hash } from 'node:crypto';
import { invalidArgument } from '@strata/kit';

/** A validated digest: `sha256:` followed by 64 lower-case hex characters. */
export type Digest = string & { readonly __digest: unique symbol };

const SHA256 = /^sha256:[a-f0-9]{64}$/;
const SHAPE = /^([a-z0-9]+(?:[.+_-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)$/;

/**
 * Checks that value is a digest Strata stores (sha256, lower-case hex, 64
 * characters) and returns it typed. Raises InvalidArgument with a sentence
 * saying what is wrong: a malformed string never becomes a path, key or subject.
 */
export function parseDigest(value: unknown): Digest {
  if (typeof value !== 'string' || value === '') throw invalidArgument('invalid digest: empty', { fields: { digest: '' } });
  if (SHA256.test(value)) return value as Digest;
  const shown = JSON.stringify(value.length > 100 ? `${value.slice(0, 100)}…` : value);
  const fields = { digest: value.slice(0, 100) };
  const m = SHAPE.exec(value);
  if (m === null) throw invalidArgument(`invalid digest ${shown}: expected algorithm:hex, e.g. sha256:<64 hex>`, { fields });
  const [, algorithm, hex = ''] = m;
  if (algorithm !== 'sha256') throw invalidArgument(`invalid digest ${shown}: unsupported algorithm ${JSON.stringify(algorithm)} (only sha256)`, { fields });
  if (/[A-F]/.test(hex)) throw invalidArgument(`invalid digest ${shown}: hex must be lower-case`, { fields });
  if (!/^[a-f0-9]*$/.test(hex)) throw invalidArgument(`invalid digest ${shown}: not hexadecimal`, { fields });
  throw invalidArgument(`invalid digest ${shown}: sha256 needs 64 hex characters, got ${hex.length}`, { fields });
}

/** True when value is a valid sha256 digest. */
export function isDigest(value: unknown): value is Digest {
  return typeof value === 'string' && SHA256.test(value);
}

/** The hex part of a digest (for file names and object keys). */
export function digestHex(digest: Digest): string {
  return digest.slice('sha256:'.length);
}

/** Digest of bytes in memory. */
export function digestOf(data: Uint8Array | string): Digest {
  return `sha256:${createHash('sha256').update(data).digest('hex')}` as Digest;
}

/** A running sha256 that yields a Digest; `copy()` allows a digest of a prefix. */
export class Digester {
  private hash: Hash;
  constructor(hash?: Hash) {
    this.hash = hash ?? createHash('sha256');
  }
  update(data: Uint8Array): this {
    this.hash.update(data);
    return this;
  }
  /** Digest of everything so far; the digester stays usable. */
  digest(): Digest {
    return `sha256:${this.hash.copy().digest('hex')}` as Digest;
  }
  copy(): Digester {
    return new Digester(this.hash.copy());
  }
}
