import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '@strata/kit';
import { tempDir } from '@strata/kit/testing';
import { GC_ROOT_LABEL } from '@strata/content';
import { createFsContent } from '@strata/content-fs';
import { allBlobs, busyboxImage, multiPlatformIndex, topDocument, writeOciLayout, type BuiltArtifact } from '@strata/image-fixtures';
import { digestHex, type ImageIndex } from '@strata/oci';
import { LOCAL_DOMAIN } from './local-backend.js';
import { startTestRegistry, type TestRegistry } from './testing/test-registry.js';

const run = promisify(execFile);
const scratch = tempDir('strata-registry-http-');
afterAll(() => scratch.remove());
let registry: TestRegistry | undefined;
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  await registry?.close();
  registry = undefined;
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

let dirs = 0;
const freshDir = () => join(scratch.path, `d${++dirs}`);

async function skopeo(...args: string[]): Promise<void> {
  await run('skopeo', ['--insecure-policy', 'copy', '--quiet', '--src-tls-verify=false', '--dest-tls-verify=false', ...args], { timeout: 60_000 });
}

/** Pushes artifact with skopeo from an OCI layout into the registry, copies it back out, and checks every blob is byte-identical. */
async function roundTrip(reg: TestRegistry, artifact: BuiltArtifact, repository: string, tag: string, all = false): Promise<string> {
  const source = freshDir();
  await writeOciLayout(source, artifact, { tag });
  const multi = all ? ['--all'] : [];
  await skopeo(...multi, `oci:${source}:${tag}`, `docker://${reg.host}/${repository}:${tag}`);
  const target = freshDir();
  await skopeo(...multi, `docker://${reg.host}/${repository}:${tag}`, `oci:${target}:${tag}`);
  for (const blob of allBlobs(artifact)) {
    const copied = await readFile(join(target, 'blobs', 'sha256', digestHex(blob.digest)));
    expect(Buffer.compare(copied, blob.bytes), `${blob.mediaType} ${blob.digest}`).toBe(0);
  }
  const index = JSON.parse(await readFile(join(target, 'index.json'), 'utf8')) as ImageIndex;
  expect(index.manifests.map((m) => m.digest)).toEqual([topDocument(artifact).digest]);
  return target;
}

describe('skopeo against the registry', () => {
  it('copies a busybox image from an OCI layout into a local repository and back out, byte for byte (memory store)', async () => {
    registry = await startTestRegistry();
    const image = await busyboxImage();
    await roundTrip(registry, image, 'team/busybox', '1.36');
    const tag = await registry.tags.get(LOCAL_DOMAIN, 'team/busybox', '1.36');
    expect(tag).toMatchObject({ digest: image.manifest.digest, mediaType: image.manifest.mediaType, size: image.manifest.size });
    expect((await registry.store.info(image.manifest.digest)).labels).toMatchObject({
      [GC_ROOT_LABEL]: expect.any(String),
      'strata.gc.ref.content.config': image.config.digest,
      'strata.gc.ref.content.l.0': image.layers[0]!.digest,
    });
  });

  it('copies a multi-platform index with --all through a filesystem store, byte for byte', async () => {
    const root = tempDir('strata-registry-fs-');
    const content = await createFsContent({ root: root.path, logger: silentLogger() });
    cleanups.push(async () => {
      await content.store.close();
      root.remove();
    });
    registry = await startTestRegistry({ store: content.store });
    const index = await multiPlatformIndex();
    await roundTrip(registry, index, 'multi', 'latest', true);
    for (const image of index.images) {
      expect((await content.store.info(image.manifest.digest)).size).toBe(image.manifest.size);
    }
  });
});
