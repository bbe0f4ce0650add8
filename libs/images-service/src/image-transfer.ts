import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import {
  ImportResponse,
  ImportRootfsResponse,
  type ExportRequest,
  type ExportResponse,
  type ImportRequest,
  type ImportRootfsRequest,
  type PushRequest,
  type PushResponse,
} from '@strata/api/images/v1';
import { ImageLoaded, ImagePushed } from '@strata/api/events/v1/images';
import { canceled, invalidArgument, isStrataError, type EventSink, type Logger } from '@strata/kit';
import type { LeaseManager, Store } from '@strata/content';
import type { RegistryClient } from '@strata/distribution-client';
import type { TagRecord, TagStore } from '@strata/images';
import { parseReference, type Descriptor, type Digest, type Platform, type Reference } from '@strata/oci';
import { readImageArchive } from './image-archive-reader.js';
import { parseArchiveFormat, writeImageArchive, type ArchiveImage } from './image-archive-writer.js';
import type { ImageCatalog, StoredImage } from './image-catalog.js';
import { imageTree } from './image-content.js';
import { locate, parseImageRef, type ImageNaming } from './image-names.js';
import { pushRegistry, pushTree } from './image-push.js';
import { toProtoDescriptor } from './proto-convert.js';
import { storeRootfsImage } from './rootfs-image.js';

/** What the image-moving operations need of the Images service they belong to. */
export interface ImageTransferOptions {
  store: Store;
  tags: TagStore;
  leases?: LeaseManager | undefined;
  events: EventSink;
  logger: Logger;
  hostPlatform: Platform;
  naming: ImageNaming;
  /** A fresh catalog (one per request). */
  catalog: () => ImageCatalog;
  /** The image a reference or image id names; NotFound (`No such image: …`) when none is here. */
  findImage: (catalog: ImageCatalog, text: string) => Promise<StoredImage>;
  /** Points a tag at a stored manifest or index, roots it, publishes `image.tagged`. */
  tagReference: (target: Reference, descriptor: Descriptor) => Promise<TagRecord>;
  /** A tag record's name as the API spells it. */
  recordName: (record: TagRecord) => string;
  registries?: RegistryClient;
  spoolDir?: string;
  leaseSeconds: number;
  progressIntervalMs: number;
  concurrency: number;
}

/** Push, Export, Import and ImportRootfs of the Images API (see images.proto). */
export interface ImageTransfer {
  push(request: PushRequest, signal?: AbortSignal): AsyncIterable<PushResponse>;
  export(request: ExportRequest): AsyncIterable<ExportResponse>;
  import(requests: AsyncIterable<ImportRequest>): Promise<ImportResponse>;
  importRootfs(requests: AsyncIterable<ImportRootfsRequest>): Promise<ImportRootfsResponse>;
}

/** Largest data field of an ExportResponse. */
const EXPORT_CHUNK_BYTES = 1 << 20;

/**
 * Creates the image-moving operations. Push resolves the image here and
 * sends it with pushTree to the registry pushRegistry picks; Export writes
 * writeImageArchive's stream; Import reads readImageArchive and tags the
 * names it found; ImportRootfs stores storeRootfsImage's image and tags it.
 * Import and ImportRootfs hold what they write with a lease until it is
 * tagged. Events: `image.pushed` (data ImagePushed, subject the target),
 * `image.loaded` (data ImageLoaded, subject the reference, or the image id
 * of an unnamed image), besides `image.tagged` from tagReference.
 */
