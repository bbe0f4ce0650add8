import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorKind } from '@strata/kit';
import { freePort, tempDir } from '@strata/kit/testing';
import { digestHex } from '@strata/oci';
import { allBlobs, topDocument, type BuiltArtifact, type BuiltImage } from './image.js';
import { busyboxImage, multiLayerImage, multiPlatformIndex } from './fixtures.js';
import { writeOciLayout } from './oci-layout.js';
import { pushImage } from './push.js';
import { startDistributionRegistry, type TestDistributionRegistry } from './registry.js';

const run = promisify(execFile);
const scratch = tempDir('strata-registry-test-');
const policy = join(scratch.path, 'policy.json');
writeFileSync(policy, JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }));
let dirs = 0;
const freshPath = (): string => join(scratch.path, `layout-${++dirs}`);

async function skopeo(...args: string[]): Promise<string> {
  const { stdout } = await run('skopeo', ['--policy', policy, ...args], { timeout: 30_000 });
  return stdout;
}

async function failure(action: () => Promise<unknown>): Promise<{ kind: string; message: string }> {
  try {
    await action();
  } catch (err) {
    return { kind: errorKind(err), message: (err as Error).message };
  }
  throw new Error('expected a failure, but it succeeded');
}

/** Every blob of artifact is in the OCI layout at dir, byte for byte. */
function expectSameBlobs(dir: string, artifact: BuiltArtifact): void {
  for (const content of allBlobs(artifact)) {
    const copied = readFileSync(join(dir, 'blobs/sha256', digestHex(content.digest)));
    expect(Buffer.compare(copied, content.bytes), content.digest).toBe(0);
  }
}

afterAll(() => scratch.remove());

