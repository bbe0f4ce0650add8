import { invalidArgument, type StrataError } from '@strata/kit';
import { isDigest, parseDigest, type Digest } from './digest.js';

/** A JSON object read from a document. */
export type JsonObject = Record<string, unknown>;

const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Reads the fields of one JSON document (a manifest, an index, a config) and
 * raises InvalidArgument sentences that name the document and the field:
 * `image manifest field layers[2].size must be a non-negative integer, got -1`.
 * Optional fields that are absent or `null` (what Go writes for empty
 * slices and maps) read as undefined.
 */
export class JsonReader {
  constructor(readonly label: string) {}

  /**
   * Decodes bytes as one JSON value: at most maxBytes, strict UTF-8 (a byte
   * order mark is refused, as Go's decoder does), valid JSON.
   */
  decode(bytes: Uint8Array, maxBytes: number): unknown {
    this.checkLength(bytes, maxBytes);
    let text: string;
    try {
      text = decoder.decode(bytes);
    } catch (cause) {
      throw invalidArgument(`${this.label} is not valid UTF-8 text`, { cause });
    }
    try {
      return JSON.parse(text) as unknown;
    } catch (cause) {
      throw invalidArgument(`${this.label} is not valid JSON`, { cause });
    }
  }

  /** Refuses anything but bytes, and more than maxBytes of them. */
  checkLength(bytes: Uint8Array, maxBytes: number): void {
    if (!(bytes instanceof Uint8Array)) throw invalidArgument(`${this.label} must be bytes`);
    if (bytes.byteLength > maxBytes) {
      throw invalidArgument(`${this.label} is ${bytes.byteLength} bytes, over the limit of ${maxBytes} bytes`, {
        fields: { size: bytes.byteLength, limit: maxBytes },
      });
    }
  }

  /** value as the document's top-level object. */
  root(value: unknown): JsonObject {
    if (!isObject(value)) throw invalidArgument(`${this.label} must be a JSON object, got ${describe(value)}`);
    return value;
  }

  /**
   * Refuses keys that equal a known field but for case (`Layers`, `MediaType`):
   * Go's decoder matches keys case-insensitively, so another parser of the
   * same bytes would read such a key as the field this one ignores.
   */
  refuseCaseVariants(object: JsonObject, known: readonly string[], path: string): void {
    const byLower = new Map(known.map((name) => [name.toLowerCase(), name]));
    for (const key of Object.keys(object)) {
      const canonical = byLower.get(key.toLowerCase());
      if (canonical !== undefined && canonical !== key) {
        const field = join(path, canonical);
        throw invalidArgument(
          `${this.label} field ${join(path, key)} differs from ${field} only in case; other parsers read it as ${field}, so it is refused`,
          { fields: { field } },
        );
      }
    }
  }

  fail(path: string, expectation: string, value: unknown): StrataError {
    return invalidArgument(`${this.label} field ${path} must be ${expectation}, got ${describe(value)}`, { fields: { field: path } });
  }

  missing(path: string): StrataError {
    return invalidArgument(`${this.label} is missing field ${path}`, { fields: { field: path } });
  }

  object(parent: JsonObject, key: string, path: string): JsonObject {
    const value = parent[key];
    if (value === undefined || value === null) throw this.missing(join(path, key));
    if (!isObject(value)) throw this.fail(join(path, key), 'an object', value);
    return value;
  }

  optionalObject(parent: JsonObject, key: string, path: string): JsonObject | undefined {
    const value = parent[key];
    if (value === undefined || value === null) return undefined;
    if (!isObject(value)) throw this.fail(join(path, key), 'an object', value);
    return value;
  }

  array(parent: JsonObject, key: string, path: string): unknown[] {
    const value = parent[key];
    if (value === undefined || value === null) throw this.missing(join(path, key));
    if (!Array.isArray(value)) throw this.fail(join(path, key), 'an array', value);
    return value;
  }

