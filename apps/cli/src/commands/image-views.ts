import type { HistoryEntry, ImageSummary } from '@strata/api/images/v1';
import { invalidArgument } from '@strata/kit';
import { parseReference, type Reference } from '@strata/oci';
import { ellipsis, humanSize, rfc3339, shortId, timeAgo } from '../framework/human-units.js';

/** What Docker shows for a missing name, tag or digest. */
export const NONE = '<none>';
/** What `docker history` shows for a step without an image id of its own. */
export const MISSING = '<missing>';
/** Width `docker history` cuts CREATED BY to without --no-trunc. */
export const CREATED_BY_WIDTH = 45;

const IMAGE_ID = /^(?:sha256:[a-f0-9]{1,64}|[a-f0-9]{12,64})$/;

/**
 * Checks a name of an image that is here: an image id (`sha256:<hex>` or at
 * least 12 hex digits of one) or a reference. Returns text unchanged for
 * the service; InvalidArgument with Docker's text for a malformed reference
 * (`invalid reference format: repository name must be lowercase`).
 */
export function checkImageName(text: string): string {
  if (!IMAGE_ID.test(text)) parseReference(text);
  return text;
}

/**
 * Parses the target of `strata tag`: a repository with an optional tag.
 * InvalidArgument with Docker's text for a malformed reference, and
 * `refusing to create a tag with a digest reference` for one with a digest.
 */
export function parseTagTarget(text: string): Reference {
  const ref = parseReference(text);
  if (ref.digest !== undefined) throw invalidArgument('refusing to create a tag with a digest reference', { fields: { ref: text } });
  return ref;
}

/** True when text names neither a tag nor a digest, so `latest` is implied (`Using default tag: latest`). */
export function usesDefaultTag(text: string): boolean {
  if (text.includes('@')) return false;
  return !text.slice(text.lastIndexOf('/') + 1).includes(':');
}

/**
 * Docker's short form of a reference (familiarRef) and an image as `docker
 * image inspect` shows it (inspectView: the Engine API's ImageInspect), the
 * same as the Docker Engine API answers.
 */
export { dockerImageInspect as inspectView, familiarRef } from '@strata/docker-api/views';

/** The repository of a reference in Docker's short form (`busybox`, `ghcr.io/org/app`) and its tag or digest. */
function splitFamiliar(text: string): { repository: string; tag?: string; digest?: string } | undefined {
  try {
    const ref = parseReference(text);
    const named = parseReference(ref.name).familiar();
    return {
      repository: named.slice(0, named.lastIndexOf(':')),
      ...(ref.tag === undefined ? {} : { tag: ref.tag }),
      ...(ref.digest === undefined ? {} : { digest: ref.digest }),
    };
  } catch {
    return undefined;
  }
}

/** One row of `strata images`. */
export interface ImageRow {
  Repository: string;
  Tag: string;
  /** `<none>` unless --digests shows the digest of the row's repository. */
  Digest: string;
  /** Short (12 hex digits) unless no-trunc. */
  ID: string;
  /** RFC 3339, or empty when unknown. */
  CreatedAt: string;
  CreatedSince: string;
  /** Human size, e.g. `4.26MB`. */
  Size: string;
}

/** Docker's headers of the fields an `images --format 'table TEMPLATE'` names. */
export const IMAGE_FIELD_HEADERS: Readonly<Record<string, string>> = {
  ID: 'IMAGE ID',
  Repository: 'REPOSITORY',
  Tag: 'TAG',
  Digest: 'DIGEST',
  CreatedSince: 'CREATED',
  CreatedAt: 'CREATED AT',
  Size: 'SIZE',
};

/** Settings of {@link imageRows}. */
export interface ImageRowsOptions {
  /** One row per digest of a repository (`--digests`); otherwise one per tag. */
  digests?: boolean;
  /** Full image ids (`--no-trunc`). */
  noTrunc?: boolean;
  now?: Date;
}