describe('startDistributionRegistry', () => {
  let registry: TestDistributionRegistry;
  let busybox: BuiltImage;
  let multi: BuiltImage;

  beforeAll(async () => {
    registry = await startDistributionRegistry();
    [busybox, multi] = await Promise.all([busyboxImage(), multiLayerImage()]);
  });
  afterAll(() => registry?.stop());

  it('serves pushed images that skopeo copies byte for byte, and logs each blob GET', async () => {
    const pushed = await pushImage(registry.url, 'busybox', 'latest', busybox);
    expect(pushed).toEqual({ descriptor: { mediaType: busybox.manifest.mediaType, digest: busybox.manifest.digest, size: busybox.manifest.size }, uploaded: busybox.blobs.map((b) => b.digest) });
    await pushImage(registry.url, 'library/multi', 'v1', multi);

    const inspected = JSON.parse(await skopeo('inspect', '--tls-verify=false', `docker://${registry.host}/busybox:latest`)) as { Digest: string; Layers: string[]; Architecture: string };
    expect(inspected).toMatchObject({ Digest: busybox.manifest.digest, Layers: busybox.layers.map((l) => l.digest), Architecture: 'amd64' });

    for (const [reference, image] of [['busybox:latest', busybox], ['library/multi:v1', multi]] as const) {
      await registry.settleRequestLog();
      registry.clearRequestLog();
      const dir = freshPath();
      await skopeo('copy', '--src-tls-verify=false', `docker://${registry.host}/${reference}`, `oci:${dir}:latest`);
      expectSameBlobs(dir, image);
      await registry.settleRequestLog();
      const repository = reference.slice(0, reference.indexOf(':'));
      const blobGets = registry.requestLog().filter((r) => r.method === 'GET' && r.path.startsWith(`/v2/${repository}/blobs/`));
      expect(blobGets.map((r) => [r.path.slice(r.path.lastIndexOf('/') + 1), r.status]).sort()).toEqual(
        image.blobs.map((b) => [b.digest, 200]).sort(),
      );
      expect(blobGets.every((r) => r.userAgent.startsWith('skopeo/'))).toBe(true);
    }
  });

  it('skips blobs the registry has, unless forced', async () => {
    await pushImage(registry.url, 'again', 'v1', multi);
    const second = await pushImage(registry.url, 'again', 'v2', multi);
    expect(second.uploaded).toEqual([]);
    const forced = await pushImage(registry.url, 'again', 'v3', multi, { force: true });
    expect(forced.uploaded.length).toBe(multi.blobs.length);
  });

  it('takes a multi-platform index that skopeo copies with --all', async () => {
    const index = await multiPlatformIndex();
    await pushImage(registry.url, 'multiarch', 'latest', index);
    const raw = await skopeo('inspect', '--raw', '--tls-verify=false', `docker://${registry.host}/multiarch:latest`);
    expect(raw).toBe(Buffer.from(index.index.bytes).toString('utf8'));
    const dir = freshPath();
    await skopeo('copy', '--all', '--src-tls-verify=false', `docker://${registry.host}/multiarch:latest`, `oci:${dir}:latest`);
    expectSameBlobs(dir, index);
  });

  it('writes OCI layouts skopeo reads and pushes', async () => {
    const dir = freshPath();
    await writeOciLayout(dir, multi, { tag: 'fixture' });
    const inspected = JSON.parse(await skopeo('inspect', `oci:${dir}:fixture`)) as { Digest: string; Layers: string[] };
    expect(inspected).toMatchObject({ Digest: multi.manifest.digest, Layers: multi.layers.map((l) => l.digest) });
    await skopeo('copy', '--dest-tls-verify=false', `oci:${dir}:fixture`, `docker://${registry.host}/from-layout:v1`);
    const copied = await skopeo('inspect', '--raw', '--tls-verify=false', `docker://${registry.host}/from-layout:v1`);
    expect(copied).toBe(Buffer.from(topDocument(multi).bytes).toString('utf8'));
  });

  it('keeps its content across a restart, and is down in between', async () => {
    const before = registry.pid();
    let downAnswer = '';
    await registry.restart(async () => {
      downAnswer = (await failure(() => pushImage(registry.url, 'busybox', 'down', busybox))).kind;
    });
    expect(downAnswer).toBe('Unavailable');
    expect(registry.pid()).not.toBe(before);
    const response = await fetch(`${registry.url}/v2/busybox/manifests/latest`, { method: 'HEAD', headers: { accept: busybox.manifest.mediaType } });
    expect(response.status).toBe(200);
    expect(response.headers.get('docker-content-digest')).toBe(busybox.manifest.digest);
  });

  it('refuses malformed names before any request', async () => {
    expect(await failure(() => pushImage(registry.url, 'Busybox', 'latest', busybox))).toEqual({
      kind: 'InvalidArgument',
      message: 'invalid repository name "Busybox"',
    });
    expect(await failure(() => pushImage(registry.url, 'busybox', 'bad tag', busybox))).toEqual({ kind: 'InvalidArgument', message: 'invalid tag "bad tag"' });
  });
});

describe('startDistributionRegistry with htpasswd auth', () => {
  let registry: TestDistributionRegistry;
  beforeAll(async () => {
    registry = await startDistributionRegistry({ auth: 'htpasswd', credentials: { username: 'tester', password: 's3cret' } });
  });
  afterAll(() => registry?.stop());

  it('answers 401 without credentials and serves the user with them', async () => {
    const image = await multiLayerImage();
    const anonymous = await fetch(`${registry.url}/v2/`);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toBe('Basic realm="strata-test"');

    const scopes = JSON.stringify(['pull', 'push'].map((Action) => ({ Type: 'repository', Class: '', Name: 'private', Action })));
    expect(await failure(() => pushImage(registry.url, 'private', 'v1', image))).toEqual({
      kind: 'Unauthenticated',
      message: `push to ${registry.host}: POST /v2/private/blobs/uploads/ answered 401 Unauthorized: {"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":${scopes}}]}`,
    });
    await pushImage(registry.url, 'private', 'v1', image, { credentials: registry.credentials! });
    const inspected = JSON.parse(await skopeo('inspect', '--tls-verify=false', '--creds', 'tester:s3cret', `docker://${registry.host}/private:v1`)) as { Digest: string };
    expect(inspected.Digest).toBe(image.manifest.digest);
  });
});

describe('startDistributionRegistry failures', () => {
  it('reports a registry that exits at start, with its exit code', async () => {
    const port = await freePort();
    const error = await failure(() => startDistributionRegistry({ port, binary: '/bin/false' }));
    expect(error.message).toMatch(new RegExp(`^docker-registry on port ${port} exited \\(1\\) before it answered`));
  });
});
