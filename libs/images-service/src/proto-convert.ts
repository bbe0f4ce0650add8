import type {
  ContainerConfig as ProtoContainerConfig,
  HistoryEntry as ProtoHistoryEntry,
  Image as ProtoImage,
  ImageSummary,
  Platform as ProtoPlatform,
} from '@strata/api/images/v1';
import type { Descriptor as ProtoDescriptor } from '@strata/api/types/v1';
import type { ContainerConfig, Descriptor, ImageConfig, Platform } from '@strata/oci';
import { configPlatform, type StoredImage } from './image-catalog.js';

/** The wire form of a descriptor. */
export function toProtoDescriptor(d: Descriptor): ProtoDescriptor {
  return { mediaType: d.mediaType, digest: d.digest, size: d.size, annotations: { ...(d.annotations ?? {}) } };
}

/** The wire form of a platform. */
export function toProtoPlatform(p: Platform): ProtoPlatform {
  return { os: p.os, architecture: p.architecture, variant: p.variant ?? '' };
}

const timeOf = (text: string | undefined): Date | undefined => (text === undefined ? undefined : new Date(text));

/** An image's names: `domain/repository:tag` and `domain/repository@digest`, sorted, without duplicates. */
export interface ImageNames {
  repoTags: string[];
  repoDigests: string[];
}

/** One row of List, from a stored image and its names. */
export function toImageSummary(image: StoredImage, names: ImageNames): ImageSummary {
  const created = timeOf(image.configDocument.created);
  return {
    id: image.id,
    repoTags: names.repoTags,
    repoDigests: names.repoDigests,
    ...(created === undefined ? {} : { created }),
    size: image.size,
    labels: { ...(image.configDocument.config?.Labels ?? {}) },
    platform: toProtoPlatform(configPlatform(image.configDocument)),
  };
}

function toProtoContainerConfig(c: ContainerConfig): ProtoContainerConfig {
  const h = c.Healthcheck;
  return {
    user: c.User ?? '',
    exposedPorts: Object.keys(c.ExposedPorts ?? {}).sort(),
    env: [...(c.Env ?? [])],
    entrypoint: [...(c.Entrypoint ?? [])],
    cmd: [...(c.Cmd ?? [])],
    volumes: Object.keys(c.Volumes ?? {}).sort(),
    workingDir: c.WorkingDir ?? '',
    labels: { ...(c.Labels ?? {}) },
    stopSignal: c.StopSignal ?? '',
    argsEscaped: c.ArgsEscaped ?? false,
    ...(h === undefined
      ? {}
      : {
          healthcheck: {
            test: [...(h.Test ?? [])],
            intervalNanos: h.Interval ?? 0,
            timeoutNanos: h.Timeout ?? 0,
            startPeriodNanos: h.StartPeriod ?? 0,
            startIntervalNanos: h.StartInterval ?? 0,
            retries: h.Retries ?? 0,
          },
        }),
    onBuild: [...(c.OnBuild ?? [])],
    shell: [...(c.Shell ?? [])],
  };
}

/**
 * The steps that built an image, oldest first (the config's history), each
 * step that added a layer with that layer's diff_id and stored size. An
 * image without history gets one step per layer.
 */
export function historyOf(image: StoredImage): ProtoHistoryEntry[] {
  const config: ImageConfig = image.configDocument;
  const layers = image.manifestDocument.layers;
  const diffIds = config.rootfs.diff_ids;
  if (config.history === undefined || config.history.length === 0) {
    return diffIds.map((diffId, i) => ({ createdBy: '', author: '', comment: '', emptyLayer: false, diffId, size: layers[i]?.size ?? 0 }));
  }
  let layer = 0;
  return config.history.map((h) => {
    const empty = h.empty_layer === true;
    const created = timeOf(h.created);
    const entry: ProtoHistoryEntry = {
      ...(created === undefined ? {} : { created }),
      createdBy: h.created_by ?? '',
      author: h.author ?? '',
      comment: h.comment ?? '',
      emptyLayer: empty,
      diffId: empty ? '' : (diffIds[layer] ?? ''),
      size: empty ? 0 : (layers[layer]?.size ?? 0),
    };
    if (!empty) layer++;
    return entry;
  });
}

/** What Inspect answers: `docker image inspect`'s fields plus the descriptors. */
export function toProtoImage(image: StoredImage, names: ImageNames): ProtoImage {
  const c = image.configDocument;
  const created = timeOf(c.created);
  const history = historyOf(image);
  return {
    id: image.id,
    repoTags: names.repoTags,
    repoDigests: names.repoDigests,
    ...(created === undefined ? {} : { created }),
    size: image.size,
    architecture: c.architecture,
    os: c.os,
    variant: c.variant ?? '',
    osVersion: c['os.version'] ?? '',
    author: c.author ?? '',
    comment: history.at(-1)?.comment ?? '',
    config: toProtoContainerConfig(c.config ?? {}),
    rootfs: { type: c.rootfs.type, layers: [...c.rootfs.diff_ids] },
    history,
    target: toProtoDescriptor(image.target),
    manifest: toProtoDescriptor(image.manifest),
    configDescriptor: toProtoDescriptor(image.config),
    layers: image.manifestDocument.layers.map(toProtoDescriptor),
  };
}
