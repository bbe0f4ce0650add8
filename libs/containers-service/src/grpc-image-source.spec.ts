import { Image } from '@strata/api/images/v1';
import type { RpcClient } from '@strata/grpc-kit';
import { errorKind } from '@strata/kit';
import { digestOf } from '@strata/oci';
import { describe, expect, it } from 'vitest';
import { createGrpcImageSource } from './grpc-image-source.js';

/** A client whose Images.Inspect answers with one single-platform image of os/architecture[/variant], whatever the platform asked. */
function mirrorOf(os: string, architecture: string, variant = ''): RpcClient {
  const image = Image.fromPartial({
    id: digestOf('config'),
    os,
    architecture,
    variant,
    manifest: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: digestOf('manifest'), size: 7 },
    rootfs: { type: 'layers', layers: [digestOf('layer')] },
  });
  return { unary: async () => ({ image }) } as unknown as RpcClient;
}

const outcome = (promise: Promise<unknown>) =>
  promise.then(
    () => 'found',
    (err: unknown) => ({ kind: errorKind(err), message: (err as Error).message }),
  );

describe('createGrpcImageSource', () => {
  it.each([
    ['linux', 'amd64', '', 'linux/amd64'],
    ['linux', 'amd64', '', 'linux/x86_64'],
    ['linux', 'amd64', '', 'linux/amd64/v2'],
    ['linux', 'arm64', 'v8', 'linux/arm64'],
    ['linux', 'arm', 'v6', 'linux/arm/v7'],
    ['', '', '', 'linux/arm64'],
  ])('gives a %s/%s%s image for --platform %s', async (os, architecture, variant, platform) => {
    expect(await outcome(createGrpcImageSource(mirrorOf(os, architecture, variant)).inspect('busybox', platform))).toBe('found');
  });

  it.each([
    ['linux/arm64', 'wanted linux/arm64, actual: linux/amd64'],
    ['linux/arm/v7', 'wanted linux/arm/v7, actual: linux/amd64'],
    ['windows/amd64', 'wanted windows/amd64, actual: linux/amd64'],
  ])('refuses a linux/amd64 image for --platform %s, as Docker does', async (platform, detail) => {
    expect(await outcome(createGrpcImageSource(mirrorOf('linux', 'amd64')).inspect('busybox', platform))).toEqual({
      kind: 'NotFound',
      message: `image with reference busybox was found but does not match the specified platform: ${detail}`,
    });
  });

  it('takes the image as it is without a platform', async () => {
    expect(await outcome(createGrpcImageSource(mirrorOf('linux', 's390x')).inspect('busybox'))).toBe('found');
  });

  it("carries the image's architecture, which decides the syscall ABIs of the seccomp filter", async () => {
    expect((await createGrpcImageSource(mirrorOf('linux', '386')).inspect('busybox')).architecture).toBe('386');
    expect((await createGrpcImageSource(mirrorOf('', '')).inspect('busybox')).architecture).toBeUndefined();
  });
});