/**
 * The rows `docker images` shows for images: one per repository:tag (and
 * per digest of that repository with `digests`), then one per repository
 * that has only a digest (tag `<none>`), and `<none> <none>` for an image
 * with neither.
 */
export function imageRows(images: readonly ImageSummary[], options: ImageRowsOptions = {}): ImageRow[] {
  const now = options.now ?? new Date();
  const rows: ImageRow[] = [];
  for (const image of images) {
    const base = {
      ID: options.noTrunc ? image.id : shortId(image.id),
      CreatedAt: image.created === undefined ? '' : rfc3339(image.created),
      CreatedSince: timeAgo(image.created, now),
      Size: humanSize(image.size),
    };
    const add = (repository: string, tag: string, digest: string) => rows.push({ Repository: repository, Tag: tag, Digest: digest, ...base });
    const tags = new Map<string, string[]>();
    const digests = new Map<string, string[]>();
    for (const text of image.repoTags) {
      const r = splitFamiliar(text);
      if (r?.tag !== undefined) tags.set(r.repository, [...(tags.get(r.repository) ?? []), r.tag]);
    }
    for (const text of image.repoDigests) {
      const r = splitFamiliar(text);
      if (r?.digest !== undefined) digests.set(r.repository, [...(digests.get(r.repository) ?? []), r.digest]);
    }
    if (tags.size === 0 && digests.size === 0) {
      add(NONE, NONE, NONE);
      continue;
    }
    for (const [repository, repositoryTags] of tags) {
      const shown = options.digests ? (digests.get(repository) ?? []) : [];
      digests.delete(repository);
      for (const tag of repositoryTags) {
        if (shown.length === 0) add(repository, tag, NONE);
        for (const digest of shown) add(repository, tag, digest);
      }
    }
    for (const [repository, repositoryDigests] of digests) {
      if (options.digests) for (const digest of repositoryDigests) add(repository, NONE, digest);
      else add(repository, NONE, NONE);
    }
  }
  return rows;
}

/** One row of `strata history`. */
export interface HistoryRow {
  /** The image id on the newest step, `<missing>` on the others. */
  ID: string;
  /** RFC 3339, or empty when unknown. */
  CreatedAt: string;
  /** `2 weeks ago`, or RFC 3339 when not human. */
  CreatedSince: string;
  CreatedBy: string;
  /** `4.26MB`, or bytes when not human. */
  Size: string;
  Comment: string;
}

/** Docker's headers of the fields a `history --format 'table TEMPLATE'` names. */
export const HISTORY_FIELD_HEADERS: Readonly<Record<string, string>> = {
  ID: 'IMAGE',
  CreatedSince: 'CREATED',
  CreatedAt: 'CREATED AT',
  CreatedBy: 'CREATED BY',
  Size: 'SIZE',
  Comment: 'COMMENT',
};

/** Settings of {@link historyRows}. */
export interface HistoryRowsOptions {
  /** Id of the image whose history it is; shown on the newest step. */
  imageId: string;
  /** Full ids and commands (`--no-trunc`). */
  noTrunc?: boolean;
  /** Human sizes and times (`-H`, the default); bytes and RFC 3339 otherwise. */
  human?: boolean;
  now?: Date;
}

/** The rows `docker history` shows for steps given newest first. */
export function historyRows(steps: readonly HistoryEntry[], options: HistoryRowsOptions): HistoryRow[] {
  const human = options.human ?? true;
  const now = options.now ?? new Date();
  return steps.map((step, i) => {
    const createdBy = step.createdBy.replaceAll('\t', ' ');
    const createdAt = step.created === undefined ? '' : rfc3339(step.created);
    return {
      ID: i > 0 ? MISSING : options.noTrunc ? options.imageId : shortId(options.imageId),
      CreatedAt: createdAt,
      CreatedSince: human ? timeAgo(step.created, now) : createdAt || 'N/A',
      CreatedBy: options.noTrunc ? createdBy : ellipsis(createdBy, CREATED_BY_WIDTH),
      Size: human ? humanSize(step.size) : String(step.size),
      Comment: step.comment,
    };
  });
}
