/** One authentication challenge of a `WWW-Authenticate` header. */
export interface Challenge {
  /** The scheme, lower-cased: `bearer`, `basic`. */
  scheme: string;
  /** Its parameters, names lower-cased (`realm`, `service`, `scope`, `error`). */
  params: Record<string, string>;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+/;

/**
 * Parses a `WWW-Authenticate` value (RFC 9110 §11.6.1), several challenges
 * and headers joined with commas included: `Bearer realm="…",service="…",
 * scope="…"`. Quoted strings may hold commas and escaped quotes; unquoted
 * values run to the next comma or space. Malformed
 * parts end the parse; what was read before is returned. Never throws.
 */
export function parseChallenges(header: string): Challenge[] {
  const challenges: Challenge[] = [];
  let rest = header;
  let current: Challenge | undefined;
  const skip = (pattern: RegExp) => {
    const m = pattern.exec(rest);
    if (m !== null) rest = rest.slice(m[0].length);
    return m !== null;
  };
  while (true) {
    skip(/^[\s,]+/);
    const name = TOKEN.exec(rest)?.[0];
    if (name === undefined) break;
    rest = rest.slice(name.length);
    const afterName = rest;
    skip(/^\s*/);
    if (rest.startsWith('=') && current !== undefined && !rest.startsWith('==')) {
      rest = rest.slice(1);
      skip(/^\s*/);
      let value: string;
      if (rest.startsWith('"')) {
        const m = /^"((?:[^"\\]|\\.)*)"/.exec(rest);
        if (m === null) break;
        value = (m[1] ?? '').replace(/\\(.)/g, '$1');
        rest = rest.slice(m[0].length);
      } else {
        value = /^[^\s,"]*/.exec(rest)?.[0] ?? '';
        rest = rest.slice(value.length);
      }
      current.params[name.toLowerCase()] = value;
      continue;
    }
    rest = afterName;
    current = { scheme: name.toLowerCase(), params: {} };
    challenges.push(current);
    skip(/^\s+[A-Za-z0-9._~+/-]+=*(?=\s*(,|$))/);
  }
  return challenges;
}
