import { endianness } from 'node:os';
import { describe, expect, it } from 'vitest';
import type { Digest } from './digest.js';
import type { Descriptor, ImageIndex, Platform } from './manifest.js';
import { MediaTypes } from './media-types.js';
import { compatiblePlatforms, formatPlatform, hostPlatform, normalizePlatform, parsePlatform, selectPlatform } from './platform.js';
import { errorOf } from './testing/error-of.js';

const p = (os: string, architecture: string, variant?: string): Platform =>
  variant === undefined ? { os, architecture } : { os, architecture, variant };

describe('normalizePlatform', () => {
  it.each([
    [p('Linux', 'x86_64'), 'linux/amd64'],
    [p('linux', 'x86-64', 'v1'), 'linux/amd64'],
    [p('linux', 'amd64', 'v3'), 'linux/amd64/v3'],
    [p('linux', 'aarch64'), 'linux/arm64'],
    [p('linux', 'arm64', 'v8'), 'linux/arm64'],
    [p('linux', 'arm64', '8'), 'linux/arm64'],
    [p('linux', 'arm64', '9'), 'linux/arm64/v9'],
    [p('linux', 'arm64', 'v8.2'), 'linux/arm64/v8.2'],
    [p('linux', 'armhf'), 'linux/arm/v7'],
    [p('linux', 'armel'), 'linux/arm/v6'],
    [p('linux', 'arm'), 'linux/arm/v7'],
    [p('linux', 'arm', '7'), 'linux/arm/v7'],
    [p('linux', 'arm', '6'), 'linux/arm/v6'],
    [p('linux', 'ARM', 'V5'), 'linux/arm/v5'],
    [p('linux', 'i386', 'whatever'), 'linux/386'],
    [p('macOS', 'arm64'), 'darwin/arm64'],
    [p('linux', 'riscv64'), 'linux/riscv64'],
  ])('normalizes %j to %s', (platform, expected) => {
    expect(formatPlatform(normalizePlatform(platform))).toBe(expected);
  });

  it('keeps the other fields', () => {
    const windows: Platform = { os: 'Windows', architecture: 'AMD64', 'os.version': '10.0.17763.1', 'os.features': ['win32k'] };
    expect(normalizePlatform(windows)).toEqual({ os: 'windows', architecture: 'amd64', 'os.version': '10.0.17763.1', 'os.features': ['win32k'] });
  });
});

describe('hostPlatform', () => {
  it.each([
    ['x64', 'linux', undefined, 'linux/amd64'],
    ['arm64', 'linux', undefined, 'linux/arm64'],
    ['arm', 'linux', '7', 'linux/arm/v7'],
    ['arm', 'linux', '6', 'linux/arm/v6'],
    ['arm', 'linux', undefined, 'linux/arm/v7'],
    ['ia32', 'win32', undefined, 'windows/386'],
    ['x64', 'darwin', undefined, 'darwin/amd64'],
    ['mipsel', 'linux', undefined, 'linux/mipsle'],
    ['s390x', 'linux', undefined, 'linux/s390x'],
    ['riscv64', 'linux', undefined, 'linux/riscv64'],
    ['ppc64', 'linux', undefined, endianness() === 'LE' ? 'linux/ppc64le' : 'linux/ppc64'],
    ['toString', 'constructor', undefined, 'constructor/tostring'],
  ])('maps Node.js %s on %s (arm %s) to %s', (arch, os, armVersion, expected) => {
    expect(formatPlatform(hostPlatform(arch, os, armVersion))).toBe(expected);
  });

  it('describes this process by default', () => {
    const host = hostPlatform();
    expect(host.os).toBe(process.platform === 'win32' ? 'windows' : process.platform);
    expect(host).toEqual(hostPlatform(process.arch, process.platform));
  });
});

describe('parsePlatform', () => {
  const host = p('linux', 'arm', 'v6');
  it.each([
    ['linux/amd64', 'linux/amd64'],
    ['LINUX/X86_64', 'linux/amd64'],
    ['linux/arm64/v8', 'linux/arm64'],
    ['linux/arm/v6', 'linux/arm/v6'],
    ['linux/arm', 'linux/arm/v7'],
    ['macos/arm64', 'darwin/arm64'],
    ['linux', 'linux/arm/v6'],
    ['windows', 'windows/arm/v6'],
    ['arm64', 'linux/arm64'],
    ['amd64', 'linux/amd64'],
  ])('parses %s', (text, expected) => {
    expect(formatPlatform(parsePlatform(text, host))).toBe(expected);
  });

  it.each(['', 'a/b/c/d', 'linux/amd 64', 'linux//amd64', '/amd64', 'linux/amd64/'])('refuses %j', (text) => {
    expect(errorOf(() => parsePlatform(text, host))).toEqual({
      kind: 'InvalidArgument',
      message: `invalid platform ${JSON.stringify(text)}: expected os[/arch[/variant]], e.g. linux/arm64`,
    });
  });
});

