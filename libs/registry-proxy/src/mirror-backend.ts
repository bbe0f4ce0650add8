import { tmpdir } from 'node:os';
import { isFailedPrecondition, isInvalidArgument, isNotFound, isResourceExhausted, isUnavailable, invalidArgument, type Logger } from '@strata/kit';
import { GC_REF_CONTENT_PREFIX, GC_ROOT_LABEL, MAX_LABELS, type Info, type Labels, type Store, findInfo, putBlob, readBlob } from '@strata/content';
import type { TagStore } from '@strata/images';
import type { RegistryClient, Upstream } from '@strata/distribution-client';
import { MAX_MANIFEST_BYTES, parseManifestDocument, type Descriptor, type Digest, type ManifestDocument } from '@strata/oci';
import {
  ARTIFACT_TYPE_LABEL,
  MEDIA_TYPE_LABEL,
  SUBJECT_LABEL,
  registryError,
  releaseUnreferencedRoot,
  type ManifestHead,
  type RegistryBackend,
  type Repository,
  type RepositoryOptions,
} from '@strata/registry-http';
import { UPSTREAM_LABEL, UPSTREAM_REPOSITORY_LABEL, createBlobFetcher } from './blob-fetcher.js';
import { routeRepository } from './route-repository.js';

/** Settings of {@link createMirrorBackend}. */
export interface MirrorBackendOptions {
  /** Cached manifests and blobs (shared with the local backend). */
  store: Store;
  /** Cached upstream tags, in the upstream host's domain. */
  tags: TagStore;
  /** The upstreams the mirror may fetch from. */
  upstreams: RegistryClient;
  /** Serves `local/…` repositories (and, without a default upstream, every name no upstream claims). */
  local: RegistryBackend;
  /**
   * The upstream of names without ns or a host prefix. Undefined: `docker.io`
   * when it is configured, else none; null: none (such names are local). A
   * host that is not configured is InvalidArgument.
   */
  defaultUpstream?: string | null;
  /** How long a cached tag is served without asking the upstream (a HEAD); 60 by default. */
  tagTtlSeconds?: number;
  /** Largest manifest fetched and served; {@link MAX_MANIFEST_BYTES} by default. */
  maxManifestBytes?: number;
  /** Directory of the fetcher's spool files (unlinked when opened); the OS's temporary directory by default. */
  spoolDir?: string;
  /** The store's imports directory on this host, where the fetcher spools blobs the store then imports (see BlobFetcherOptions). */
  importsDir?: string;
  logger: Logger;
  /** The clock (ms); Date.now by default. */
  now?: () => number;
}

/** A resolved manifest, with its bytes and the storing of them when they were just fetched from the upstream. */
type Resolved = ManifestHead & { bytes?: Uint8Array; stored?: Promise<void> };

/** Labels a manifest needs besides its references: media type, root, subject, artifact type, upstream, repository. */
const OWN_LABELS = 6;

/**
 * The labels that keep what a manifest or index references from garbage
 * collection: `strata.gc.ref.content.config`, `….l.<i>` for each layer that
 * has no foreign `urls`, `….m.<i>` for each child manifest (one label per
 * distinct digest). InvalidArgument when there are more than maxLabels.
 */
export function gcReferenceLabels(parsed: ManifestDocument, maxLabels = MAX_LABELS - OWN_LABELS): Labels {
  const refs: Array<[string, Digest]> = [];
  if (parsed.kind === 'manifest') {
    refs.push(['config', parsed.document.config.digest]);
    parsed.document.layers.forEach((layer, i) => {
      if (layer.urls === undefined || layer.urls.length === 0) refs.push([`l.${i}`, layer.digest]);
    });
  } else {
    parsed.document.manifests.forEach((m, i) => refs.push([`m.${i}`, m.digest]));
  }
  const seen = new Set<Digest>();
  const labels: Labels = {};
  for (const [key, digest] of refs) {
    if (seen.has(digest)) continue;
    seen.add(digest);
    labels[`${GC_REF_CONTENT_PREFIX}.${key}`] = digest;
  }
  if (seen.size > maxLabels) {
    throw invalidArgument(`manifest references ${seen.size} blobs or manifests, over the limit of ${maxLabels} this mirror can keep`);
  }
  return labels;
}

