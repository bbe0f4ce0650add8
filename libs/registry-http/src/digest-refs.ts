import { isNotFound } from '@strata/kit';
import { GC_ROOT_LABEL, type Info, type Labels, type Store } from '@strata/content';
import type { TagStore } from '@strata/images';
import type { Digest } from '@strata/oci';
import { SUBJECT_LABEL } from './local-backend.js';

/**
 * Prefix of the labels that record a digest reference: a label
 * `strata.images.digest-ref.<domain>/<repository>` (value: when it was set,
 * ISO 8601) on a stored manifest or index says that repository holds it by
 * digest, as Docker's RepoDigests of an image pulled by digest only
 * (`busybox@sha256:…`, TAG `<none>`).
 *
 * Why labels on the blob and not a second kind of record in the image
 * index: the record and the `strata.gc.root` it justifies are set and
 * dropped by one update of one blob in the layer-store, which every mirror
 * replica shares, so no replica sees a root without its reason or a
 * reference to a collected manifest; and the image index keeps its one
 * shape (name:tag → digest). Listing them is one walk of the roots
 * (`labels.strata.gc.root`), which are few (tagged images, referrers and
 * these).
 */
export const DIGEST_REF_LABEL_PREFIX = 'strata.images.digest-ref.';

/** A repository's reference to a manifest or index by digest. */
export interface DigestRef {
  /** TagStore domain: the registry host, or `local`. */
  domain: string;
  /** Repository path within domain. */
  repository: string;
  digest: Digest;
  /** When it was set (the label's value). */
  since: string;
}

/** The label key of domain/repository's digest reference. */
export function digestRefLabel(domain: string, repository: string): string {
  return `${DIGEST_REF_LABEL_PREFIX}${domain}/${repository}`;
}

/** The digest references a stored blob's labels record, by domain then repository. */
export function digestRefsOf(info: Pick<Info, 'digest' | 'labels'>): DigestRef[] {
  const out: DigestRef[] = [];
  for (const [key, since] of Object.entries(info.labels)) {
    if (!key.startsWith(DIGEST_REF_LABEL_PREFIX)) continue;
    const name = key.slice(DIGEST_REF_LABEL_PREFIX.length);
    const slash = name.indexOf('/');
    if (slash <= 0 || slash === name.length - 1) continue;
    out.push({ domain: name.slice(0, slash), repository: name.slice(slash + 1), digest: info.digest, since });
  }
  return out.sort((a, b) => (a.domain < b.domain ? -1 : a.domain > b.domain ? 1 : a.repository < b.repository ? -1 : a.repository > b.repository ? 1 : 0));
}

/**
 * Records domain/repository's digest reference to the stored manifest or
 * index digest and makes it a GC root, in one label update. Returns false
 * when the reference was already there (nothing changes then). NotFound
 * when digest is not stored; InvalidArgument when the blob has no room for
 * another label.
 */
export async function addDigestRef(store: Store, digest: Digest, domain: string, repository: string): Promise<boolean> {
  const info = await store.info(digest);
  const key = digestRefLabel(domain, repository);
  if (info.labels[key] !== undefined) return false;
  const now = new Date().toISOString();
  const labels: Labels = { [key]: now };
  const paths = [`labels.${key}`];
  if (info.labels[GC_ROOT_LABEL] === undefined) {
    labels[GC_ROOT_LABEL] = now;
    paths.push(`labels.${GC_ROOT_LABEL}`);
  }
  await store.update(digest, labels, paths);
  return true;
}

/**
 * Removes domain/repository's digest reference to digest; returns whether
 * there was one (false also when digest is not stored). The root stays:
 * {@link releaseUnreferencedRoot} drops it once nothing references the
 * manifest.
 */
export async function removeDigestRef(store: Store, digest: Digest, domain: string, repository: string): Promise<boolean> {
  const key = digestRefLabel(domain, repository);
  try {
    const info = await store.info(digest);
    if (info.labels[key] === undefined) return false;
    await store.update(digest, {}, [`labels.${key}`]);
    return true;
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}

/**
 * Drops `strata.gc.root` from the manifest or index digest when nothing
 * references it any more: no tag of tags, no digest reference, and it is no
 * referrer (a manifest with a subject keeps its root until deleted).
 * Returns true when nothing references it (also when it is not stored),
 * false when something still does. Raises what store and tags raise
 * (Unavailable), never NotFound.
 */
export async function releaseUnreferencedRoot(store: Store, tags: TagStore, digest: Digest): Promise<boolean> {
  if ((await tags.tagsOf(digest)).length > 0) return false;
  let info: Info;
  try {
    info = await store.info(digest);
  } catch (err) {
    if (isNotFound(err)) return true;
    throw err;
  }
  if (digestRefsOf(info).length > 0) return false;
  if (info.labels[GC_ROOT_LABEL] !== undefined && info.labels[SUBJECT_LABEL] === undefined) {
    await store.update(digest, {}, [`labels.${GC_ROOT_LABEL}`]).catch((err: unknown) => {
      if (!isNotFound(err)) throw err;
    });
  }
  return true;
}
