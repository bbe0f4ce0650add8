import { randomUUID } from 'node:crypto';
import { isAlreadyExists, isFailedPrecondition, isInvalidArgument, isNotFound, isUnavailable, type Logger } from '@strata/kit';
import {
  GC_REF_CONTENT_PREFIX,
  GC_ROOT_LABEL,
  MAX_LABELS,
  type Info,
  type Labels,
  type LeaseManager,
  type Store,
  type Writer,
  putBlob,
  readBlob,
} from '@strata/content';
import type { TagRecord, TagStore } from '@strata/images';
import {
  MAX_MANIFEST_BYTES,
  digestOf,
  parseManifestDocument,
  type Descriptor,
  type Digest,
  type ManifestDocument,
} from '@strata/oci';
import type {
  BlobHead,
  BlobRange,
  ManifestContent,
  ManifestHead,
  ManifestPut,
  ManifestPutResult,
  ManifestReference,
  RegistryBackend,
  Repository,
  TagPage,
  UploadChunk,
  UploadStatus,
} from './registry-backend.js';
import { registryError } from './registry-error.js';
import { coalesce } from './http-io.js';
import { digestRefsOf, releaseUnreferencedRoot, removeDigestRef } from './digest-refs.js';

/** Label of a stored manifest or index: its media type (served as Content-Type). */
export const MEDIA_TYPE_LABEL = 'strata.registry.media-type';
/** Label of a stored manifest or index with a `subject`: the subject's digest (referrers). */
export const SUBJECT_LABEL = 'strata.registry.subject';
/** Label of a stored manifest or index with a subject: its artifact type (referrers filter). */
export const ARTIFACT_TYPE_LABEL = 'strata.registry.artifact-type';
/** The TagStore domain of pushed (local) repositories. */
export const LOCAL_DOMAIN = 'local';

/**
 * A reference a local backend set or removed, reported to
 * {@link LocalBackendOptions.onReferenceChange} after it is stored: the
 * facts of an `image.tagged` or `image.deleted` event.
 */
export type ReferenceChange =
  | {
      kind: 'tagged';
      /** The tag as it is now. */
      record: TagRecord;
      /** What the tag pointed at before; absent for a new tag. */
      previousDigest?: Digest;
    }
  | {
      kind: 'deleted';
      domain: string;
      repository: string;
      /** The tag removed; absent when a digest reference was removed. */
      tag?: string;
      /** What the reference pointed at. */
      digest: Digest;
      /** True when nothing references that digest any more (the image is gone). */
      imageDeleted: boolean;
    };

/** Settings of {@link createLocalBackend}. */
export interface LocalBackendOptions {
  /** Blobs, manifests and upload ingests. */
  store: Store;
  /** Tags, in domain `domain`. */
  tags: TagStore;
  logger: Logger;
  /** TagStore domain of the repositories; {@link LOCAL_DOMAIN} by default. */
  domain?: string;
  /** Largest manifest accepted and served; {@link MAX_MANIFEST_BYTES} by default. */
  maxManifestBytes?: number;
  /**
   * When given, every completed blob upload is held by a lease for
   * uploadLeaseSeconds, so garbage collection does not remove a layer
   * between its upload and the PUT of the manifest that references it.
   */
  leases?: LeaseManager;
  /** How long an uploaded blob is held before a manifest must reference it; 3600 by default. */
  uploadLeaseSeconds?: number;
  /**
   * Told of every tag a manifest PUT creates or moves, and of every tag or
   * digest reference a manifest DELETE removes (the Images service's
   * createImageEvents publishes them as `image.tagged` / `image.deleted`).
   * Called after the change is stored; what it throws is logged, never
   * answered to the client.
   */
  onReferenceChange?: (change: ReferenceChange) => void;
}

/** What a local backend offers beyond the port: housekeeping. */
export interface LocalBackend extends RegistryBackend {
  /** Discards upload sessions not written to for maxAgeMs; returns how many. */
  abortStaleUploads(maxAgeMs: number, now?: Date): Promise<number>;
}

const UPLOAD_PREFIX = 'upload-';
/** Labels a manifest needs besides its references: media type, root, subject, artifact type. */
const OWN_LABELS = 4;
const MAX_REFERRERS = 1000;

