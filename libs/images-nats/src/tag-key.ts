import { validateTagKey } from '@strata/images';

/** The first token of every tag key in the bucket. */
export const TAG_KEY_PREFIX = 'tags';

const encode = (text: string) => Buffer.from(text, 'utf8').toString('base64url');

function decode(token: string): string | undefined {
  const text = Buffer.from(token, 'base64url').toString('utf8');
  // Buffer decoding is lenient; only the canonical spelling of a value counts.
  return encode(text) === token ? text : undefined;
}

/**
 * The KV key of a tag: `tags.<domain>.<repository>.<tag>`, each part in
 * unpadded base64url. NATS KV keys allow only `[-/=._A-Za-z0-9]` and use `.`
 * as the token separator, while domains hold `.` and `:` and tags `.`;
 * base64url keeps every part one token of allowed characters, reversibly,
 * so a filter like `tags.<domain>.<repository>.*` selects one repository.
 * Raises validateTagKey's InvalidArgument for a malformed name.
 */
export function encodeTagKey(domain: string, repository: string, tag: string): string {
  validateTagKey(domain, repository, tag);
  return `${TAG_KEY_PREFIX}.${encode(domain)}.${encode(repository)}.${encode(tag)}`;
}

/**
 * The KV key filter that selects the tags of a domain and/or repository
 * (every tag when both are undefined). The parts must already be valid.
 */
export function tagKeyFilter(domain?: string, repository?: string): string {
  if (repository === undefined) return domain === undefined ? `${TAG_KEY_PREFIX}.>` : `${TAG_KEY_PREFIX}.${encode(domain)}.>`;
  return `${TAG_KEY_PREFIX}.${domain === undefined ? '*' : encode(domain)}.${encode(repository)}.*`;
}

/**
 * The name a key of {@link encodeTagKey} stands for, or undefined when key is
 * not such a key (another kind of key, a non-canonical encoding, or a name
 * that validateTagKey refuses).
 */
export function decodeTagKey(key: string): { domain: string; repository: string; tag: string } | undefined {
  const tokens = key.split('.');
  if (tokens.length !== 4 || tokens[0] !== TAG_KEY_PREFIX) return undefined;
  const [domain, repository, tag] = tokens.slice(1).map(decode);
  if (domain === undefined || repository === undefined || tag === undefined) return undefined;
  try {
    validateTagKey(domain, repository, tag);
  } catch {
    return undefined;
  }
  return { domain, repository, tag };
}
