import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { invalidArgument } from '@strata/kit';
import { MediaTypes, digestHex, isTag, type Descriptor, type ImageIndex } from '@strata/oci';
import { allBlobs, topDocument, type BuiltArtifact } from './image.js';

/** The annotation an OCI layout's index.json names a tag with. */
export const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name';

/** Settings of {@link writeOciLayout}. */
export interface OciLayoutOptions {
  /** Tag recorded as `org.opencontainers.image.ref.name` on the index.json entry; none by default. */
  tag?: string;
}

async function readIndex(path: string): Promise<ImageIndex | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const parsed = JSON.parse(text) as ImageIndex;
  if (!Array.isArray(parsed.manifests)) throw invalidArgument(`${path} is not an OCI image index`);
  return parsed;
}

/**
 * Writes artifact into an OCI image layout directory (created if needed):
 * `oci-layout`, every blob under `blobs/sha256/`, and an entry in
 * `index.json` for its top document (the manifest, or the index of a
 * multi-platform artifact) — added to the entries already there; an entry
 * with the same tag is replaced. skopeo reads it as `oci:DIR:TAG`. Returns
 * the entry. Raises InvalidArgument for a malformed tag or an existing
 * index.json that is not an index.
 */
export async function writeOciLayout(dir: string, artifact: BuiltArtifact, options: OciLayoutOptions = {}): Promise<Descriptor> {
  if (options.tag !== undefined && !isTag(options.tag)) throw invalidArgument(`invalid tag ${JSON.stringify(options.tag)} for the OCI layout`);
  const blobsDir = join(dir, 'blobs', 'sha256');
  await mkdir(blobsDir, { recursive: true });
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  for (const content of allBlobs(artifact)) await writeFile(join(blobsDir, digestHex(content.digest)), content.bytes);

  const top = topDocument(artifact);
  const entry: Descriptor = {
    mediaType: top.mediaType,
    digest: top.digest,
    size: top.size,
    ...(artifact.kind === 'image' ? { platform: artifact.platform } : {}),
    ...(options.tag === undefined ? {} : { annotations: { [REF_NAME_ANNOTATION]: options.tag } }),
  };
  const indexPath = join(dir, 'index.json');
  const existing = (await readIndex(indexPath)) ?? { schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests: [] };
  const kept = existing.manifests.filter((m) =>
    options.tag === undefined ? m.digest !== entry.digest || m.annotations?.[REF_NAME_ANNOTATION] !== undefined : m.annotations?.[REF_NAME_ANNOTATION] !== options.tag,
  );
  const index: ImageIndex = { schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests: [...kept, entry] };
  await writeFile(indexPath, JSON.stringify(index));
  return entry;
}
