import { randomBytes } from 'node:crypto';
import {
  DeleteResponse,
  HistoryResponse,
  InspectResponse,
  LayerStatus,
  ListResponse,
  TagResponse,
  type DeleteRequest,
  type ExportRequest,
  type ExportResponse,
  type HistoryRequest,
  type ImageSummary,
  type ImportRequest,
  type ImportResponse,
  type ImportRootfsRequest,
  type ImportRootfsResponse,
  type PushRequest,
  type PushResponse,
  type InspectRequest,
  type LayerProgress,
  type ListRequest,
  type PullRequest,
  type PullResponse,
  type TagRequest,
} from '@strata/api/images/v1';
import { ImagePulled } from '@strata/api/events/v1/images';
import {
  canceled,
  discardEvents,
  failedPrecondition,
  invalidArgument,
  isInvalidArgument,
  isNotFound,
  isStrataError,
  unavailable,
  type EventSink,
  type Logger,
} from '@strata/kit';
import { GC_ROOT_LABEL, findInfo, type LeaseManager, type Store } from '@strata/content';
import type { RegistryClient } from '@strata/distribution-client';
import type { TagRecord, TagStore } from '@strata/images';
import {
  MAX_INDEX_DEPTH,
  MAX_MANIFEST_BYTES,
  checkIndexDepth,
  formatPlatform,
  hostPlatform as currentPlatform,
  parseImageConfig,
  parseManifestDocument,
  parseReference,
  selectPlatform,
  type Descriptor,
  type Digest,
  type ImageConfig,
  type ImageManifest,
  type Platform,
  type Reference,
} from '@strata/oci';
import {
  addDigestRef,
  digestRefLabel,
  digestRefsOf,
  releaseUnreferencedRoot,
  removeDigestRef,
  type DigestRef,
  type ManifestContent,
  type ManifestHead,
  type ReferenceChange,
  type RegistryBackend,
  type Repository,
} from '@strata/registry-http';
import { EventQueue } from './event-queue.js';
import {
  configPlatform,
  createImageCatalog,
  imageSize,
  noSuchImage,
  type DigestedImage,
  type ImageCatalog,
  type StoredImage,
  type TaggedImage,
} from './image-catalog.js';
import { ParsedDocuments } from './parsed-documents.js';
import { createImageEvents } from './image-events.js';
import { createImageTransfer } from './image-transfer.js';
import { locate, parseImageRef, repositoryName, requestedPlatform, type ImageNaming, type RepositoryLocation } from './image-names.js';
import { matchesReferences, parseListFilters, referenceForms } from './list-filters.js';
import { historyOf, toImageSummary, toProtoDescriptor, toProtoImage, toProtoPlatform, type ImageNames } from './proto-convert.js';

/** Settings of {@link createImages}. */
export interface ImagesOptions {
  /** The layer-store: manifests, configs and layers. */
  store: Store;
  /** The image index (name:tag → digest), shared by every replica. */
  tags: TagStore;
  /**
   * Where Pull resolves and reads: the same backend the HTTP API serves
   * (the mirror backend), so a pull shares its single-flight blob fetches
   * with HTTP clients.
   */
  backend: RegistryBackend;
  /** Holds a pull's blobs against garbage collection while it runs; without it, only roots protect them. */
  leases?: LeaseManager;
  /** Where `image.pulled`, `image.tagged` and `image.deleted` go. */
  events?: EventSink;
  logger: Logger;
  /**
   * Hosts under which the mirror's local repositories (`local/…`) are named,
   * the first one in answers; e.g. the mirror's HTTP address
   * `127.0.0.1:5050`. `localhost:5050` by default.
   */
  localDomains?: readonly string[];
  /** The platform picked from an index when a request names none; this process's by default. */
  hostPlatform?: Platform;
  /** Layers fetched at once by one pull; 3 by default. */
  layerConcurrency?: number;
  /** How long a pull waits for a downloaded blob to be committed by the fetch it read from; 60 s by default. */
  storeWaitMs?: number;
  /** Expiry of a pull's lease, should the mirror die during the pull; 3600 s by default. */
  pullLeaseSeconds?: number;
  /** Least time between two DOWNLOADING events of one layer (PUSHING of a push); 100 ms by default. */
  progressIntervalMs?: number;
  /**
   * The registries Push may send images to (the mirror's upstreams, with
   * their credentials); besides them only loopback registries. Without it,
   * Push reaches loopback registries only.
   */
  registries?: RegistryClient;
  /** Directory under which Import spools the files of an archive that are not blobs; the system's temporary directory by default. */
  spoolDir?: string;
}