/**
 * A registry backend that serves upstream registries as a pull-through
 * cache and local repositories beside them. Each repository is routed by
 * {@link routeRepository}: `local/…` to options.local; by `ns=`; by a first
 * path component that is a configured upstream host; else to the default
 * upstream, or to options.local when there is none.
 *
 * A proxied repository:
 * - resolves a tag from the TagStore (domain = upstream host, repository =
 *   the upstream's path) while the record is younger than tagTtlSeconds,
 *   else with a HEAD to the upstream (never a GET); the tag record is then
 *   refreshed. When the upstream is unavailable or rate-limits (429), the
 *   cached tag is served however old; an uncached one fails with
 *   UNAVAILABLE naming the upstream;
 * - serves a manifest from the store by digest, or GETs it by digest from
 *   the upstream (digest verified, parseManifestDocument with Content-Type
 *   and size cap, so index/manifest confusion is refused) and stores it
 *   labelled with its media type, GC references, its upstream and
 *   repository, and `strata.gc.root` while a tag names it. A digest
 *   reference never consults tags: a pin wins over a moved tag;
 * - starts storing the config of an image manifest it fetched from the
 *   upstream (unless the store has it), so the client's request for it,
 *   which comes after the manifest's, finds it stored or on its way;
 * - serves blobs from the store, ranges included; a cold blob is fetched
 *   once per upstream and digest (see createBlobFetcher), streamed to every
 *   waiting request as it arrives and cached only when its digest matches;
 *   fetchBlob stores one without reading it back (a pull's layers);
 * - lists tags from the upstream, or the cached ones when it is unavailable;
 *   referrers from what the cache holds;
 * - refuses pushes, deletes and mounts with UNSUPPORTED (405).
 *
 * Content is stored by digest and shared with local repositories, like the
 * local backend's. Raises InvalidArgument for a defaultUpstream that is not
 * configured.
 */
