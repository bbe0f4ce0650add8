import { invalidArgument } from '@strata/kit';

/** The sequence that detaches from a container's terminal unless --detach-keys says otherwise: Ctrl-P Ctrl-Q, as Docker's. */
export const DEFAULT_DETACH_KEYS = 'ctrl-p,ctrl-q';

/** The control characters `ctrl-<c>` names besides the letters. */
const CONTROL_SYMBOLS: Readonly<Record<string, number>> = { '@': 0, '[': 27, '\\': 28, ']': 29, '^': 30, _: 31 };

/**
 * The bytes of a detach sequence written as Docker's --detach-keys:
 * comma-separated keys, each a single ASCII character or `ctrl-<c>` with
 * <c> a letter or one of `@ [ \ ] ^ _`. InvalidArgument naming the key
 * otherwise.
 */
export function parseDetachKeys(text: string): Uint8Array {
  const bytes: number[] = [];
  for (const key of text.split(',')) {
    const ctrl = /^ctrl-(.)$/i.exec(key);
    if (ctrl !== null) {
      const c = ctrl[1]!;
      const code = /^[a-z]$/i.test(c) ? c.toLowerCase().charCodeAt(0) - 96 : CONTROL_SYMBOLS[c];
      if (code === undefined) throw invalidArgument(`invalid --detach-keys key ${JSON.stringify(key)}: after ctrl- use a letter or one of @ [ \\ ] ^ _`);
      bytes.push(code);
    } else if (key.length === 1 && key.charCodeAt(0) < 128) {
      bytes.push(key.charCodeAt(0));
    } else {
      throw invalidArgument(`invalid --detach-keys key ${JSON.stringify(key)}: use single characters or ctrl-<c>, separated by commas`);
    }
  }
  return Uint8Array.from(bytes);
}

/** What a chunk of input comes to: the bytes to pass on, and whether the sequence was completed. */
export interface ScannedInput {
  forward: Buffer;
  detach: boolean;
}

/**
 * Watches input for keys: returns, per chunk, what to forward. Bytes that
 * may begin the sequence are held back until it is clear whether they do;
 * when it completes, they are dropped and detach is true (what followed in
 * the chunk is dropped too: the session ends); when it does not, they go
 * out in order with the rest.
 */
export function detachScanner(keys: Uint8Array): (chunk: Uint8Array) => ScannedInput {
  let matched = 0;
  return (chunk) => {
    const out: number[] = [];
    for (const byte of chunk) {
      if (byte === keys[matched]) {
        matched++;
        if (matched === keys.length) return { forward: Buffer.from(out), detach: true };
        continue;
      }
      // A broken sequence goes out as it was typed; the byte may begin a new one.
      for (let i = 0; i < matched; i++) out.push(keys[i]!);
      matched = byte === keys[0] ? 1 : 0;
      if (matched === 0) out.push(byte);
    }
    return { forward: Buffer.from(out), detach: false };
  };
}