/**
 * The Images API's operations (see proto/strata/images/v1/images.proto for
 * each contract, its errors and their texts). Requests and answers are the
 * generated messages; errors are StrataErrors of the kinds the proto names.
 */
export interface Images {
  /**
   * Streams a pull's progress. signal cancels it (the shared upstream
   * fetches go on for their other readers).
   */
  pull(request: PullRequest, signal?: AbortSignal): AsyncIterable<PullResponse>;
  list(request: ListRequest): Promise<ListResponse>;
  inspect(request: InspectRequest): Promise<InspectResponse>;
  history(request: HistoryRequest): Promise<HistoryResponse>;
  tag(request: TagRequest): Promise<TagResponse>;
  delete(request: DeleteRequest): Promise<DeleteResponse>;
  /** Streams a push's progress; signal cancels it. */
  push(request: PushRequest, signal?: AbortSignal): AsyncIterable<PushResponse>;
  /** Streams an archive of images; errors about the refs come before the first chunk. */
  export(request: ExportRequest): AsyncIterable<ExportResponse>;
  /** Loads the archive whose chunks requests carries; resolves once the images are tagged. */
  import(requests: AsyncIterable<ImportRequest>): Promise<ImportResponse>;
  /** Makes an image of the root filesystem tar after the header in requests; resolves once it is tagged. */
  importRootfs(requests: AsyncIterable<ImportRootfsRequest>): Promise<ImportRootfsResponse>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const sortUnique = (values: Iterable<string>) => [...new Set(values)].sort();
const shortId = (id: string) => id.replace(/^sha256:/, '').slice(0, 12);

/**
 * Creates the Images operations over the layer-store, the image index and
 * the registry backend.
 *
 * Pull resolves through backend (so the mirror backend's tag cache, HEAD
 * checks and single-flight blob fetches apply), holds every digest of the
 * image with a lease while it runs, reads each missing blob through the
 * backend (progress = bytes read), waits until the layer-store has
 * committed it, then makes sure the tag is set and the top manifest or index
 * carries `strata.gc.root` (its `strata.gc.ref.content.*` labels keep the
 * rest): a pulled image survives garbage collection until it is deleted.
 * A pull by digest records the repository's digest reference (see
 * DIGEST_REF_LABEL_PREFIX of @strata/registry-http) instead of a tag: List
 * shows such an image with no tag (Docker's `<none>`) and the reference in
 * repo_digests, and it is found by its image id like a tagged one.
 * A failed pull puts the tag back as it was. Every other operation reads
 * only the layer-store and the index, never an upstream.
 */
export function createImages(options: ImagesOptions): Images {
  const { store, tags, backend, leases, logger } = options;
  const events = options.events ?? discardEvents;
  const naming: ImageNaming = { localDomains: options.localDomains ?? ['localhost:5050'] };
  const host = options.hostPlatform ?? currentPlatform();
  const concurrency = Math.max(1, options.layerConcurrency ?? 3);
  const storeWaitMs = options.storeWaitMs ?? 60_000;
  const leaseSeconds = options.pullLeaseSeconds ?? 3600;
  const progressMs = options.progressIntervalMs ?? 100;

  // Manifests and configs parsed once serve every later request: inspect, list and a container's create read them again and again.
  const parsed = new ParsedDocuments();
  const catalog = (): ImageCatalog => createImageCatalog({ store, tags, hostPlatform: host, parsed });
  const recordName = (r: Pick<TagRecord, 'domain' | 'repository' | 'tag'>) => `${repositoryName(r.domain, r.repository, naming)}:${r.tag}`;
  const digestName = (r: Pick<DigestRef, 'domain' | 'repository' | 'digest'>) => `${repositoryName(r.domain, r.repository, naming)}@${r.digest}`;
  const namesOf = (records: readonly TagRecord[], refs: readonly DigestRef[] = []): ImageNames => ({
    repoTags: sortUnique(records.map(recordName)),
    repoDigests: sortUnique([...records, ...refs].map(digestName)),
  });
  const imageEvents = createImageEvents({ events, localDomains: naming.localDomains });
  const publish = (change: ReferenceChange) => imageEvents.publish(change);

  const stored = async (digest: Digest): Promise<boolean> => (await findInfo(store, digest)) !== undefined;

  const ensureRoot = async (digest: Digest): Promise<void> => {
    const info = await store.info(digest);
    if (info.labels[GC_ROOT_LABEL] === undefined) await store.update(digest, { [GC_ROOT_LABEL]: new Date().toISOString() }, [`labels.${GC_ROOT_LABEL}`]);
  };

  /** Drops the root of a manifest or index nothing references any more (see releaseUnreferencedRoot); true then. */
  const releaseRoot = (digest: Digest): Promise<boolean> => releaseUnreferencedRoot(store, tags, digest);

  const publishTagged = (record: TagRecord, previous: Digest | undefined) =>
    publish({ kind: 'tagged', record, ...(previous === undefined ? {} : { previousDigest: previous }) });

  /**
   * Points target's tag at descriptor (a stored manifest or index): roots
   * it, releases what the tag pointed at before and publishes
   * `image.tagged` when the tag moved. Returns the record.
   */
  const tagReference = async (target: Reference, descriptor: Descriptor): Promise<TagRecord> => {
    const loc = locate(target, naming);
    const tag = target.tag as string;
    const previous = await tags.get(loc.domain, loc.repository, tag);
    const record: TagRecord = {
      domain: loc.domain,
      repository: loc.repository,
      tag,
      digest: descriptor.digest,
      mediaType: descriptor.mediaType,
      size: descriptor.size,
      updatedAt: new Date(),
    };
    await ensureRoot(record.digest);
    await tags.put(record);
    if (previous?.digest !== record.digest) {
      if (previous !== undefined) await releaseRoot(previous.digest);
      publishTagged(record, previous?.digest);
    }
    return record;
  };

  /** Finds the image text names (a reference or an image id); NoSuchImage when none is here. */
  const findImage = async (cat: ImageCatalog, text: string, platform: Platform, strict: boolean): Promise<StoredImage> => {
    const parsed = parseImageRef(text);
    const { ref, idPrefix } = parsed;
    if (ref !== undefined) {
      let digest: Digest | undefined = ref.digest;
      if (digest === undefined) {
        const loc = locate(ref, naming);
        digest = (await tags.get(loc.domain, loc.repository, ref.tag as string))?.digest;
      }
      const image = digest === undefined ? undefined : await cat.image(digest, platform, strict);
      if (image !== undefined) return image;
    }
    if (idPrefix !== undefined) {
      const matches = new Map<Digest, StoredImage>();
      for (const { image } of [...(await cat.tagged()), ...(await cat.digested())]) {
        if (image.id.slice('sha256:'.length).startsWith(idPrefix)) matches.set(image.id, image);
      }
      if (matches.size > 1) {
        throw invalidArgument(`image id prefix ${idPrefix} is ambiguous: it matches ${matches.size} images; give more of the id`, { fields: { ref: text } });
      }
      const [only] = matches.values();
      if (only !== undefined) return only;
    }
    throw noSuchImage(ref?.familiar() ?? text);
  };

  /** Every tag whose image has id, across the index. */
  const taggedWithId = async (cat: ImageCatalog, id: Digest): Promise<TaggedImage[]> => (await cat.tagged()).filter((t) => t.image.id === id);
  /** Every digest reference whose image has id. */
  const digestedWithId = async (cat: ImageCatalog, id: Digest): Promise<DigestedImage[]> => (await cat.digested()).filter((d) => d.image.id === id);

  // ---- Pull ----

  const readConfig = async (repo: Repository, config: Descriptor): Promise<{ document: ImageConfig; downloaded: number }> => {
    if (config.size > MAX_MANIFEST_BYTES) {
      throw failedPrecondition(`image config ${config.digest} is ${config.size} bytes, over the limit of ${MAX_MANIFEST_BYTES} bytes`);
    }
    const existed = await stored(config.digest);
    const reader = await repo.openBlob(config.digest);
    const parts: Buffer[] = [];
    let size = 0;
    for await (const chunk of reader.chunks) {
      size += chunk.length;
      if (size > config.size) throw failedPrecondition(`image config ${config.digest} is longer than the ${config.size} bytes its manifest says`);
      parts.push(Buffer.from(chunk));
    }
    const document = parseImageConfig(Buffer.concat(parts), { expectedDigest: config.digest });
    return { document, downloaded: existed ? 0 : size };
  };

  const waitStored = async (digest: Digest, signal: AbortSignal): Promise<void> => {
    const deadline = Date.now() + storeWaitMs;
    for (let delay = 5; ; delay = Math.min(delay * 2, 200)) {
      if (await stored(digest)) return;
      if (signal.aborted) throw canceled('the pull was canceled');
      if (Date.now() > deadline) {
        throw unavailable(`blob ${digest} was downloaded, but the layer-store did not store it within ${Math.round(storeWaitMs / 1000)} s; pull again`, {
          fields: { digest },
        });
      }
      await sleep(delay);
    }
  };

  /**
   * The platform's manifest of top (what the reference names, with its
   * bytes): top itself, or an index entry (nested indexes followed to
   * MAX_INDEX_DEPTH). The storing of each fetched child is added to storing.
   */
  const selectManifest = async (
    repo: Repository,
    top: ManifestContent,
    platform: Platform,
    storing: Array<Promise<void>>,
  ): Promise<{ manifest: Descriptor; document: ImageManifest }> => {
    let content = top;
    for (let depth = 1; ; depth++) {
      const parsed = parseManifestDocument(content.bytes, content.mediaType, { expectedDigest: content.digest });
      if (parsed.kind === 'manifest') return { manifest: { mediaType: content.mediaType, digest: content.digest, size: content.size }, document: parsed.document };
      checkIndexDepth(depth, MAX_INDEX_DEPTH);
      content = await repo.getManifest({ digest: selectPlatform(parsed.document, platform).digest }, { whileStoring: true });
      if (content.stored !== undefined) storing.push(content.stored);
    }
  };

  /** A new lease of a pull holding digests; undefined without a LeaseManager. */
  const hold = async (digests: Digest[]): Promise<string | undefined> => {
    if (leases === undefined) return undefined;
    const lease = await leases.create({ id: `images-pull-${randomBytes(8).toString('hex')}`, ttlSeconds: leaseSeconds });
    if (digests.length > 0) await leases.addResources(lease.id, digests);
    return lease.id;
  };

  const addHeld = async (lease: string | undefined, digests: Digest[]) => {
    if (lease === undefined || leases === undefined) return;
    await leases.addResources(lease, digests);
  };

  const rollbackTag = async (loc: RepositoryLocation, tag: string, previous: TagRecord | undefined) => {
    const now = await tags.get(loc.domain, loc.repository, tag);
    if (now === undefined || now.digest === previous?.digest) return;
    if (previous === undefined) await tags.delete(loc.domain, loc.repository, tag);
    else await tags.put(previous);
    await releaseRoot(now.digest);
  };

  /** Errors of upstream content (not of the request, which was checked before) are FailedPrecondition. */
  const contentError = (err: unknown): unknown =>
    isInvalidArgument(err) ? failedPrecondition(err.message, { cause: err, fields: err.fields }) : err;

  async function* pull(request: PullRequest, outer?: AbortSignal): AsyncGenerator<PullResponse> {
    const ref: Reference = parseReference(request.ref);
    const { platform } = requestedPlatform(request.platform, host);
    const name = ref.toString();
    const log = logger.child({ ref: name });
    const abort = new AbortController();
    const onOuterAbort = () => abort.abort();
    outer?.addEventListener('abort', onOuterAbort);
    const signal = abort.signal;
    yield { event: { $case: 'resolving', value: { ref: name } } };

    const loc = locate(ref, naming);
    const tag = ref.digest === undefined ? ref.tag : undefined;
    // The lease is created while the reference resolves (it holds a pinned digest from the start).
    const leasing = hold(ref.digest === undefined ? [] : [ref.digest]);
    leasing.catch(() => undefined);
    let previous: TagRecord | undefined;
    /** Whether previous holds the tag as it was: only then is it put back after a failure. */
    let previousKnown = false;
    let lease: string | undefined;
    let done = false;
    try {
      previous = tag === undefined ? undefined : await tags.get(loc.domain, loc.repository, tag);
      previousKnown = true;
      const repo = await backend.repository(loc.backendName, loc.ns === undefined ? {} : { ns: loc.ns });
      // One request for what the reference names and its bytes: a tag is resolved with a HEAD (see the backend), the bytes are read where they were stored.
      // A manifest just fetched is stored while the layers download: the tag and the root wait for it.
      const top = await repo.getManifest(ref.digest !== undefined ? { digest: ref.digest } : { tag: tag as string }, { whileStoring: true });
      const storing = top.stored === undefined ? [] : [top.stored];
      const head: ManifestHead = { digest: top.digest, mediaType: top.mediaType, size: top.size };
      const referencedBefore =
        ref.digest !== undefined && (await store.info(head.digest).then((i) => i.labels[digestRefLabel(loc.domain, loc.repository)] !== undefined, () => false));
      const { manifest, document } = await selectManifest(repo, top, platform, storing);
      const foreign = document.layers.find((layer) => (layer.urls ?? []).length > 0);
      if (foreign !== undefined) {
        throw failedPrecondition(`layer ${foreign.digest} of ${name} is a foreign layer (fetched from its own URLs), which this mirror does not follow`, {
          fields: { digest: foreign.digest },
        });
      }
      // Every digest of the image is held (one change of the lease) before any of its blobs is fetched, so none is committed unheld.
      lease = await leasing;
      await addHeld(lease, [head.digest, manifest.digest, document.config.digest, ...document.layers.map((l) => l.digest)]);
      // The names DONE reports: read (a scan of the index) while the layers download; the pull's own tag is added then.
      const otherNames = tags.tagsOf(head.digest);
      otherNames.catch(() => undefined);
      let downloaded = 0;
      const queue = new EventQueue<PullResponse>();
      const layerEvent = (value: LayerProgress): PullResponse => ({ event: { $case: 'layer', value } });
      const fetching = (async () => {
        const missing: Array<{ layer: Descriptor; index: number }> = [];
        // Asked only once the lease holds every digest: a layer found stored before that could be collected meanwhile.
        const present = await Promise.all(document.layers.map((layer) => stored(layer.digest)));
        document.layers.forEach((layer, index) => {
          const base = { digest: layer.digest, mediaType: layer.mediaType, index, total: layer.size };
          if (present[index]) {
            queue.push(layerEvent({ ...base, offset: layer.size, status: LayerStatus.LAYER_STATUS_EXISTS }));
            queue.push(layerEvent({ ...base, offset: layer.size, status: LayerStatus.LAYER_STATUS_DONE }));
          } else {
            queue.push(layerEvent({ ...base, offset: 0, status: LayerStatus.LAYER_STATUS_WAITING }));
            missing.push({ layer, index });
          }
        });
        const fetchLayer = async ({ layer, index }: { layer: Descriptor; index: number }) => {
          const base = { digest: layer.digest, mediaType: layer.mediaType, index, total: layer.size };
          const progress = (offset: number, status: LayerStatus) => queue.push(layerEvent({ ...base, offset, status }));
          progress(0, LayerStatus.LAYER_STATUS_DOWNLOADING);
          const sizeDiffers = (size: number) =>
            failedPrecondition(`layer ${layer.digest} has ${size} bytes upstream, not the ${layer.size} its manifest says`, { fields: { digest: layer.digest } });
          let offset = 0;
          let last = Date.now();
          const received = (bytes: number) => {
            downloaded += bytes - offset;
            offset = bytes;
            if (Date.now() - last >= progressMs && offset < layer.size) {
              last = Date.now();
              progress(offset, LayerStatus.LAYER_STATUS_DOWNLOADING);
            }
          };
          let stored = false;
          if (repo.fetchBlob !== undefined) {
            // A mirrored layer is stored by the fetch itself: the pull follows its progress instead of reading its bytes back.
            const fetch = await repo.fetchBlob(layer.digest, layer.size);
            if (fetch.size !== layer.size) throw sizeDiffers(fetch.size);
            try {
              stored = await fetch.wait(received, signal);
            } catch (err) {
              if (signal.aborted) throw canceled('the pull was canceled', { cause: err });
              throw err;
            }
          } else {
            const reader = await repo.openBlob(layer.digest);
            if (reader.size !== layer.size) throw sizeDiffers(reader.size);
            let bytes = 0;
            for await (const chunk of reader.chunks) {
              if (signal.aborted) throw canceled('the pull was canceled');
              bytes += chunk.length;
              reader.release?.(chunk);
              received(bytes);
            }
          }
          if (offset !== layer.size) {
            throw failedPrecondition(`layer ${layer.digest} ended after ${offset} of its ${layer.size} bytes`, { fields: { digest: layer.digest } });
          }
          progress(offset, LayerStatus.LAYER_STATUS_VERIFYING);
          if (!stored) await waitStored(layer.digest, signal);
          progress(offset, LayerStatus.LAYER_STATUS_STORED);
          progress(offset, LayerStatus.LAYER_STATUS_DONE);
        };
        let next = 0;
        let failure: { error: unknown } | undefined;
        const worker = async () => {
          while (failure === undefined && next < missing.length) {
            const item = missing[next++] as { layer: Descriptor; index: number };
            try {
              await fetchLayer(item);
            } catch (error) {
              failure ??= { error };
              abort.abort();
            }
          }
        };
        await Promise.all(Array.from({ length: Math.min(concurrency, missing.length) }, worker));
        if (failure !== undefined) throw failure.error;
      })();
      let layersFailed: { error: unknown } | undefined;
      fetching.then(
        () => queue.end(),
        (error: unknown) => {
          layersFailed = { error };
          queue.end(error);
        },
      );
      // The layers download while the config is read; their events wait in the queue until RESOLVED is out.
      // Should the config fail, the finally below aborts them; should a layer fail first (which aborts), its error is the pull's.
      let config: Awaited<ReturnType<typeof readConfig>>;
      try {
        config = await readConfig(repo, document.config);
        if (config.downloaded > 0) await waitStored(document.config.digest, signal);
      } catch (err) {
        throw layersFailed === undefined ? err : layersFailed.error;
      }
      downloaded += config.downloaded;
      const imagePlatform = configPlatform(config.document);
      yield {
        event: {
          $case: 'resolved',
          value: {
            ref: name,
            target: toProtoDescriptor(head),
            manifest: toProtoDescriptor(manifest),
            platform: toProtoPlatform(imagePlatform),
            config: toProtoDescriptor(document.config),
            layers: document.layers.map(toProtoDescriptor),
          },
        },
      };
      for await (const event of queue) yield event;

      await Promise.all(storing);
      let moved = false;
      const record: TagRecord | undefined =
        tag === undefined
          ? undefined
          : { domain: loc.domain, repository: loc.repository, tag, digest: head.digest, mediaType: head.mediaType, size: head.size, updatedAt: new Date() };
      if (record !== undefined) {
        // The tag and the root are independent changes: both are made at once.
        const setTag = async () => {
          const current = await tags.get(record.domain, record.repository, record.tag);
          if (current?.digest !== head.digest) await tags.put(record);
        };
        await Promise.all([setTag(), ensureRoot(head.digest)]);
        moved = previous?.digest !== head.digest;
      } else {
        await addDigestRef(store, head.digest, loc.domain, loc.repository);
      }
      done = true;

      if (record !== undefined && moved) publishTagged(record, previous?.digest);
      const platformText = formatPlatform(imagePlatform);
      events.publish(
        'image.pulled',
        name,
        ImagePulled.toJSON({ ref: name, digest: head.digest, mediaType: head.mediaType, imageId: document.config.digest, platform: platformText, downloaded }),
      );
      const image: StoredImage = {
        target: { mediaType: head.mediaType, digest: head.digest, size: head.size },
        manifest,
        manifestDocument: document,
        config: document.config,
        configDocument: config.document,
        id: document.config.digest,
        size: imageSize(manifest, document),
      };
      const sameTag = (r: TagRecord) => record !== undefined && r.domain === record.domain && r.repository === record.repository && r.tag === record.tag;
      const [others, headInfo] = await Promise.all([otherNames, store.info(head.digest)]);
      const names = namesOf([...others.filter((r) => !sameTag(r)), ...(record === undefined ? [] : [record])], digestRefsOf(headInfo));
      const upToDate = downloaded === 0 && (tag === undefined ? referencedBefore : !moved);
      log.info({ digest: head.digest, imageId: image.id, downloaded, upToDate }, 'image pulled');
      yield { event: { $case: 'done', value: { image: toImageSummary(image, names), upToDate } } };
    } catch (err) {
      if (signal.aborted && !isStrataError(err)) throw canceled('the pull was canceled', { cause: err });
      throw contentError(err);
    } finally {
      abort.abort();
      outer?.removeEventListener('abort', onOuterAbort);
      if (!done && tag !== undefined && previousKnown) {
        await rollbackTag(loc, tag, previous).catch((err: unknown) => log.warn({ err }, 'cannot put the tag back after a failed pull'));
      }
      lease ??= await leasing.catch(() => undefined);
      if (lease !== undefined) await leases?.delete(lease).catch((err: unknown) => log.warn({ err, lease }, 'cannot delete the lease of a pull'));
    }
  }

  // ---- List, Inspect, History, Tag, Delete ----

  const familiarOf = (full: string): string => {
    try {
      return parseReference(full).familiar();
    } catch {
      return full;
    }
  };

  const familiarForms = (record: TagRecord): string[] => {
    const full = recordName(record);
    return referenceForms(full, familiarOf(full));
  };

  /** The forms of a digest reference a reference pattern is matched against: familiar and full, with and without the digest. */
  const digestForms = (ref: DigestRef): string[] => {
    const full = digestName(ref);
    const familiar = familiarOf(full);
    const strip = (s: string) => s.slice(0, s.lastIndexOf('@'));
    return [familiar, strip(familiar), full, strip(full)];
  };

  const createdMs = (image: StoredImage): number => (image.configDocument.created === undefined ? 0 : Date.parse(image.configDocument.created));

  /** Whether an image with id still has a tag or a digest reference. */
  const stillNamed = async (id: Digest): Promise<boolean> => {
    const cat = catalog();
    return (await taggedWithId(cat, id)).length > 0 || (await digestedWithId(cat, id)).length > 0;
  };

  const publishDeleted = (ref: Pick<DigestRef, 'domain' | 'repository' | 'digest'> & { tag?: string }, imageDeleted: boolean) =>
    publish({ kind: 'deleted', domain: ref.domain, repository: ref.repository, digest: ref.digest, imageDeleted, ...(ref.tag === undefined ? {} : { tag: ref.tag }) });

  const transfer = createImageTransfer({
    store,
    tags,
    leases,
    events,
    logger,
    hostPlatform: host,
    naming,
    catalog,
    findImage: (cat, text) => findImage(cat, text, host, false),
    tagReference,
    recordName,
    ...(options.registries === undefined ? {} : { registries: options.registries }),
    ...(options.spoolDir === undefined ? {} : { spoolDir: options.spoolDir }),
    leaseSeconds,
    progressIntervalMs: progressMs,
    concurrency,
  });

  return {
    pull: (request, signal) => pull(request, signal),
    push: (request, signal) => transfer.push(request, signal),
    export: (request) => transfer.export(request),
    import: (requests) => transfer.import(requests),
    importRootfs: (requests) => transfer.importRootfs(requests),

    async list(request) {
      const filters = parseListFilters(request.filters);
      const cat = catalog();
      const bound = async (refs: string[]) => Promise.all(refs.map(async (r) => createdMs(await findImage(cat, r, host, false))));
      const before = await bound(filters.before);
      const since = await bound(filters.since);
      const byId = new Map<Digest, { image: StoredImage; records: TagRecord[]; refs: DigestRef[] }>();
      const entry = (image: StoredImage) => {
        const found = byId.get(image.id) ?? { image, records: [], refs: [] };
        byId.set(image.id, found);
        return found;
      };
      for (const { record, image } of await cat.tagged()) {
        if (filters.references.length > 0 && !matchesReferences(filters.references, familiarForms(record))) continue;
        entry(image).records.push(record);
      }
      for (const { ref, image } of await cat.digested()) {
        if (filters.references.length > 0 && !matchesReferences(filters.references, digestForms(ref))) continue;
        entry(image).refs.push(ref);
      }
      const images: ImageSummary[] = [];
      const ordered = [...byId.values()].sort((a, b) => createdMs(b.image) - createdMs(a.image) || (a.image.id < b.image.id ? -1 : 1));
      for (const { image, records, refs } of ordered) {
        const labels = image.configDocument.config?.Labels ?? {};
        if (!filters.labels.every((l) => Object.hasOwn(labels, l.key) && (l.value === undefined || labels[l.key] === l.value))) continue;
        const created = createdMs(image);
        if (!before.every((t) => created < t) || !since.every((t) => created > t)) continue;
        images.push(toImageSummary(image, namesOf(records, refs)));
      }
      return ListResponse.fromPartial({ images });
    },

    async inspect(request) {
      const { platform, explicit } = requestedPlatform(request.platform, host);
      const cat = catalog();
      const image = await findImage(cat, request.ref, platform, explicit);
      if (request.withoutNames) return InspectResponse.fromPartial({ image: toProtoImage(image, namesOf([], [])) });
      const [records, refs] = await Promise.all([taggedWithId(cat, image.id), digestedWithId(cat, image.id)]);
      return InspectResponse.fromPartial({ image: toProtoImage(image, namesOf(records.map((t) => t.record), refs.map((d) => d.ref))) });
    },

    async history(request) {
      const { platform, explicit } = requestedPlatform(request.platform, host);
      const image = await findImage(catalog(), request.ref, platform, explicit);
      return HistoryResponse.fromPartial({ history: historyOf(image).reverse() });
    },

    async tag(request) {
      const target = parseReference(request.target);
      if (target.digest !== undefined) {
        throw invalidArgument('refusing to create a tag with a digest reference', { fields: { ref: request.target.slice(0, 200) } });
      }
      const image = await findImage(catalog(), request.source, host, false);
      const record = await tagReference(target, image.target);
      logger.info({ target: recordName(record), digest: record.digest }, 'image tagged');
      return TagResponse.fromPartial({ target: recordName(record), digest: record.digest });
    },

    async delete(request) {
      const parsed = parseImageRef(request.ref);
      const cat = catalog();
      const untagged: string[] = [];
      const deleted: string[] = [];
      const untag = async (record: TagRecord): Promise<boolean> => {
        try {
          await tags.delete(record.domain, record.repository, record.tag);
        } catch (err) {
          if (!isNotFound(err)) throw err;
          return false;
        }
        untagged.push(recordName(record));
        return true;
      };
      const unref = async (ref: Pick<DigestRef, 'domain' | 'repository' | 'digest'>): Promise<boolean> => {
        if (!(await removeDigestRef(store, ref.digest, ref.domain, ref.repository))) return false;
        untagged.push(digestName(ref));
        return true;
      };

      if (parsed.ref !== undefined && parsed.ref.digest === undefined) {
        const loc = locate(parsed.ref, naming);
        const record = await tags.get(loc.domain, loc.repository, parsed.ref.tag as string);
        if (record !== undefined) {
          const image = await cat.image(record.digest, host, false);
          await untag(record);
          // As Docker: once a repository has no tag of the image left, its digest references of the image go too.
          const sameRepository = (r: { domain: string; repository: string }) => r.domain === record.domain && r.repository === record.repository;
          const removedRefs: DigestRef[] = [];
          if (image !== undefined && !(await taggedWithId(catalog(), image.id)).some((t) => sameRepository(t.record))) {
            for (const { ref } of await digestedWithId(catalog(), image.id)) if (sameRepository(ref) && (await unref(ref))) removedRefs.push(ref);
          }
          const gone = await releaseRoot(record.digest);
          if (gone) deleted.push(record.digest);
          publishDeleted(record, gone);
          for (const ref of removedRefs) {
            const refGone = ref.digest === record.digest ? gone : await releaseRoot(ref.digest);
            if (refGone) deleted.push(ref.digest);
            publishDeleted(ref, refGone);
          }
          if (gone && image !== undefined && image.id !== record.digest && !(await stillNamed(image.id))) deleted.push(image.id);
          logger.info({ ref: recordName(record), digest: record.digest, imageDeleted: gone }, 'image untagged');
          return DeleteResponse.fromPartial({ untagged, deleted: [...new Set(deleted)] });
        }
        if (parsed.idPrefix === undefined) throw noSuchImage(parsed.ref.familiar());
      }

      if (parsed.ref?.digest !== undefined) {
        const loc = locate(parsed.ref, naming);
        const ref = { domain: loc.domain, repository: loc.repository, digest: parsed.ref.digest };
        const image = await cat.image(ref.digest, host, false);
        if (await unref(ref)) {
          const gone = await releaseRoot(ref.digest);
          if (gone) deleted.push(ref.digest);
          if (gone && image !== undefined && image.id !== ref.digest && !(await stillNamed(image.id))) deleted.push(image.id);
          publishDeleted(ref, gone);
          logger.info({ ref: digestName(ref), imageDeleted: gone }, 'digest reference removed');
          return DeleteResponse.fromPartial({ untagged, deleted: sortUnique(deleted) });
        }
      }

      const image = await findImage(cat, request.ref, host, false);
      const records = (await taggedWithId(cat, image.id)).map((t) => t.record);
      const refs = (await digestedWithId(cat, image.id)).map((d) => d.ref);
      const repositories = new Set([...records, ...refs].map((r) => `${r.domain}/${r.repository}`));
      if (repositories.size > 1 && !request.force) {
        throw failedPrecondition(`conflict: unable to delete ${shortId(image.id)} (must be forced) - image is referenced in multiple repositories`, {
          fields: { imageId: image.id },
        });
      }
      const targets = new Set<Digest>([image.target.digest, ...records.map((r) => r.digest), ...refs.map((r) => r.digest)]);
      const removedTags: TagRecord[] = [];
      for (const record of records) if (await untag(record)) removedTags.push(record);
      const removedRefs: DigestRef[] = [];
      for (const ref of refs) if (await unref(ref)) removedRefs.push(ref);
      for (const digest of targets) if (await releaseRoot(digest)) deleted.push(digest);
      if (!targets.has(image.id)) deleted.push(image.id);
      for (const record of removedTags) publishDeleted(record, true);
      for (const ref of removedRefs) publishDeleted(ref, true);
      logger.info({ imageId: image.id, untagged: untagged.length }, 'image deleted');
      return DeleteResponse.fromPartial({ untagged, deleted: sortUnique(deleted) });
    },
  };
}