/**
 * The backend of local (pushed) repositories over a content Store and a
 * TagStore. Content is shared by every repository: a blob or manifest is
 * stored once under its digest and is readable by digest through any
 * repository name (like one content namespace of containerd); tags belong
 * to one repository.
 *
 * - A manifest is stored as a blob labelled with its media type, with
 *   `strata.gc.ref.content.*` labels naming its config, layers or child
 *   manifests, and with `strata.gc.root` while a tag names it or when it has
 *   a subject (referrers are kept until deleted).
 * - An upload is an ingest `upload-<uuid>` of the Store, resumable and
 *   verified by the Store at commit; sessions survive restarts and are seen
 *   by every replica sharing the Store.
 * - Deleting a manifest by digest removes this repository's tags and digest
 *   reference (see DIGEST_REF_LABEL_PREFIX) for it and, when no tag or
 *   digest reference anywhere names it any more, its bytes. Deleting a blob
 *   removes it from the Store, for every repository.
 * - Each tag set or moved and each reference removed is reported to
 *   options.onReferenceChange.
 */
export function createLocalBackend(options: LocalBackendOptions): LocalBackend {
  const { store, tags, logger } = options;
  const domain = options.domain ?? LOCAL_DOMAIN;
  const maxManifestBytes = options.maxManifestBytes ?? MAX_MANIFEST_BYTES;
  const leaseSeconds = options.uploadLeaseSeconds ?? 3600;

  const manifestInfo = async (digest: Digest, what: string): Promise<Info> => {
    let info: Info;
    try {
      info = await store.info(digest);
    } catch (err) {
      if (isNotFound(err)) throw registryError('MANIFEST_UNKNOWN', `manifest unknown: ${what} not found`, { detail: { digest } });
      throw err;
    }
    if (info.labels[MEDIA_TYPE_LABEL] === undefined) {
      throw registryError('MANIFEST_UNKNOWN', `manifest unknown: ${digest} is a blob, not a manifest`, { detail: { digest } });
    }
    return info;
  };

  const releaseRoot = (digest: Digest): Promise<boolean> => releaseUnreferencedRoot(store, tags, digest);

  const report = (change: ReferenceChange): void => {
    if (options.onReferenceChange === undefined) return;
    try {
      options.onReferenceChange(change);
    } catch (err) {
      logger.warn({ err, digest: change.kind === 'tagged' ? change.record.digest : change.digest }, 'the reference change hook failed');
    }
  };

  const referencedBy = async (parsed: ManifestDocument): Promise<Labels> => {
    const refs: Array<{ key: string; descriptor: Descriptor; manifest: boolean }> = [];
    if (parsed.kind === 'manifest') {
      refs.push({ key: 'config', descriptor: parsed.document.config, manifest: false });
      parsed.document.layers.forEach((layer, i) => {
        if (layer.urls === undefined || layer.urls.length === 0) refs.push({ key: `l.${i}`, descriptor: layer, manifest: false });
      });
    } else {
      parsed.document.manifests.forEach((m, i) => refs.push({ key: `m.${i}`, descriptor: m, manifest: true }));
    }
    const unique = new Map(refs.map((r) => [r.descriptor.digest, r]));
    if (unique.size > MAX_LABELS - OWN_LABELS) {
      throw registryError(
        'MANIFEST_INVALID',
        `manifest references ${unique.size} blobs or manifests, over the limit of ${MAX_LABELS - OWN_LABELS} of a local repository`,
      );
    }
    const labels: Labels = {};
    for (const { key, descriptor, manifest } of unique.values()) {
      let info: Info;
      try {
        info = await store.info(descriptor.digest);
      } catch (err) {
        if (!isNotFound(err)) throw err;
        throw registryError('MANIFEST_BLOB_UNKNOWN', `manifest references ${manifest ? 'manifest' : 'blob'} ${descriptor.digest}, which is not stored; push it first`, {
          detail: { digest: descriptor.digest },
        });
      }
      if (manifest && info.labels[MEDIA_TYPE_LABEL] === undefined) {
        throw registryError('MANIFEST_BLOB_UNKNOWN', `image index lists ${descriptor.digest}, which is a blob, not a manifest; push the manifest first`, {
          detail: { digest: descriptor.digest },
        });
      }
      if (info.size !== descriptor.size) {
        throw registryError('MANIFEST_INVALID', `manifest says ${descriptor.digest} has ${descriptor.size} bytes; it has ${info.size}`, {
          detail: { digest: descriptor.digest },
        });
      }
      labels[`${GC_REF_CONTENT_PREFIX}.${key}`] = descriptor.digest;
    }
    return labels;
  };

  const storeManifest = (digest: Digest, bytes: Uint8Array, labels: Labels): Promise<void> =>
    putBlob(store, digest, bytes, labels, 'manifest');

  const uploadRef = (id: string) => `${UPLOAD_PREFIX}${id}`;
  const uploadUnknown = (id: string) =>
    registryError('BLOB_UPLOAD_UNKNOWN', `blob upload ${id} unknown: it was completed, cancelled or never started`, { detail: { uuid: id } });

  const openUpload = async (id: string): Promise<Writer> => {
    try {
      await store.status(uploadRef(id));
    } catch (err) {
      if (isNotFound(err)) throw uploadUnknown(id);
      throw err;
    }
    try {
      return await store.writer({ ref: uploadRef(id) });
    } catch (err) {
      if (isUnavailable(err)) {
        throw registryError('BLOB_UPLOAD_INVALID', `blob upload ${id} is being written by another request; retry when it ends`, { detail: { uuid: id } });
      }
      throw err;
    }
  };

  const writeChunk = async (writer: Writer, id: string, chunk: UploadChunk): Promise<void> => {
    if (chunk.start !== undefined && chunk.start !== writer.offset) {
      throw registryError('RANGE_INVALID', `chunk starts at byte ${chunk.start}, but blob upload ${id} has ${writer.offset} bytes; send the chunk that starts there`, {
        detail: { uuid: id, offset: writer.offset },
      });
    }
    const start = writer.offset;
    for await (const block of coalesce(chunk.body)) {
      if (chunk.length !== undefined && writer.offset - start + block.length > chunk.length) {
        throw registryError('SIZE_INVALID', `chunk of blob upload ${id} is longer than the ${chunk.length} bytes it declared`, { detail: { uuid: id } });
      }
      await writer.write(block);
    }
    if (chunk.length !== undefined && writer.offset - start !== chunk.length) {
      throw registryError('SIZE_INVALID', `chunk of blob upload ${id} has ${writer.offset - start} bytes, not the ${chunk.length} it declared`, {
        detail: { uuid: id },
      });
    }
  };

  const holdUpload = async (id: string, digest: Digest): Promise<void> => {
    if (options.leases === undefined) return;
    try {
      const lease = await options.leases.create({ id: `registry-upload-${id}`, ttlSeconds: leaseSeconds });
      await options.leases.addResource(lease.id, digest);
    } catch (err) {
      logger.warn({ err, digest }, 'could not hold an uploaded blob with a lease');
    }
  };

  const repository = (name: string): Repository => {
    const resolveManifest = async (reference: ManifestReference): Promise<ManifestHead> => {
      let digest: Digest;
      let tagged: TagRecord | undefined;
      if (reference.tag !== undefined) {
        tagged = await tags.get(domain, name, reference.tag);
        if (tagged === undefined) {
          throw registryError('MANIFEST_UNKNOWN', `manifest unknown: ${name}:${reference.tag} is not tagged`, { detail: { tag: reference.tag } });
        }
        digest = tagged.digest;
      } else {
        digest = reference.digest;
      }
      const info = await manifestInfo(digest, tagged === undefined ? digest : `${name}:${tagged.tag} (${digest})`);
      return { digest, mediaType: info.labels[MEDIA_TYPE_LABEL] ?? tagged?.mediaType ?? 'application/octet-stream', size: info.size };
    };

    return {
      name,
      resolveManifest,

      async getManifest(reference): Promise<ManifestContent> {
        const head = await resolveManifest(reference);
        if (head.size > maxManifestBytes) {
          throw registryError('MANIFEST_INVALID', `manifest ${head.digest} is ${head.size} bytes, over the limit of ${maxManifestBytes} bytes`);
        }
        return { ...head, bytes: await readBlob(store, head.digest) };
      },

      async putManifest(put: ManifestPut): Promise<ManifestPutResult> {
        const digest = digestOf(put.bytes);
        if (put.reference.digest !== undefined && put.reference.digest !== digest) {
          throw registryError('DIGEST_INVALID', `manifest has digest ${digest}, not the ${put.reference.digest} it was pushed as`, {
            detail: { digest: put.reference.digest, actual: digest },
          });
        }
        let parsed: ManifestDocument;
        try {
          parsed = parseManifestDocument(put.bytes, put.contentType, { maxBytes: maxManifestBytes });
        } catch (err) {
          if (isInvalidArgument(err)) throw registryError('MANIFEST_INVALID', err.message, { cause: err });
          throw err;
        }
        const labels: Labels = { ...(await referencedBy(parsed)), [MEDIA_TYPE_LABEL]: parsed.mediaType };
        const { subject } = parsed.document;
        if (subject !== undefined) {
          labels[SUBJECT_LABEL] = subject.digest;
          const artifactType = parsed.document.artifactType ?? (parsed.kind === 'manifest' ? parsed.document.config.mediaType : undefined);
          if (artifactType !== undefined) labels[ARTIFACT_TYPE_LABEL] = artifactType;
        }
        if (put.reference.tag !== undefined || subject !== undefined) labels[GC_ROOT_LABEL] = new Date().toISOString();
        await storeManifest(digest, put.bytes, labels);
        if (put.reference.tag !== undefined) {
          const previous = await tags.get(domain, name, put.reference.tag);
          const record: TagRecord = {
            domain,
            repository: name,
            tag: put.reference.tag,
            digest,
            mediaType: parsed.mediaType,
            size: put.bytes.length,
            updatedAt: new Date(),
          };
          await tags.put(record);
          if (previous?.digest !== digest) {
            if (previous !== undefined) await releaseRoot(previous.digest);
            report({ kind: 'tagged', record, ...(previous === undefined ? {} : { previousDigest: previous.digest }) });
          }
        }
        logger.debug({ repository: name, digest, tag: put.reference.tag }, 'manifest stored');
        return { digest, mediaType: parsed.mediaType, size: put.bytes.length, ...(subject === undefined ? {} : { subject: subject.digest }) };
      },

      async deleteManifest(reference) {
        if (reference.tag !== undefined) {
          const tag = reference.tag;
          let record: TagRecord | undefined;
          try {
            record = await tags.get(domain, name, tag);
            await tags.delete(domain, name, tag);
          } catch (err) {
            if (isNotFound(err)) throw registryError('MANIFEST_UNKNOWN', `manifest unknown: ${name}:${tag} is not tagged`, { detail: { tag } });
            throw err;
          }
          if (record !== undefined) {
            const imageDeleted = await releaseRoot(record.digest);
            report({ kind: 'deleted', domain, repository: name, tag, digest: record.digest, imageDeleted });
          }
          return;
        }
        const digest = reference.digest;
        await manifestInfo(digest, digest);
        const removedTags: string[] = [];
        for (const record of await tags.tagsOf(digest)) {
          if (record.domain !== domain || record.repository !== name) continue;
          try {
            await tags.delete(domain, name, record.tag);
            removedTags.push(record.tag);
          } catch (err) {
            if (!isNotFound(err)) throw err;
          }
        }
        const removedRef = await removeDigestRef(store, digest, domain, name);
        let imageDeleted = false;
        if ((await tags.tagsOf(digest)).length === 0) {
          try {
            if (digestRefsOf(await store.info(digest)).length === 0) {
              await store.delete(digest);
              imageDeleted = true;
            }
          } catch (err) {
            if (!isNotFound(err)) throw err;
            imageDeleted = true;
          }
        }
        for (const tag of removedTags) report({ kind: 'deleted', domain, repository: name, tag, digest, imageDeleted });
        if (removedRef) report({ kind: 'deleted', domain, repository: name, digest, imageDeleted });
        logger.debug({ repository: name, digest, imageDeleted }, 'manifest deleted');
      },

      async listTags({ n, last }): Promise<TagPage> {
        const page = n === 0 ? [] : await tags.list({ domain, repository: name, ...(last === undefined ? {} : { after: last }), ...(n === undefined ? {} : { limit: n + 1 }) });
        if (page.length === 0 && (await tags.list({ domain, repository: name, limit: 1 })).length === 0) {
          throw registryError('NAME_UNKNOWN', `repository ${name} not known: it has no tags`, { detail: { name } });
        }
        const more = n !== undefined && page.length > n;
        return { tags: page.slice(0, n).map((r) => r.tag), more };
      },

      async referrers(subject, { artifactType }) {
        const out: Descriptor[] = [];
        for await (const info of store.walk([`labels.${SUBJECT_LABEL}==${subject}`])) {
          if (info.labels[SUBJECT_LABEL] !== subject) continue;
          const type = info.labels[ARTIFACT_TYPE_LABEL];
          if (artifactType !== undefined && type !== artifactType) continue;
          const mediaType = info.labels[MEDIA_TYPE_LABEL];
          if (mediaType === undefined || info.size > maxManifestBytes) continue;
          let document: ManifestDocument;
          try {
            document = parseManifestDocument(await readBlob(store, info.digest), mediaType, { maxBytes: maxManifestBytes, expectedDigest: info.digest });
          } catch (err) {
            if (isNotFound(err) || isInvalidArgument(err)) continue;
            throw err;
          }
          const { annotations } = document.document;
          out.push({
            mediaType,
            digest: info.digest,
            size: info.size,
            ...(type === undefined ? {} : { artifactType: type }),
            ...(annotations === undefined ? {} : { annotations }),
          });
          if (out.length >= MAX_REFERRERS) break;
        }
        return out.sort((a, b) => (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0));
      },

      async statBlob(digest): Promise<BlobHead> {
        try {
          const info = await store.info(digest);
          return { digest, size: info.size };
        } catch (err) {
          if (isNotFound(err)) throw registryError('BLOB_UNKNOWN', `blob unknown: ${digest} not found`, { detail: { digest } });
          throw err;
        }
      },

      async openBlob(digest, range?: BlobRange) {
        try {
          return await store.read(digest, range === undefined ? undefined : { offset: range.offset, ...(range.length === undefined ? {} : { length: range.length }) });
        } catch (err) {
          if (isNotFound(err)) throw registryError('BLOB_UNKNOWN', `blob unknown: ${digest} not found`, { detail: { digest } });
          throw err;
        }
      },

      async deleteBlob(digest) {
        try {
          await store.delete(digest);
        } catch (err) {
          if (isNotFound(err)) throw registryError('BLOB_UNKNOWN', `blob unknown: ${digest} not found`, { detail: { digest } });
          throw err;
        }
        logger.debug({ repository: name, digest }, 'blob deleted');
      },

      async mountBlob(digest, from) {
        try {
          return await from.statBlob(digest);
        } catch (err) {
          if (isNotFound(err)) return undefined;
          throw err;
        }
      },

      async startUpload(): Promise<UploadStatus> {
        const id = randomUUID();
        const writer = await store.writer({ ref: uploadRef(id) });
        await writer.close();
        return { id, offset: 0 };
      },

      async uploadStatus(id): Promise<UploadStatus> {
        try {
          const status = await store.status(uploadRef(id));
          return { id, offset: status.offset };
        } catch (err) {
          if (isNotFound(err)) throw uploadUnknown(id);
          throw err;
        }
      },

      async appendUpload(id, chunk): Promise<UploadStatus> {
        const writer = await openUpload(id);
        try {
          await writeChunk(writer, id, chunk);
          return { id, offset: writer.offset };
        } finally {
          await writer.close();
        }
      },

      async completeUpload(id, digest, chunk): Promise<BlobHead> {
        const writer = await openUpload(id);
        try {
          if (chunk !== undefined) await writeChunk(writer, id, chunk);
        } catch (err) {
          await writer.close();
          throw err;
        }
        let head: BlobHead;
        try {
          const info = await writer.commit({ expected: digest });
          head = { digest, size: info.size };
        } catch (err) {
          if (isAlreadyExists(err)) {
            head = { digest, size: (await store.info(digest)).size };
          } else if (isFailedPrecondition(err)) {
            throw registryError('DIGEST_INVALID', `blob upload ${id} does not match digest ${digest}: ${err.message}; nothing was stored`, {
              detail: { digest },
              cause: err,
            });
          } else {
            throw err;
          }
        }
        await holdUpload(id, digest);
        logger.debug({ repository: name, digest, size: head.size }, 'blob upload completed');
        return head;
      },

      async cancelUpload(id) {
        try {
          await store.abort(uploadRef(id));
        } catch (err) {
          if (isNotFound(err)) throw uploadUnknown(id);
          if (isUnavailable(err)) {
            throw registryError('BLOB_UPLOAD_INVALID', `blob upload ${id} is being written by another request; cancel it when that ends`, { detail: { uuid: id } });
          }
          throw err;
        }
      },
    };
  };

  return {
    async repository(name) {
      return repository(name);
    },
    async abortStaleUploads(maxAgeMs, now = new Date()) {
      let aborted = 0;
      for (const status of await store.listStatuses([`ref~=^${UPLOAD_PREFIX}`])) {
        if (now.getTime() - status.updatedAt.getTime() < maxAgeMs) continue;
        try {
          await store.abort(status.ref);
          aborted++;
        } catch (err) {
          if (!isNotFound(err) && !isUnavailable(err)) throw err;
        }
      }
      return aborted;
    },
  };
}
