import type { ContainerConfig, HealthConfig, HistoryEntry, Image, ImageSummary } from '@strata/api/images/v1';
import { parseReference } from '@strata/oci';
import { rfc3339 } from './human-time.js';

/** What Docker's history shows for a step without an image id of its own. */
export const MISSING_IMAGE_ID = '<missing>';

/** Unix seconds of a time, 0 when unknown (Docker's `Created` of lists and history). */
export function unixSeconds(time: Date | undefined): number {
  return time === undefined ? 0 : Math.floor(time.getTime() / 1000);
}

/** `docker.io/library/busybox:latest` → `busybox:latest`; text unchanged when it does not parse. */
export function familiarRef(text: string): string {
  try {
    return parseReference(text).familiar();
  } catch {
    return text;
  }
}

const orNull = <T>(list: readonly T[]): T[] | null => (list.length === 0 ? null : [...list]);
const setOf = (keys: readonly string[]): Record<string, object> => Object.fromEntries(keys.map((k) => [k, {}]));

/** Docker's Healthcheck of the API's HealthConfig: Test, and each duration (nanoseconds) and Retries that is set. */
export function dockerHealthcheck(h: HealthConfig): { Test: string[]; Interval?: number; Timeout?: number; StartPeriod?: number; StartInterval?: number; Retries?: number } {
  return {
    Test: [...h.test],
    ...(h.intervalNanos ? { Interval: h.intervalNanos } : {}),
    ...(h.timeoutNanos ? { Timeout: h.timeoutNanos } : {}),
    ...(h.startPeriodNanos ? { StartPeriod: h.startPeriodNanos } : {}),
    ...(h.startIntervalNanos ? { StartInterval: h.startIntervalNanos } : {}),
    ...(h.retries ? { Retries: h.retries } : {}),
  };
}

/**
 * An image's run configuration as Docker's `Config` of an image: User,
 * ExposedPorts as `{"80/tcp": {}}`, Env, Cmd, Healthcheck, Volumes,
 * WorkingDir, Entrypoint, OnBuild, Labels, StopSignal, Shell, with `null`
 * for what is empty, as Docker writes it.
 */
export function dockerImageConfig(config: ContainerConfig | undefined): Record<string, unknown> {
  const c = config;
  const out: Record<string, unknown> = { User: c?.user ?? '' };
  if (c !== undefined && c.exposedPorts.length > 0) out.ExposedPorts = setOf(c.exposedPorts);
  out.Env = orNull(c?.env ?? []);
  out.Cmd = orNull(c?.cmd ?? []);
  if (c?.healthcheck !== undefined) out.Healthcheck = dockerHealthcheck(c.healthcheck);
  if (c?.argsEscaped) out.ArgsEscaped = true;
  out.Volumes = c === undefined || c.volumes.length === 0 ? null : setOf(c.volumes);
  out.WorkingDir = c?.workingDir ?? '';
  out.Entrypoint = orNull(c?.entrypoint ?? []);
  out.OnBuild = orNull(c?.onBuild ?? []);
  out.Labels = c === undefined || Object.keys(c.labels).length === 0 ? null : { ...c.labels };
  if (c?.stopSignal) out.StopSignal = c.stopSignal;
  if (c !== undefined && c.shell.length > 0) out.Shell = [...c.shell];
  return out;
}

/**
 * An image as Docker's `GET /images/{name}/json` answers it (ImageInspect):
 * Id, RepoTags and RepoDigests in Docker's short form, Parent, Comment,
 * Created (RFC 3339; absent when unknown), Author, Config (also as
 * ContainerConfig, which older clients read), Architecture, Variant and
 * OsVersion (when set), Os, Size (and VirtualSize, as API 1.43 still
 * sends), GraphDriver, RootFS (`layers` and the diff_ids), Metadata, and
 * the Descriptor of what the reference points at.
 */
export function dockerImageInspect(image: Image): Record<string, unknown> {
  const target = image.target;
  const config = dockerImageConfig(image.config);
  return {
    Id: image.id,
    RepoTags: image.repoTags.map(familiarRef),
    RepoDigests: image.repoDigests.map(familiarRef),
    Parent: '',
    Comment: image.comment,
    ...(image.created === undefined ? {} : { Created: rfc3339(image.created) }),
    Container: '',
    ContainerConfig: config,
    DockerVersion: '',
    Author: image.author,
    Config: config,
    Architecture: image.architecture,
    ...(image.variant === '' ? {} : { Variant: image.variant }),
    Os: image.os,
    ...(image.osVersion === '' ? {} : { OsVersion: image.osVersion }),
    Size: image.size,
    VirtualSize: image.size,
    GraphDriver: { Name: 'overlay2', Data: null },
    RootFS: { Type: image.rootfs?.type || 'layers', Layers: [...(image.rootfs?.layers ?? [])] },
    Metadata: { LastTagTime: '0001-01-01T00:00:00Z' },
    ...(target === undefined ? {} : { Descriptor: { mediaType: target.mediaType, digest: target.digest, size: target.size } }),
  };
}

/**
 * One entry of Docker's `GET /images/json` (ImageSummary): Id, ParentId,
 * RepoTags and RepoDigests in Docker's short form, Created in Unix seconds,
 * Size (and VirtualSize), SharedSize and Containers -1 (not computed, as
 * Docker answers without `shared-size`/container counts), Labels.
 */
export function dockerImageSummary(image: ImageSummary): Record<string, unknown> {
  return {
    Id: image.id,
    ParentId: '',
    RepoTags: image.repoTags.map(familiarRef),
    RepoDigests: image.repoDigests.map(familiarRef),
    Created: unixSeconds(image.created),
    Size: image.size,
    SharedSize: -1,
    VirtualSize: image.size,
    Labels: Object.keys(image.labels).length === 0 ? null : { ...image.labels },
    Containers: -1,
  };
}

/**
 * Docker's `GET /images/{name}/history` for steps given newest first: the
 * newest step carries the image id and its tags, older ones `<missing>`
 * and `null` tags, as Docker shows steps it has no image of; Created in
 * Unix seconds, Size the stored layer size (0 for an empty step).
 */
export function dockerHistory(steps: readonly HistoryEntry[], image: { id: string; repoTags: readonly string[] }): Array<Record<string, unknown>> {
  return steps.map((step, i) => ({
    Id: i === 0 ? image.id : MISSING_IMAGE_ID,
    Created: unixSeconds(step.created),
    CreatedBy: step.createdBy,
    Tags: i === 0 && image.repoTags.length > 0 ? image.repoTags.map(familiarRef) : null,
    Size: step.size,
    Comment: step.comment,
  }));
}
