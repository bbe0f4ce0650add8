/** The kinds of entry the writer produces. */
export const TarEntryTypes = ['file', 'directory', 'symlink', 'hardlink', 'char-device', 'block-device', 'fifo'] as const;

/** One of {@link TarEntryTypes}. */
export type TarEntryType = (typeof TarEntryTypes)[number];

/** The ustar type flag of each entry type. */
export const TYPE_FLAGS: Readonly<Record<TarEntryType, string>> = {
  file: '0',
  hardlink: '1',
  symlink: '2',
  'char-device': '3',
  'block-device': '4',
  directory: '5',
  fifo: '6',
};

/**
 * The metadata of one archive entry. Names are written as given (relative,
 * `/`-separated; a directory gets a trailing `/` if it has none); the writer
 * never normalises or sorts, so the caller decides the order and the bytes.
 */
export interface TarEntry {
  name: string;
  type: TarEntryType;
  /** Permission bits (at most 0o7777); 0o644 for files, 0o755 for directories, 0o777 for symlinks by default. */
  mode?: number;
  uid?: number;
  gid?: number;
  uname?: string;
  gname?: string;
  /** Seconds since the epoch, 0 by default; fractions and negatives go into a PAX record. */
  mtime?: number;
  /** Byte size of a file's data; required when the data is a stream, taken from the bytes otherwise. */
  size?: number;
  /** Target of a symlink (any text) or of a hardlink (an earlier entry's name). */
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  /** Extended attributes, written as `SCHILY.xattr.<name>` PAX records (values may be binary). */
  xattrs?: Readonly<Record<string, string | Uint8Array>>;
  /** Further PAX records written verbatim, after the ones the writer derives. */
  pax?: Readonly<Record<string, string>>;
}
