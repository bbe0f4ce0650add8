import { randomBytes } from 'node:crypto';
import { GC_REF_CONTENT_PREFIX, putBlob, readBlob, type Labels, type LeaseManager, type Store } from '@strata/content';
import type { ContainerRecord, ContainerSpec } from '@strata/containers';
import { applyChanges } from '@strata/images';
import { failedPrecondition, invalidArgument, isNotFound, type EventSink, type Logger } from '@strata/kit';
import {
  MediaTypes,
  digestOf,
  parseDigest,
  parseImageConfig,
  parseManifestDocument,
  parseReference,
  type ContainerConfig,
  type Descriptor,
  type Digest,
  type ImageConfig,
  type ImageManifest,
  type Reference,
} from '@strata/oci';
import { MEDIA_TYPE_LABEL } from '@strata/registry-http';

/** What `docker commit` asks for (see Containers.Commit in containers.proto). */
export interface CommitRequest {
  /** `repository[:tag]`, normalized like any reference (`web02:1.1` → `docker.io/library/web02:1.1`). */
  reference: string;
  /** Comment of the new history entry. */
  message?: string;
  /** Author of the image and of its history entry. */
  author?: string;
  /** Dockerfile instructions applied to the run config (applyChanges of @strata/images). */
  changes?: readonly string[];
  /** Freeze a running container during the diff; true by default. */
  pause?: boolean;
}

/** The image a commit made. */
export interface CommitResult {
  /** The config digest. */
  imageId: Digest;
  manifest: Descriptor;
  /** The normalized reference the image is tagged with. */
  reference: string;
  /** The new layer blob. */
  layer: Descriptor;
  /** Digest of the new layer's uncompressed tar. */
  diffId: Digest;
}

/** Writes the changes of a snapshot as a layer blob: the snapshotter's Diff service (createGrpcDiffer of @strata/diff-service). */
export interface LayerDiffer {
  /**
   * The layer of snapshot key's changes, written to the layer-store with
   * labels, held by lease from before it is committed. NotFound for an
   * unknown key or lease.
   */
  diff(
    key: string,
    options: { mediaType?: string; labels?: Labels; lease?: string; mountPoints?: readonly string[] },
  ): Promise<{ layer: Descriptor; diffId: Digest }>;
}

/** Names images in the registry-mirror. */
export interface ImageTagger {
  /**
   * Points reference (`repository:tag`) at the manifest stored in the
   * layer-store with that digest; resolves with the normalized reference.
   * NotFound when the mirror cannot find the manifest, InvalidArgument for a
   * malformed reference.
   */
  tag(reference: Reference, manifest: Digest): Promise<string>;
}

/** What a node-agent needs to commit containers: the layer-store, the snapshotter's Diff service and the mirror. */
export interface CommitBackend {
  /** The layer-store (its gRPC client): base configs and manifests are read there, new ones written. */
  content: Store;
  /** The layer-store's leases: a commit holds what it writes until the image is tagged. */
  leases: LeaseManager;
  differ: LayerDiffer;
  tagger: ImageTagger;
  /** Lifetime of a commit's lease, so a crash never holds blobs for good; 1 hour by default. */
  leaseTtlSeconds?: number;
}

/** What {@link commitContainer} needs of the container and its node. */
export interface CommitContext {
  backend: CommitBackend;
  record: ContainerRecord;
  /** Whether the container's process runs (then it is frozen during the diff, unless pause is false). */
  running: boolean;
  /** Freezes the container's cgroup; resolves with the function that thaws it. */
  freeze(): Promise<() => Promise<void>>;
  /** Where the runtime mounts things into the container: the mount points runc made stay out of the layer. */
  mountPoints: readonly string[];
  events: EventSink;
  logger: Logger;
  node: string;
}

const envKey = (entry: string) => (entry.includes('=') ? entry.slice(0, entry.indexOf('=')) : entry);

/**
 * The run config a container runs with, as `docker commit` records it: the
 * image's config with the container's options over it — Env merged by
 * name, Cmd (the container's when given; none when it set an entrypoint
 * without one), Entrypoint, WorkingDir, User, the published container
 * ports added to ExposedPorts, its labels added to Labels. Other fields
 * (Volumes, StopSignal, OnBuild, Healthcheck, Shell) are the image's.
 */
