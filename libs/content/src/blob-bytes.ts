import { randomUUID } from 'node:crypto';
import { isAlreadyExists } from '@strata/kit';
import { digestHex, type Digest } from '@strata/oci';
import type { Provider, Store, Writer } from './store.js';
import type { Labels, ReadRange } from './types.js';

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
