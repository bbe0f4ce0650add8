import type { BlobReader } from '@strata/content';
import { internal, invalidArgument } from '@strata/kit';
import type { BlobRange } from './registry-backend.js';

/** Settings of {@link createSharedBlobReads}. */
export interface SharedBlobReadsOptions {
  /** Most bytes of pieces kept at once (pieces being read count too); 0 turns sharing off. 64 MiB by default. */
  budgetBytes?: number;
  /** Size of the aligned pieces a blob is read and kept in. 1 MiB by default. */
  pieceBytes?: number;
}

/** A range of a blob with its length known, as a response sends it. */
export type SentRange = Required<BlobRange>;

/** Opens a blob, or the range given, for reading (Repository.openBlob of one repository and digest). */
export type OpenBlob = (range?: SentRange) => Promise<BlobReader>;

/**
 * Reads of one blob shared by the responses that send it at the same time
 * (see {@link createSharedBlobReads}).
 */
export interface SharedBlobReads {
  /**
   * A reader of range of the blob of size bytes that key names (its
   * repository, as the client addressed it, and its digest). While no other
   * response reads the same key, it is open's own (over the whole blob when
   * range covers it, as the caller would have opened it); while others do,
   * its chunks are pieces shared with them, each read through open once.
   */
  open(key: string, size: number, range: SentRange, open: OpenBlob): Promise<BlobReader>;
  /**
   * The whole blob that key names, through open's own reader (which brings
   * the size, so the caller need not look it up first), when no other
   * response reads key; undefined while others do: the caller then learns
   * the size and calls {@link SharedBlobReads.open}, which shares their
   * pieces. Raises what open raises.
   */
  openAlone(key: string, open: OpenBlob): Promise<BlobReader> | undefined;
  /** Bytes of pieces held now (kept or being read); 0 while no two responses read one blob. */
  heldBytes(): number;
}

interface Piece {
  bytes: Promise<Buffer>;
  size: number;
}

/**
 * When many clients pull the same layer at once (a fleet's nodes starting
 * the same image), each response read the blob's file on its own: one
 * copy from the page cache into memory per response and per byte, beside
 * the copy into its socket. This keeps the blob's aligned pieces (pieceBytes)
 * in memory while a second response reads the same blob, in a
 * least-recently-used set of at most budgetBytes: responses moving through
 * the blob together read each piece once. The pieces go once no response
 * reads the blob any more. The first response keeps its
 * own reader (its buffers recycled, see BlobReader.release); a blob that
 * only one response reads never enters the set.
 *
 * Pieces are read through the caller's open with a range, so what a
 * repository checks on open (a blob that is still being fetched from an
 * upstream, released only once its digest matched) holds for each piece;
 * a piece that fails to read fails the responses waiting for it and is not
 * kept. The caller keys a blob by its repository as well as its digest:
 * a blob that one upstream is still sending is only checked against its
 * digest at its end, so the responses of another repository (another
 * upstream) never wait for, or get, its pieces.
 */
export function createSharedBlobReads(options: SharedBlobReadsOptions = {}): SharedBlobReads {
  const budget = options.budgetBytes ?? 64 * 1024 * 1024;
  const pieceBytes = options.pieceBytes ?? 1024 * 1024;
  if (!Number.isSafeInteger(budget) || budget < 0) throw invalidArgument(`shared blob reads: budget ${budget} is not a byte count`);
  if (!Number.isSafeInteger(pieceBytes) || pieceBytes < 1) throw invalidArgument(`shared blob reads: piece size ${pieceBytes} is not a positive byte count`);
  /** Responses iterating a reader, by blob key. */
  const readers = new Map<string, number>();
  /** Pieces by `<blob key>@<index>`, least recently used first. */
  const pieces = new Map<string, Piece>();
  let held = 0;

  const drop = (pieceKey: string, piece: Piece) => {
    if (pieces.get(pieceKey) !== piece) return;
    pieces.delete(pieceKey);
    held -= piece.size;
  };

  const evict = () => {
    for (const [pieceKey, piece] of pieces) {
      if (held <= budget) return;
      drop(pieceKey, piece);
    }
  };

  /** Drops the pieces of a blob no response reads any more. */
  const forget = (blob: string) => {
    for (const [pieceKey, piece] of pieces) if (pieceKey.startsWith(`${blob}@`)) drop(pieceKey, piece);
  };

  /** The piece's bytes: kept, being read for another response, or read now through open. */
  const piece = (blob: string, size: number, index: number, open: OpenBlob): Promise<Buffer> => {
    const pieceKey = `${blob}@${index}`;
    const kept = pieces.get(pieceKey);
    if (kept !== undefined) {
      pieces.delete(pieceKey);
      pieces.set(pieceKey, kept);
      return kept.bytes;
    }
    const offset = index * pieceBytes;
    const length = Math.min(pieceBytes, size - offset);
    const entry: Piece = { size: length, bytes: readWhole(open, { offset, length }) };
    pieces.set(pieceKey, entry);
    held += length;
    entry.bytes.catch(() => drop(pieceKey, entry));
    evict();
    return entry.bytes;
  };

  /** Counts the response as a reader of blob while it iterates chunks. */
  async function* counted(blob: string, chunks: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
    readers.set(blob, (readers.get(blob) ?? 0) + 1);
    try {
      yield* chunks;
    } finally {
      const left = (readers.get(blob) ?? 1) - 1;
      if (left > 0) readers.set(blob, left);
      else {
        readers.delete(blob);
        forget(blob);
      }
    }
  }

  async function* shared(blob: string, size: number, range: SentRange, open: OpenBlob): AsyncGenerator<Uint8Array> {
    const end = range.offset + range.length;
    for (let position = range.offset; position < end; ) {
      const index = Math.floor(position / pieceBytes);
      const bytes = await piece(blob, size, index, open);
      const from = position - index * pieceBytes;
      const to = Math.min(bytes.length, end - index * pieceBytes);
      if (to <= from) throw internal(`piece ${index} of blob ${blob} has ${bytes.length} bytes, fewer than the ${from + 1} needed`);
      yield bytes.subarray(from, to);
      position += to - from;
    }
  }

  return {
    async open(key, size, range, open) {
      const whole = range.offset === 0 && range.length === size;
      if (budget === 0 || (readers.get(key) ?? 0) === 0 || range.length === 0) {
        const reader = await open(whole ? undefined : range);
        return { ...reader, chunks: counted(key, reader.chunks) };
      }
      return { size, chunks: counted(key, shared(key, size, range, open)) };
    },
    openAlone(key, open) {
      if (budget > 0 && (readers.get(key) ?? 0) > 0) return undefined;
      return open().then((reader) => ({ ...reader, chunks: counted(key, reader.chunks) }));
    },
    heldBytes: () => held,
  };
}

/**
 * The bytes of range as one buffer: the reader's single chunk itself when it
 * yields one of the whole length. Chunks are never released, so the reader
 * never reads into their memory again (BlobReader.release) and they can be
 * kept.
 */
async function readWhole(open: OpenBlob, range: SentRange): Promise<Buffer> {
  const reader = await open(range);
  const parts: Buffer[] = [];
  let length = 0;
  for await (const chunk of reader.chunks) {
    parts.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    length += chunk.byteLength;
  }
  if (length !== range.length) throw internal(`a blob read at offset ${range.offset} gave ${length} bytes, not the ${range.length} asked for`);
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts, length);
}