export function effectiveRunConfig(image: ContainerConfig, spec: ContainerSpec): ContainerConfig {
  const out: ContainerConfig = structuredClone(image);
  if (spec.env.length > 0) {
    const env = [...(out.Env ?? [])];
    for (const entry of spec.env) {
      const at = env.findIndex((e) => envKey(e) === envKey(entry));
      if (at === -1) env.push(entry);
      else env[at] = entry;
    }
    out.Env = env;
  }
  if (spec.entrypoint !== undefined) {
    if (spec.entrypoint.length > 0) out.Entrypoint = [...spec.entrypoint];
    else delete out.Entrypoint;
    delete out.Cmd;
  }
  if (spec.cmd.length > 0) out.Cmd = [...spec.cmd];
  if (spec.workingDir) out.WorkingDir = spec.workingDir;
  if (spec.user) out.User = spec.user;
  if (spec.ports.length > 0) {
    const exposed = { ...(out.ExposedPorts ?? {}) };
    for (const p of spec.ports) exposed[`${p.containerPort}/${p.protocol}`] = {};
    out.ExposedPorts = exposed;
  }
  if (Object.keys(spec.labels).length > 0) out.Labels = { ...(out.Labels ?? {}), ...spec.labels };
  return out;
}

/**
 * The reference a commit tags, checked as `docker commit` checks it:
 * parseReference's InvalidArgument with Docker's texts (`invalid reference
 * format: repository name must be lowercase`), `refusing to create a tag
 * with a digest reference`, or InvalidArgument when it is empty.
 */
export function commitReference(text: string): Reference {
  if (text === '') throw invalidArgument('a repository[:tag] to commit the container as is required, e.g. web02:1.1');
  const ref = parseReference(text);
  if (ref.digest !== undefined) throw invalidArgument('refusing to create a tag with a digest reference', { fields: { ref: text.slice(0, 200) } });
  return ref;
}

/** The `strata.gc.ref.content.*` labels of a manifest: its config and stored layers, one per distinct digest. */
function manifestLabels(manifest: ImageManifest, mediaType: string): Labels {
  const labels: Labels = { [MEDIA_TYPE_LABEL]: mediaType };
  const seen = new Set<Digest>();
  const add = (key: string, digest: Digest) => {
    if (seen.has(digest)) return;
    seen.add(digest);
    labels[`${GC_REF_CONTENT_PREFIX}.${key}`] = digest;
  };
  add('config', manifest.config.digest);
  manifest.layers.forEach((layer, i) => {
    if (layer.urls === undefined || layer.urls.length === 0) add(`l.${i}`, layer.digest);
  });
  return labels;
}

async function readBase(content: Store, record: ContainerRecord): Promise<{ manifest: ImageManifest; mediaType: string; config: ImageConfig }> {
  try {
    const manifestDigest = parseDigest(record.manifestDigest);
    const info = await content.info(manifestDigest);
    const bytes = await readBlob(content, manifestDigest);
    const parsed = parseManifestDocument(bytes, info.labels[MEDIA_TYPE_LABEL], { expectedDigest: manifestDigest });
    if (parsed.kind !== 'manifest') throw invalidArgument(`the image manifest ${manifestDigest} of container ${record.id} is an index`);
    const configDigest = parseDigest(record.imageId);
    if (parsed.document.config.digest !== configDigest) {
      throw failedPrecondition(`the manifest ${manifestDigest} of container ${record.id} names config ${parsed.document.config.digest}, not its image ${configDigest}`);
    }
    const config = parseImageConfig(await readBlob(content, configDigest), { expectedDigest: configDigest });
    return { manifest: parsed.document, mediaType: parsed.mediaType, config };
  } catch (err) {
    if (isNotFound(err)) {
      throw failedPrecondition(`the image ${record.imageId} of container ${record.id} is no longer in the layer-store; pull it again to commit`, { cause: err });
    }
    throw err;
  }
}

/**
 * Commits a container as `docker commit` does (the Containers.Commit
 * contract in containers.proto): checks the reference and the changes,
 * reads the base image's manifest and config from the layer-store, holds
 * them and everything it writes in a lease (`commit-<id>-<random>`,
 * deleted at the end whatever happened), freezes a running container
 * unless request.pause is false, has the snapshotter diff the container's
 * snapshot into a gzip layer (Docker media types for a Docker manifest,
 * OCI ones otherwise), thaws it (always), writes the new config and
 * manifest, tags the image through the mirror and publishes
 * `container.committed`. InvalidArgument for a bad reference or change
 * (before anything is written); FailedPrecondition for a container being
 * removed or dead, or whose image left the layer-store; what the
 * snapshotter, the layer-store and the mirror raise otherwise (a commit
 * that fails leaves only unreferenced blobs, which GC removes).
 */