  optionalArray(parent: JsonObject, key: string, path: string): unknown[] | undefined {
    const value = parent[key];
    if (value === undefined || value === null) return undefined;
    if (!Array.isArray(value)) throw this.fail(join(path, key), 'an array', value);
    return value;
  }

  string(parent: JsonObject, key: string, path: string): string {
    const value = parent[key];
    if (value === undefined || value === null) throw this.missing(join(path, key));
    if (typeof value !== 'string') throw this.fail(join(path, key), 'a string', value);
    return value;
  }

  optionalString(parent: JsonObject, key: string, path: string): string | undefined {
    const value = parent[key];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'string') throw this.fail(join(path, key), 'a string', value);
    return value;
  }

  optionalBoolean(parent: JsonObject, key: string, path: string): boolean | undefined {
    const value = parent[key];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'boolean') throw this.fail(join(path, key), 'true or false', value);
    return value;
  }

  /** A safe integer ≥ 0 (sizes, durations in nanoseconds, retry counts). */
  size(parent: JsonObject, key: string, path: string): number {
    const value = parent[key];
    if (value === undefined || value === null) throw this.missing(join(path, key));
    return this.checkSize(value, join(path, key));
  }

  optionalSize(parent: JsonObject, key: string, path: string): number | undefined {
    const value = parent[key];
    if (value === undefined || value === null) return undefined;
    return this.checkSize(value, join(path, key));
  }

  optionalStringArray(parent: JsonObject, key: string, path: string): string[] | undefined {
    const items = this.optionalArray(parent, key, path);
    if (items === undefined) return undefined;
    return items.map((item, i) => {
      if (typeof item !== 'string') throw this.fail(`${join(path, key)}[${i}]`, 'a string', item);
      return item;
    });
  }

  /** A map of string keys to string values (annotations, labels). */
  optionalStringMap(parent: JsonObject, key: string, path: string): Record<string, string> | undefined {
    const object = this.optionalObject(parent, key, path);
    if (object === undefined) return undefined;
    return Object.fromEntries(
      Object.entries(object).map(([name, value]) => {
        if (typeof value !== 'string') throw this.fail(`${join(path, key)}[${JSON.stringify(name)}]`, 'a string', value);
        return [name, value];
      }),
    );
  }

  /** A set written as a map to empty objects (`ExposedPorts`, `Volumes`). */
  optionalObjectSet(parent: JsonObject, key: string, path: string): Record<string, Record<string, never>> | undefined {
    const object = this.optionalObject(parent, key, path);
    if (object === undefined) return undefined;
    return Object.fromEntries(
      Object.entries(object).map(([name, value]) => {
        if (value !== null && !isObject(value)) throw this.fail(`${join(path, key)}[${JSON.stringify(name)}]`, 'an object', value);
        return [name, {}];
      }),
    );
  }

  digest(parent: JsonObject, key: string, path: string): Digest {
    const value = parent[key];
    if (value === undefined || value === null) throw this.missing(join(path, key));
    return this.checkDigest(value, join(path, key));
  }

  /** A digest at an already-joined path (array items). */
  checkDigest(value: unknown, path: string): Digest {
    if (isDigest(value)) return value;
    if (typeof value !== 'string') throw this.fail(path, 'a digest string', value);
    try {
      parseDigest(value);
    } catch (cause) {
      throw invalidArgument(`${this.label} field ${path} is not a valid digest: ${(cause as Error).message}`, {
        cause,
        fields: { field: path },
      });
    }
    throw this.fail(path, 'a sha256 digest', value);
  }

  private checkSize(value: unknown, path: string): number {
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
      throw this.fail(path, 'a non-negative integer', value);
    }
    return value;
  }
}

/** True for a plain JSON object (not null, not an array). */
export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `parent.key`, or key alone at the top level. */
export function join(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value.length > 100 ? `${value.slice(0, 100)}…` : value);
    case 'object':
      return 'an object';
    case 'undefined':
      return 'nothing';
    default:
      return String(value);
  }
}
