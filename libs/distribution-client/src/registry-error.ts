import { StrataError, type ErrorKind } from '@strata/kit';

/** One entry of the OCI Distribution spec's error body (`{"errors":[{code,message,detail}]}`). */
export interface RegistryErrorEntry {
  /** Upper-case code such as `MANIFEST_UNKNOWN`, `BLOB_UNKNOWN`, `NAME_UNKNOWN`, `DENIED`, `TOOMANYREQUESTS`. */
  code: string;
  /** The registry's message, cleaned of control characters and shortened to 200 characters. */
  message?: string;
}

const CODE = /^[A-Z][A-Z0-9_]{0,63}$/;
const MAX_ENTRIES = 5;

function clean(text: string, max: number): string {
  const printable = Array.from(text, (c) => (c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f ? ' ' : c))
    .join('')
    .replace(/ {2,}/g, ' ')
    .trim();
  return printable.length > max ? `${printable.slice(0, max)}…` : printable;
}

/**
 * Parses a registry's JSON error body, tolerantly: anything that is not the
 * spec's shape gives an empty list, codes that are not upper-case words are
 * dropped, and at most 5 entries are kept. Never throws.
 */
export function parseRegistryErrors(body: Uint8Array): RegistryErrorEntry[] {
  let root: unknown;
  try {
    root = JSON.parse(Buffer.from(body).toString('utf8'));
  } catch {
    return [];
  }
  if (typeof root !== 'object' || root === null || !Array.isArray((root as { errors?: unknown }).errors)) return [];
  const entries: RegistryErrorEntry[] = [];
  for (const item of (root as { errors: unknown[] }).errors) {
    if (entries.length >= MAX_ENTRIES) break;
    if (typeof item !== 'object' || item === null) continue;
    const { code, message } = item as { code?: unknown; message?: unknown };
    if (typeof code !== 'string' || !CODE.test(code)) continue;
    const entry: RegistryErrorEntry = { code };
    if (typeof message === 'string' && message.trim() !== '') entry.message = clean(message, 200);
    entries.push(entry);
  }
  return entries;
}

/** What a failed request was about, for the error's sentence and fields. */
export interface RequestContext {
  /** The upstream's host (`registry-1.docker.io`, `127.0.0.1:5000`). */
  upstream: string;
  /** Names the thing asked for: `manifest busybox:latest`, `blob busybox@sha256:…`, `tags of busybox`. */
  what: string;
  repository?: string;
}

function kindOfStatus(status: number): ErrorKind {
  if (status === 400) return 'InvalidArgument';
  if (status === 401) return 'Unauthenticated';
  if (status === 403) return 'PermissionDenied';
  if (status === 404) return 'NotFound';
  if (status === 405) return 'Unimplemented';
  if (status === 416) return 'OutOfRange';
  if (status === 429) return 'ResourceExhausted';
  if (status >= 500) return 'Unavailable';
  return 'Unknown';
}

function retryAfterSeconds(value: string | undefined, now: number): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim());
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - now) / 1000));
}

/**
 * The Strata error for a registry answer with a failing status, as a sentence
 * naming the upstream, the thing asked for and the registry's error codes and
 * messages, quoted: `upstream 127.0.0.1:5000: manifest busybox:nope not found
 * (MANIFEST_UNKNOWN: "manifest unknown")`. Kinds: 400 InvalidArgument, 401
 * Unauthenticated, 403 PermissionDenied, 404 NotFound, 405 Unimplemented,
 * 416 OutOfRange, 429 ResourceExhausted (with the Retry-After delay), 5xx
 * Unavailable, anything else Unknown.
 */
export function registryError(
  context: RequestContext,
  status: number,
  headers: { retryAfter?: string | undefined },
  body: Uint8Array,
  now: number = Date.now(),
): StrataError {
  const entries = parseRegistryErrors(body);
  const codes = entries.map((e) => (e.message === undefined ? e.code : `${e.code}: ${JSON.stringify(e.message)}`)).join('; ');
  const detail = codes === '' ? `HTTP ${status}` : codes;
  const kind = kindOfStatus(status);
  const retryAfter = status === 429 ? retryAfterSeconds(headers.retryAfter, now) : undefined;
  let sentence: string;
  switch (kind) {
    case 'NotFound':
      sentence = `${context.what} not found (${detail})`;
      break;
    case 'Unauthenticated':
      sentence = `${context.what}: authentication failed (${detail}); check the credentials configured for this upstream`;
      break;
    case 'PermissionDenied':
      sentence = `${context.what}: access denied (${detail})`;
      break;
    case 'ResourceExhausted':
      sentence = `${context.what}: too many requests (${detail})${retryAfter === undefined ? '' : `; retry after ${retryAfter} s`}`;
      break;
    case 'Unavailable':
      sentence = `${context.what}: the registry answered ${status}${codes === '' ? '' : ` (${codes})`}; try again later`;
      break;
    default:
      sentence = `${context.what}: the registry answered ${status}${codes === '' ? '' : ` (${codes})`}`;
  }
  return new StrataError(kind, `upstream ${context.upstream}: ${sentence}`, {
    fields: {
      upstream: context.upstream,
      repository: context.repository,
      status,
      code: entries[0]?.code,
      retryAfterSeconds: retryAfter,
    },
  });
}