export async function commitContainer(context: CommitContext, request: CommitRequest): Promise<CommitResult> {
  const { backend, record, logger } = context;
  const { content, leases } = backend;
  const ref = commitReference(request.reference);
  const changes = request.changes ?? [];
  applyChanges({}, changes);
  if (record.state.status === 'removing' || record.state.status === 'dead') {
    throw failedPrecondition(`cannot commit container ${record.id}: it is ${record.state.status}`, { fields: { containerId: record.id } });
  }
  const base = await readBase(content, record);
  const runConfig = applyChanges(effectiveRunConfig(base.config.config ?? {}, record.spec), changes);
  const docker = base.mediaType === MediaTypes.dockerManifest;

  const lease = await leases.create({ id: `commit-${record.id.slice(0, 12)}-${randomBytes(6).toString('hex')}`, ttlSeconds: backend.leaseTtlSeconds ?? 3600 });
  try {
    await Promise.all([base.manifest.config.digest, ...base.manifest.layers.map((l) => l.digest)].map((d) => leases.addResource(lease.id, d)));
    const pause = request.pause !== false && context.running;
    const thaw = pause ? await context.freeze() : undefined;
    let diff: { layer: Descriptor; diffId: Digest };
    try {
      diff = await backend.differ.diff(record.snapshotKey, {
        mediaType: docker ? MediaTypes.dockerLayerGzip : MediaTypes.ociLayerGzip,
        lease: lease.id,
        mountPoints: context.mountPoints,
      });
    } finally {
      await thaw?.();
    }

    const created = new Date().toISOString();
    const { author: _baseAuthor, ...inherited } = base.config;
    const config: ImageConfig = {
      ...inherited,
      created,
      ...(request.author ? { author: request.author } : {}),
      config: runConfig,
      rootfs: { type: 'layers', diff_ids: [...base.config.rootfs.diff_ids, diff.diffId] },
      history: [
        ...(base.config.history ?? []),
        {
          created,
          created_by: record.command.join(' '),
          ...(request.author ? { author: request.author } : {}),
          ...(request.message ? { comment: request.message } : {}),
        },
      ],
    };
    const configBytes = Buffer.from(JSON.stringify(config));
    const configDescriptor: Descriptor = { mediaType: docker ? MediaTypes.dockerConfig : MediaTypes.ociConfig, digest: digestOf(configBytes), size: configBytes.length };

    const manifestMediaType = docker ? MediaTypes.dockerManifest : MediaTypes.ociManifest;
    const manifest: ImageManifest = {
      schemaVersion: 2,
      mediaType: manifestMediaType,
      config: configDescriptor,
      layers: [...base.manifest.layers, diff.layer],
    };
    const manifestBytes = Buffer.from(JSON.stringify(manifest));
    const manifestDescriptor: Descriptor = { mediaType: manifestMediaType, digest: digestOf(manifestBytes), size: manifestBytes.length };
    await Promise.all([leases.addResource(lease.id, configDescriptor.digest), leases.addResource(lease.id, manifestDescriptor.digest)]);
    await Promise.all([
      putBlob(content, configDescriptor.digest, configBytes, {}, 'commit'),
      putBlob(content, manifestDescriptor.digest, manifestBytes, manifestLabels(manifest, manifestMediaType), 'commit'),
    ]);

    const reference = await backend.tagger.tag(ref, manifestDescriptor.digest);
    const result: CommitResult = { imageId: configDescriptor.digest, manifest: manifestDescriptor, reference, layer: diff.layer, diffId: diff.diffId };
    context.events.publish('container.committed', record.id, {
      id: record.id,
      name: record.name,
      imageId: result.imageId,
      manifestDigest: manifestDescriptor.digest,
      reference,
      parentImageId: record.imageId,
      node: context.node,
    });
    logger.info({ containerId: record.id, imageId: result.imageId, reference, layer: diff.layer.digest, paused: pause }, 'container committed');
    return result;
  } finally {
    await leases.delete(lease.id).catch((err: unknown) => logger.warn({ err, lease: lease.id }, 'cannot delete the commit lease'));
  }
}