export function createImageTransfer(options: ImageTransferOptions): ImageTransfer {
  const { store, leases, events, logger, naming } = options;
  const spoolDir = options.spoolDir ?? tmpdir();

  /** Runs fn with a lease that holds every digest passed to hold, deleted afterwards. */
  const withLease = async <T>(purpose: string, fn: (hold: (digest: Digest) => Promise<void>) => Promise<T>): Promise<T> => {
    if (leases === undefined) return fn(async () => undefined);
    const lease = await leases.create({ id: `images-${purpose}-${randomBytes(8).toString('hex')}`, ttlSeconds: options.leaseSeconds });
    const held = new Set<Digest>();
    try {
      return await fn(async (digest) => {
        if (held.has(digest)) return;
        held.add(digest);
        await leases.addResource(lease.id, digest);
      });
    } finally {
      await leases.delete(lease.id).catch((err: unknown) => logger.warn({ err, lease: lease.id }, `cannot delete the lease of an ${purpose}`));
    }
  };

  const loaded = (ref: string, digest: Digest, imageId: Digest, source: 'archive' | 'rootfs') =>
    events.publish('image.loaded', ref === '' ? imageId : ref, ImageLoaded.toJSON({ ref, digest, imageId, source }));

  async function* push(request: PushRequest, outer?: AbortSignal): AsyncGenerator<PushResponse> {
    const source = parseImageRef(request.ref);
    let target: Reference;
    if (request.target === '') {
      if (source.ref === undefined || source.ref.digest !== undefined) {
        throw invalidArgument(`push of ${JSON.stringify(request.ref.slice(0, 200))} needs a target repository:tag; give TARGET`, {
          fields: { ref: request.ref.slice(0, 200) },
        });
      }
      target = source.ref;
    } else {
      target = parseReference(request.target);
    }
    if (target.digest !== undefined) {
      throw invalidArgument('refusing to push to a digest reference; give the target a tag', { fields: { ref: request.target.slice(0, 200) } });
    }
    const cat = options.catalog();
    const image = await options.findImage(cat, request.ref);
    const tree = await imageTree(store, cat, image);
    const registry = pushRegistry(options.registries, target.domain, logger.child({ component: 'push' }));
    const abort = new AbortController();
    const onAbort = () => abort.abort();
    outer?.addEventListener('abort', onAbort);
    const log = logger.child({ ref: request.ref.slice(0, 200), target: target.toString() });
    try {
      const sourceName = source.ref?.toString() ?? image.id;
      yield {
        event: {
          $case: 'resolved',
          value: { ref: sourceName, target: target.toString(), manifest: toProtoDescriptor(tree.top.descriptor), blobs: tree.blobs.map(toProtoDescriptor) },
        },
      };
      const mountFrom =
        source.ref !== undefined && source.ref.domain === target.domain && source.ref.path !== target.path && !naming.localDomains.includes(target.domain)
          ? source.ref.path
          : undefined;
      const pushing = pushTree(tree, {
        store,
        upstream: registry.upstream,
        repository: target.path,
        tag: target.tag as string,
        ...(mountFrom === undefined ? {} : { mountFrom }),
        concurrency: options.concurrency,
        progressIntervalMs: options.progressIntervalMs,
        signal: abort.signal,
      });
      let step = await pushing.next();
      while (!step.done) {
        yield step.value;
        step = await pushing.next();
      }
      const { digest, uploaded } = step.value;
      events.publish(
        'image.pushed',
        target.toString(),
        ImagePushed.toJSON({ ref: sourceName, target: target.toString(), digest, mediaType: tree.top.descriptor.mediaType, uploaded }),
      );
      log.info({ digest, uploaded }, 'image pushed');
      yield { event: { $case: 'done', value: { target: target.toString(), digest, size: tree.top.bytes.length, uploaded } } };
    } catch (err) {
      if (abort.signal.aborted && !isStrataError(err)) throw canceled('the push was canceled', { cause: err });
      throw err;
    } finally {
      abort.abort();
      outer?.removeEventListener('abort', onAbort);
      registry.close();
    }
  }

  async function* exportImages(request: ExportRequest): AsyncGenerator<ExportResponse> {
    const format = parseArchiveFormat(request.format);
    if (request.refs.length === 0) throw invalidArgument('export needs at least one image reference');
    const cat = options.catalog();
    const byTarget = new Map<Digest, ArchiveImage>();
    for (const text of request.refs) {
      const image = await options.findImage(cat, text);
      const { ref } = parseImageRef(text);
      let name: Reference | undefined;
      if (ref !== undefined && ref.digest === undefined) {
        if ((await taggedAs(ref)) === image.target.digest) name = ref;
      }
      const found = byTarget.get(image.target.digest);
      if (found !== undefined) {
        if (name !== undefined && !found.names.some((n) => n.toString() === name.toString())) (found.names as Reference[]).push(name);
        continue;
      }
      byTarget.set(image.target.digest, { tree: await imageTree(store, cat, image), manifest: image.manifest, names: name === undefined ? [] : [name] });
    }
    for await (const chunk of writeImageArchive(store, [...byTarget.values()], format)) {
      for (let at = 0; at < chunk.length; at += EXPORT_CHUNK_BYTES) yield { data: Buffer.from(chunk.subarray(at, at + EXPORT_CHUNK_BYTES)) };
    }
  }

  /** The digest ref's tag points at here, if any. */
  const taggedAs = async (ref: Reference): Promise<Digest | undefined> => {
    const loc = locate(ref, naming);
    return (await options.tags.get(loc.domain, loc.repository, ref.tag as string))?.digest;
  };

  return {
    push: (request, signal) => push(request, signal),
    export: (request) => exportImages(request),

    async import(requests) {
      async function* data(): AsyncGenerator<Uint8Array> {
        for await (const request of requests) if (request.data.length > 0) yield request.data;
      }
      return withLease('import', async (hold) => {
        const images = await readImageArchive(data(), { store, spoolDir, hostPlatform: options.hostPlatform, hold, logger });
        const response = ImportResponse.fromPartial({ images: [] });
        for (const image of images) {
          const names: string[] = [];
          for (const ref of image.names) {
            const record = await options.tagReference(ref.tag === undefined ? ref.withTag('latest') : ref, image.target);
            const name = options.recordName(record);
            names.push(name);
            loaded(name, image.target.digest, image.id, 'archive');
          }
          if (names.length === 0) loaded('', image.target.digest, image.id, 'archive');
          response.images.push({ id: image.id, repoTags: names, target: toProtoDescriptor(image.target) });
        }
        logger.info({ images: response.images.map((i) => ({ id: i.id, tags: i.repoTags })) }, 'images loaded');
        return response;
      });
    },

    async importRootfs(requests) {
      const iterator = requests[Symbol.asyncIterator]();
      const first = await iterator.next();
      const header = first.done ? undefined : first.value.part;
      if (header?.$case !== 'header') throw invalidArgument('ImportRootfs: the first message must be the header with the reference');
      const target = parseReference(header.value.ref);
      if (target.digest !== undefined) {
        throw invalidArgument('refusing to create a tag with a digest reference', { fields: { ref: header.value.ref.slice(0, 200) } });
      }
      async function* tar(): AsyncGenerator<Uint8Array> {
        for (let next = await iterator.next(); !next.done; next = await iterator.next()) {
          const part = next.value.part;
          if (part?.$case === 'header') throw invalidArgument('ImportRootfs: only the first message may be a header');
          if (part?.$case === 'data' && part.value.length > 0) yield part.value;
        }
      }
      return withLease('import', async (hold) => {
        const made = await storeRootfsImage(tar(), {
          store,
          changes: header.value.changes,
          message: header.value.message,
          platform: options.hostPlatform,
          hold,
        });
        const record = await options.tagReference(target, made.manifest);
        const name = options.recordName(record);
        loaded(name, made.manifest.digest, made.config.digest, 'rootfs');
        logger.info({ ref: name, imageId: made.config.digest, diffId: made.diffId }, 'root filesystem imported');
        return ImportRootfsResponse.fromPartial({
          id: made.config.digest,
          ref: name,
          manifest: toProtoDescriptor(made.manifest),
          layer: toProtoDescriptor(made.layer),
          diffId: made.diffId,
        });
      });
    },
  };
}
