import { randomUUID } from 'node:crypto';
import type { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { isAlreadyExists, isNotFound } from '@strata/kit';
import { digestHex, type Digest } from '@strata/oci';
import type { Manager, Provider, Store, Writer } from './store.js';
import type { BlobReader, Info, Labels, ReadRange } from './types.js';

/**
 * The blob's Info, or undefined when it is absent: store.find when the
 * store has it, else store.info with its NotFound taken as absence. Raises
 * the store's other errors.
 */
export async function findInfo(store: Manager, digest: Digest): Promise<Info | undefined> {
  if (store.find !== undefined) return store.find(digest);
  try {
    return await store.info(digest);
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/**
 * Stores small bytes held in memory (a manifest, a config) as the blob
 * `digest` with `labels`; when the blob is stored already, sets those labels
 * on it instead (other labels stay). The ingest ref is `<refPrefix>-<hex>-<uuid>`,
 * so concurrent puts of one blob do not wait on each other. Raises what the
 * store raises: FailedPrecondition when the bytes do not match the digest
 * (nothing is stored).
 */
export async function putBlob(store: Store, digest: Digest, bytes: Uint8Array, labels: Labels, refPrefix = 'put'): Promise<void> {
  const label = async () => {
    await store.update(
      digest,
      labels,
      Object.keys(labels).map((k) => `labels.${k}`),
    );
  };
  let writer: Writer;
  try {
    writer = await store.writer({ ref: `${refPrefix}-${digestHex(digest)}-${randomUUID()}`, expected: digest, total: bytes.length });
  } catch (err) {
    if (isAlreadyExists(err)) return label();
    throw err;
  }
  try {
    await writer.write(bytes);
    await writer.commit({ labels });
  } catch (err) {
    await writer.close().catch(() => undefined);
    if (isAlreadyExists(err)) return label();
    throw err;
  }
}

/**
 * Reads a blob (or a range of it) into memory: for small documents such as
 * manifests and configs, never for layers. Raises what Provider.read raises
 * (NotFound, OutOfRange).
 */
export async function readBlob(store: Provider, digest: Digest, range?: ReadRange): Promise<Buffer> {
  const reader = await store.read(digest, range);
  const parts: Buffer[] = [];
  for await (const chunk of reader.chunks) parts.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
  return Buffer.concat(parts);
}

/** Resolves once sink wants more bytes; rejects when it closes or fails first. */
function drained(sink: Writable): Promise<void> {
  if (sink.destroyed) return Promise.reject(new Error('the destination closed before the blob was written'));
  return new Promise((resolve, reject) => {
    const done = (err?: Error) => {
      sink.off('drain', onDrain);
      sink.off('close', onClose);
      sink.off('error', done);
      if (err === undefined) resolve();
      else reject(err);
    };
    const onDrain = () => done();
    const onClose = () => done(new Error('the destination closed before the blob was written'));
    sink.on('drain', onDrain);
    sink.on('close', onClose);
    sink.on('error', done);
  });
}

/**
 * Writes the bytes of reader to sink (an HTTP response, a socket) with
 * backpressure and ends it, resolving once sink finished. Each chunk whose
 * write sink reports done is handed back with reader.release (when the
 * reader offers it), so a reader that recycles its buffers allocates only
 * a few per blob. Rejects when the reader fails or sink fails or closes
 * first; the reader is then stopped (a Readable is destroyed) and sink is
 * left to the caller.
 */
export async function pipeBlob(reader: BlobReader, sink: Writable): Promise<void> {
  const written =
    reader.release === undefined
      ? undefined
      : (chunk: Uint8Array) => (err?: Error | null) => {
          if (err === undefined || err === null) reader.release?.(chunk);
        };
  for await (const chunk of reader.chunks) {
    if (!sink.write(chunk, written?.(chunk))) await drained(sink);
  }
  sink.end();
  await finished(sink, { readable: false });
}