describe('compatiblePlatforms', () => {
  it.each([
    [p('linux', 'amd64'), ['linux/amd64', 'linux/386']],
    [p('linux', 'amd64', 'v3'), ['linux/amd64/v3', 'linux/amd64/v2', 'linux/amd64', 'linux/386']],
    [p('linux', 'arm', 'v7'), ['linux/arm/v7', 'linux/arm/v6', 'linux/arm/v5']],
    [p('linux', 'arm64'), ['linux/arm64', 'linux/arm/v8', 'linux/arm/v7', 'linux/arm/v6', 'linux/arm/v5']],
    [p('linux', 'arm64', 'v8.2'), ['linux/arm64/v8.2', 'linux/arm64/v8.1', 'linux/arm64', 'linux/arm/v8', 'linux/arm/v7', 'linux/arm/v6', 'linux/arm/v5']],
    [
      p('linux', 'arm64', 'v9'),
      [
        'linux/arm64/v9',
        'linux/arm64/v8.5',
        'linux/arm64/v8.4',
        'linux/arm64/v8.3',
        'linux/arm64/v8.2',
        'linux/arm64/v8.1',
        'linux/arm64',
        'linux/arm/v8',
        'linux/arm/v7',
        'linux/arm/v6',
        'linux/arm/v5',
      ],
    ],
    [p('linux', 's390x'), ['linux/s390x']],
  ])('orders what %j runs', (platform, expected) => {
    expect(compatiblePlatforms(platform).map(formatPlatform)).toEqual(expected);
  });
});

describe('selectPlatform', () => {
  const d = (c: string, platform?: Platform): Descriptor => {
    const descriptor: Descriptor = { mediaType: MediaTypes.ociManifest, digest: `sha256:${c.repeat(64)}` as Digest, size: 1 };
    if (platform !== undefined) descriptor.platform = platform;
    return descriptor;
  };
  const index = (...manifests: Descriptor[]): ImageIndex => ({ schemaVersion: 2, manifests });
  const busybox = index(
    d('0'),
    d('1', p('unknown', 'unknown')),
    d('2', p('linux', 'amd64')),
    d('3', p('linux', 'arm', 'v6')),
    d('4', p('linux', 'arm', 'v7')),
    d('5', p('linux', 'arm64', 'v8')),
    d('6', p('linux', '386')),
    d('7', p('windows', 'amd64')),
    d('8', p('linux', 'amd64')),
  );

  it.each([
    [p('linux', 'amd64'), '2'],
    [p('linux', 'x86_64'), '2'],
    [p('linux', 'arm64'), '5'],
    [p('linux', 'aarch64', 'v8'), '5'],
    [p('linux', 'arm', 'v7'), '4'],
    [p('linux', 'arm'), '4'],
    [p('linux', 'arm', 'v8'), '4'],
    [p('linux', 'arm', 'v6'), '3'],
    [p('linux', 'i386'), '6'],
    [p('windows', 'amd64'), '7'],
  ])('picks %j', (platform, expected) => {
    expect(selectPlatform(busybox, platform).digest).toBe(`sha256:${expected.repeat(64)}`);
  });

  it.each([
    ['386 for amd64', index(d('a', p('linux', '386'))), p('linux', 'amd64'), 'a'],
    ['arm/v7 for arm64', index(d('a', p('linux', 'arm', 'v7'))), p('linux', 'arm64'), 'a'],
    ['the best variant', index(d('a', p('linux', 'amd64')), d('b', p('linux', 'amd64', 'v2'))), p('linux', 'amd64', 'v3'), 'b'],
    ['arm64/v8.2 over v8 for v9', index(d('a', p('linux', 'arm64')), d('b', p('linux', 'arm64', 'v8.2'))), p('linux', 'arm64', 'v9'), 'b'],
    ['the native one over a fallback', index(d('a', p('linux', '386')), d('b', p('linux', 'amd64'))), p('linux', 'amd64'), 'b'],
  ])('falls back: %s', (_name, candidates, platform, expected) => {
    expect(selectPlatform(candidates, platform).digest).toBe(`sha256:${expected.repeat(64)}`);
  });

  it.each([
    [busybox, p('linux', 's390x'), 'no matching manifest for linux/s390x in the manifest list entries'],
    [busybox, p('linux', 'arm', 'v5'), 'no matching manifest for linux/arm/v5 in the manifest list entries'],
    [index(d('a', p('linux', 'amd64', 'v2'))), p('linux', 'amd64'), 'no matching manifest for linux/amd64 in the manifest list entries'],
    [index(d('a', p('linux', 'amd64'))), p('darwin', 'amd64'), 'no matching manifest for darwin/amd64 in the manifest list entries'],
    [index(), p('linux', 'amd64'), 'no matching manifest for linux/amd64 in the manifest list entries'],
  ])('reports NotFound when nothing fits (%#)', (candidates, platform, message) => {
    expect(errorOf(() => selectPlatform(candidates, platform))).toEqual({ kind: 'NotFound', message });
  });
});
