import { LayerStatus, type LayerProgress, type PushResponse } from '@strata/api/images/v1';
import { canceled, failedPrecondition, isFailedPrecondition, type Logger } from '@strata/kit';
import type { Store } from '@strata/content';
import { createUpstream, isLoopbackHost, type RegistryClient, type Upstream } from '@strata/distribution-client';
import type { Descriptor, Digest } from '@strata/oci';
import { EventQueue } from './event-queue.js';
import type { ImageTree } from './image-content.js';

/** The client of a push's registry, and how to release it. */
export interface PushRegistry {
  upstream: Upstream;
  /** Ends the connections of a client made for this push only. */
  close(): void;
}

/**
 * The registry client for host: the configured upstream (its credentials,
 * token auth and insecure setting), else, like Docker, a client of its own
 * for a loopback host (`localhost:5000`, `127.0.0.1:5000`), over plain HTTP.
 * FailedPrecondition naming the configured hosts for any other host: the
 * mirror talks only to the registries it was given.
 */
export function pushRegistry(registries: RegistryClient | undefined, host: string, logger: Logger): PushRegistry {
  try {
    if (registries !== undefined) return { upstream: registries.upstream(host), close: () => undefined };
  } catch (err) {
    if (!isFailedPrecondition(err)) throw err;
    if (!isLoopbackHost(new URL(`http://${host}`).hostname)) throw err;
  }
  if (registries === undefined && !isLoopbackHost(new URL(`http://${host}`).hostname)) {
    throw failedPrecondition(`registry ${JSON.stringify(host.slice(0, 200))} is not configured on the mirror; push to a configured upstream or a loopback registry`);
  }
  const upstream = createUpstream({ host }, { logger });
  return { upstream, close: () => upstream.close() };
}

/** Settings of {@link pushTree}. */
export interface PushTreeOptions {
  store: Store;
  upstream: Upstream;
  /** The target repository's path in the registry, e.g. `team/app`. */
  repository: string;
  /** The tag the top document is pushed under. */
  tag: string;
  /** A repository of the same registry the blobs may be mounted from (the source's), when it differs. */
  mountFrom?: string;
  /** Blobs uploaded at once; 3 by default. */
  concurrency?: number;
  /** Least time between two PUSHING events of one blob; 100 ms by default. */
  progressIntervalMs?: number;
  signal?: AbortSignal;
}

/** What a finished {@link pushTree} did. */
export interface PushTreeResult {
  /** Digest of the top document as the registry stored it. */
  digest: Digest;
  /** Bytes uploaded. */
  uploaded: number;
}

/**
 * Pushes tree to the registry: every blob (HEAD first: EXISTS when the
 * registry has it; else a mount from mountFrom when given, MOUNTED when
 * the registry did it; else an upload read from the store, PUSHING with
 * offsets then PUSHED; DONE after each), concurrency at a time, then every
 * manifest of an index by digest, then the top document under tag. Yields
 * the LAYER events (index = position in tree.blobs) and returns the result.
 * Raises what the registry client raises (Unauthenticated,
 * PermissionDenied, Unavailable, FailedPrecondition for a digest the
 * registry disagrees with), Canceled when signal aborts.
 */
export async function* pushTree(tree: ImageTree, options: PushTreeOptions): AsyncGenerator<PushResponse, PushTreeResult> {
  const { store, upstream, repository, tag, mountFrom, signal } = options;
  const concurrency = Math.max(1, options.concurrency ?? 3);
  const progressMs = options.progressIntervalMs ?? 100;
  const queue = new EventQueue<PushResponse>();
  const event = (blob: Descriptor, index: number, offset: number, status: LayerStatus): PushResponse => ({
    event: { $case: 'layer', value: { digest: blob.digest, mediaType: blob.mediaType, index, total: blob.size, offset, status } satisfies LayerProgress },
  });
  let uploaded = 0;

  const pushBlob = async (blob: Descriptor, index: number) => {
    const progress = (offset: number, status: LayerStatus) => queue.push(event(blob, index, offset, status));
    if ((await upstream.headBlob(repository, blob.digest)) !== undefined) {
      progress(blob.size, LayerStatus.LAYER_STATUS_EXISTS);
      progress(blob.size, LayerStatus.LAYER_STATUS_DONE);
      return;
    }
    let offset = 0;
    const body: AsyncIterable<Uint8Array> = {
      async *[Symbol.asyncIterator]() {
        progress(0, LayerStatus.LAYER_STATUS_PUSHING);
        const reader = await store.read(blob.digest);
        let last = Date.now();
        for await (const chunk of reader.chunks) {
          if (signal?.aborted) throw canceled('the push was canceled');
          offset += chunk.length;
          uploaded += chunk.length;
          if (Date.now() - last >= progressMs && offset < blob.size) {
            last = Date.now();
            progress(offset, LayerStatus.LAYER_STATUS_PUSHING);
          }
          yield chunk;
        }
      },
    };
    const { mounted } = await upstream.pushBlob(repository, { digest: blob.digest, size: blob.size, body }, mountFrom === undefined ? {} : { mountFrom });
    progress(blob.size, mounted ? LayerStatus.LAYER_STATUS_MOUNTED : LayerStatus.LAYER_STATUS_PUSHED);
    progress(blob.size, LayerStatus.LAYER_STATUS_DONE);
  };

  tree.blobs.forEach((blob, index) => queue.push(event(blob, index, 0, LayerStatus.LAYER_STATUS_WAITING)));
  const working = (async () => {
    let next = 0;
    let failure: { error: unknown } | undefined;
    const worker = async () => {
      while (failure === undefined && next < tree.blobs.length) {
        const index = next++;
        try {
          if (signal?.aborted) throw canceled('the push was canceled');
          await pushBlob(tree.blobs[index] as Descriptor, index);
        } catch (error) {
          failure ??= { error };
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, tree.blobs.length) }, worker));
    if (failure !== undefined) throw failure.error;
  })();
  working.then(
    () => queue.end(),
    (err: unknown) => queue.end(err),
  );
  for await (const e of queue) yield e;

  const top = tree.top.descriptor;
  for (const manifest of tree.manifests) {
    if (manifest.descriptor.digest === top.digest) continue;
    await upstream.pushManifest(repository, manifest.descriptor.digest, manifest.bytes, manifest.descriptor.mediaType);
  }
  const { digest } = await upstream.pushManifest(repository, tag, tree.top.bytes, top.mediaType);
  return { digest, uploaded };
}