export function createMirrorBackend(options: MirrorBackendOptions): RegistryBackend {
  const { store, tags, upstreams, local, logger } = options;
  const ttlMs = (options.tagTtlSeconds ?? 60) * 1000;
  const maxManifestBytes = options.maxManifestBytes ?? MAX_MANIFEST_BYTES;
  const now = options.now ?? Date.now;
  const fetcher = createBlobFetcher({ store, logger, spoolDir: options.spoolDir ?? tmpdir(), ...(options.importsDir === undefined ? {} : { importsDir: options.importsDir }) });
  const manifestFetches = new Map<string, Promise<Resolved>>();
  const blobHeads = new Map<string, Promise<{ size: number } | undefined>>();

  const upstreamHost = (host: string): string | undefined => {
    try {
      return upstreams.upstream(host).host;
    } catch (err) {
      if (isFailedPrecondition(err)) return undefined;
      throw err;
    }
  };
  let defaultUpstream: string | undefined;
  if (options.defaultUpstream === undefined) defaultUpstream = upstreamHost('docker.io');
  else if (options.defaultUpstream !== null) {
    defaultUpstream = upstreamHost(options.defaultUpstream);
    if (defaultUpstream === undefined) {
      throw invalidArgument(`default upstream ${options.defaultUpstream} is not a configured upstream (configured: ${upstreams.hosts().join(', ') || 'none'})`);
    }
  }
  const routing = { upstreamHost, hosts: upstreams.hosts(), ...(defaultUpstream === undefined ? {} : { defaultUpstream }) };

  const infoOf = (digest: Digest): Promise<Info | undefined> => findInfo(store, digest);

  const storeManifest = (digest: Digest, bytes: Uint8Array, labels: Labels): Promise<void> =>
    putBlob(store, digest, bytes, labels, 'proxy-manifest');

  const rootLabel = (): Labels => ({ [GC_ROOT_LABEL]: new Date(now()).toISOString() });

  /** Drops the root of a manifest nothing references any more (a cached tag moved away from it). */
  const releaseRoot = async (digest: Digest): Promise<void> => {
    await releaseUnreferencedRoot(store, tags, digest);
  };

  /**
   * Starts storing a blob that a client will ask for next (the config of a
   * manifest just fetched), unless the store has it or its fetch is running;
   * a failure is only logged: the client's request fetches it again.
   */
  const prefetch = (upstream: Upstream, repository: string, blob: Descriptor) => {
    const running = () => fetcher.inFlightSize(upstream.host, blob.digest) !== undefined;
    (async () => {
      if (running() || (await infoOf(blob.digest)) !== undefined || running()) return;
      const fetch = await fetcher.fetch({ upstream, repository, digest: blob.digest, size: blob.size });
      await fetch.wait();
    })().catch((err: unknown) => logger.debug({ err, upstream: upstream.host, repository, digest: blob.digest }, 'prefetching a blob failed; it is fetched when asked for'));
  };

  const fetchManifest = async (upstream: Upstream, repository: string, digest: Digest, tagged: boolean): Promise<Resolved> => {
    const fetched = await upstream.getManifest(repository, digest);
    let parsed: ManifestDocument;
    let labels: Labels;
    try {
      parsed = parseManifestDocument(fetched.bytes, fetched.mediaType, { maxBytes: maxManifestBytes, expectedDigest: digest });
      labels = gcReferenceLabels(parsed);
    } catch (err) {
      if (!isInvalidArgument(err)) throw err;
      throw registryError('MANIFEST_INVALID', `upstream ${upstream.host} served manifest ${repository}@${digest}, which is refused: ${err.message}`, {
        status: 502,
        detail: { digest },
        cause: err,
      });
    }
    labels[MEDIA_TYPE_LABEL] = parsed.mediaType;
    labels[UPSTREAM_LABEL] = upstream.host;
    labels[UPSTREAM_REPOSITORY_LABEL] = repository;
    const { subject } = parsed.document;
    if (subject !== undefined) {
      labels[SUBJECT_LABEL] = subject.digest;
      const artifactType = parsed.document.artifactType ?? (parsed.kind === 'manifest' ? parsed.document.config.mediaType : undefined);
      if (artifactType !== undefined) labels[ARTIFACT_TYPE_LABEL] = artifactType;
    }
    if (tagged || subject !== undefined) Object.assign(labels, rootLabel());
    const stored = storeManifest(digest, fetched.bytes, labels).then(() => logger.debug({ upstream: upstream.host, repository, digest }, 'manifest cached'));
    // Whoever needs the manifest stored awaits this; the others need not observe a failure.
    stored.catch(() => undefined);
    if (parsed.kind === 'manifest' && parsed.document.config.size <= maxManifestBytes) prefetch(upstream, repository, parsed.document.config);
    return { digest, mediaType: parsed.mediaType, size: fetched.bytes.length, bytes: fetched.bytes, stored };
  };

  /**
   * The manifest digest names, from the store or (once per upstream and
   * digest at a time, until it is stored) from the upstream; a fetched one
   * comes with its bytes (verified) and their storing, so getManifest need
   * not read them back.
   */
  const manifest = async (upstream: Upstream, repository: string, digest: Digest, tagged: boolean): Promise<Resolved> => {
    const info = await infoOf(digest);
    const mediaType = info?.labels[MEDIA_TYPE_LABEL];
    if (info !== undefined && mediaType !== undefined) {
      if (tagged && info.labels[GC_ROOT_LABEL] === undefined) await store.update(digest, rootLabel(), [`labels.${GC_ROOT_LABEL}`]);
      return { digest, mediaType, size: info.size };
    }
    const key = `${upstream.host}@${digest}`;
    let pending = manifestFetches.get(key);
    if (pending === undefined) {
      pending = fetchManifest(upstream, repository, digest, tagged);
      manifestFetches.set(key, pending);
      pending
        .then((resolved) => resolved.stored)
        .catch(() => undefined)
        .finally(() => manifestFetches.delete(key));
    }
    return pending;
  };

  const proxied = (name: string, upstream: Upstream, repository: string, localView: Repository): Repository => {
    const host = upstream.host;
    const readOnly = (what: string) =>
      registryError('UNSUPPORTED', `repository ${name} is a read-only mirror of ${host}/${repository}: ${what} is not supported; push to a local/ repository instead`, {
        status: 405,
      });
    const blobUnknown = (digest: Digest) => registryError('BLOB_UNKNOWN', `blob unknown: upstream ${host} has no ${repository}@${digest}`, { detail: { digest } });
    const unreachable = (what: string, err: Error) =>
      registryError('UNAVAILABLE', `${what} is not cached and upstream ${host} cannot serve it now (${err.message}); try again later`, { cause: err });
    const upstreamDown = (err: unknown): err is Error => isUnavailable(err) || isResourceExhausted(err);

    const resolveTag = async (tag: string): Promise<Resolved> => {
      const cached = await tags.get(host, repository, tag);
      if (cached !== undefined && now() - cached.updatedAt.getTime() < ttlMs) return manifest(upstream, repository, cached.digest, true);
      let head: Awaited<ReturnType<Upstream['headManifest']>>;
      try {
        head = await upstream.headManifest(repository, tag);
      } catch (err) {
        if (!upstreamDown(err)) throw err;
        if (cached === undefined) throw unreachable(`manifest ${name}:${tag}`, err);
        logger.warn({ err, upstream: host, repository, tag, digest: cached.digest }, 'upstream unavailable; serving the cached tag');
        return manifest(upstream, repository, cached.digest, true);
      }
      if (head === undefined) {
        throw registryError('MANIFEST_UNKNOWN', `manifest unknown: upstream ${host} has no ${repository}:${tag}`, { detail: { tag } });
      }
      const resolved = await manifest(upstream, repository, head.digest, true);
      await tags.put({ domain: host, repository, tag, digest: resolved.digest, mediaType: resolved.mediaType, size: resolved.size, updatedAt: new Date(now()) });
      if (cached !== undefined && cached.digest !== resolved.digest) await releaseRoot(cached.digest);
      return resolved;
    };

    const resolve = (reference: Parameters<Repository['resolveManifest']>[0]): Promise<Resolved> =>
      reference.tag !== undefined ? resolveTag(reference.tag) : manifest(upstream, repository, reference.digest, false);

    return {
      name,
      async resolveManifest(reference) {
        const { digest, mediaType, size, stored } = await resolve(reference);
        await stored;
        return { digest, mediaType, size };
      },

      async getManifest(reference, getOptions = {}) {
        const { bytes, stored, ...head } = await resolve(reference);
        if (head.size > maxManifestBytes) {
          throw registryError('MANIFEST_INVALID', `manifest ${head.digest} is ${head.size} bytes, over the limit of ${maxManifestBytes} bytes`);
        }
        if (stored !== undefined && getOptions.whileStoring === true) return { ...head, bytes: bytes ?? (await readBlob(store, head.digest)), stored };
        await stored;
        return { ...head, bytes: bytes ?? (await readBlob(store, head.digest)) };
      },

      async putManifest() {
        throw readOnly('pushing a manifest');
      },
      async deleteManifest() {
        throw readOnly('deleting a manifest');
      },

      async listTags({ n, last }) {
        try {
          const page = await upstream.listTags(repository, { ...(n === undefined ? {} : { n }), ...(last === undefined ? {} : { last }) });
          return { tags: page.tags, more: page.next !== undefined };
        } catch (err) {
          if (isNotFound(err)) throw registryError('NAME_UNKNOWN', err.message, { detail: { name }, cause: err });
          if (!upstreamDown(err)) throw err;
          const records = await tags.list({ domain: host, repository, ...(last === undefined ? {} : { after: last }), ...(n === undefined ? {} : { limit: n + 1 }) });
          if (records.length === 0 && last === undefined) throw unreachable(`the tag list of ${name}`, err);
          logger.warn({ err, upstream: host, repository }, 'upstream unavailable; listing the cached tags');
          return { tags: records.slice(0, n).map((r) => r.tag), more: n !== undefined && records.length > n };
        }
      },

      referrers: (digest, filter) => localView.referrers(digest, filter),

      async statBlob(digest) {
        const info = await infoOf(digest);
        if (info !== undefined) return { digest, size: info.size };
        const inFlight = fetcher.inFlightSize(host, digest);
        if (inFlight !== undefined) return { digest, size: await inFlight };
        const key = `${host}@${digest}`;
        let pending = blobHeads.get(key);
        if (pending === undefined) {
          pending = upstream.headBlob(repository, digest).finally(() => blobHeads.delete(key));
          blobHeads.set(key, pending);
        }
        let head: { size: number } | undefined;
        try {
          head = await pending;
        } catch (err) {
          if (upstreamDown(err)) throw unreachable(`blob ${name}@${digest}`, err);
          throw err;
        }
        if (head === undefined) throw blobUnknown(digest);
        return { digest, size: head.size };
      },

      async openBlob(digest, range) {
        const storeRange = range === undefined ? undefined : { offset: range.offset, ...(range.length === undefined ? {} : { length: range.length }) };
        if (fetcher.inFlightSize(host, digest) === undefined) {
          try {
            return await store.read(digest, storeRange);
          } catch (err) {
            if (!isNotFound(err)) throw err;
          }
        }
        try {
          return await fetcher.open({ upstream, repository, digest }, range);
        } catch (err) {
          if (isNotFound(err)) throw blobUnknown(digest);
          if (upstreamDown(err)) throw unreachable(`blob ${name}@${digest}`, err);
          throw err;
        }
      },

      async fetchBlob(digest, size) {
        try {
          return await fetcher.fetch({ upstream, repository, digest, ...(size === undefined ? {} : { size }) });
        } catch (err) {
          if (isNotFound(err)) throw blobUnknown(digest);
          if (upstreamDown(err)) throw unreachable(`blob ${name}@${digest}`, err);
          throw err;
        }
      },

      async deleteBlob() {
        throw readOnly('deleting a blob');
      },
      async mountBlob() {
        throw readOnly('mounting a blob');
      },
      async startUpload() {
        throw readOnly('uploading a blob');
      },
      async uploadStatus() {
        throw readOnly('uploading a blob');
      },
      async appendUpload() {
        throw readOnly('uploading a blob');
      },
      async completeUpload() {
        throw readOnly('uploading a blob');
      },
      async cancelUpload() {
        throw readOnly('uploading a blob');
      },
    };
  };

  return {
    async repository(name, repositoryOptions: RepositoryOptions = {}) {
      const route = routeRepository(name, repositoryOptions.ns, routing);
      if (route.kind === 'local') return local.repository(route.name);
      return proxied(name, upstreams.upstream(route.host), route.repository, await local.repository(name));
    },
  };
}
