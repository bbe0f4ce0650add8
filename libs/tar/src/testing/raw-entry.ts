import { BLOCK_SIZE, encodeHeader, padding, paxRecord, type HeaderFieldName, type HeaderFieldValue } from '../tar-header.js';

/** Header fields of a hand-made entry; anything may be forged, including `checksum`. */
export type RawHeaderFields = Partial<Record<HeaderFieldName, HeaderFieldValue>>;

/**
 * A hand-made archive record: a header block from fields (size defaults to
 * the data's length, typeflag to a regular file, mode to 0644), then data
 * and zero padding. Nothing is validated beyond fitting the fields, so it
 * can say what a writer never would (negative sizes, NUL in names, sizes
 * that disagree with the data). Raises InvalidArgument only when a value
 * does not fit its field.
 */
export function rawEntry(fields: RawHeaderFields, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const header = encodeHeader({ typeflag: '0', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: data.length, ...fields });
  return Buffer.concat([header, data, padding(data.length)]);
}

/**
 * A PAX extended header record (type `x`) carrying records verbatim, keys
 * and values as text or raw bytes (NUL and all). It applies to the next entry.
 */
export function rawPaxHeader(records: ReadonlyArray<readonly [string | Uint8Array, string | Uint8Array]>, name = 'PaxHeaders.0/entry'): Uint8Array {
  const body = Buffer.concat(records.map(([k, v]) => paxRecord(k, v)));
  return rawEntry({ name, typeflag: 'x' }, body);
}

/** A GNU long-name (`L`) or long-link (`K`) record naming the next entry. */
export function rawGnuLongName(kind: 'L' | 'K', value: string | Uint8Array): Uint8Array {
  const bytes = Buffer.concat([typeof value === 'string' ? Buffer.from(value) : value, new Uint8Array(1)]);
  return rawEntry({ name: '././@LongLink', typeflag: kind }, bytes);
}

/** The end-of-archive marker: two zero blocks. */
export function endOfArchive(): Uint8Array {
  return new Uint8Array(2 * BLOCK_SIZE);
}
