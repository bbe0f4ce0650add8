import { endianness } from 'node:os';
import { invalidArgument, notFound } from '@strata/kit';
import type { Descriptor, ImageIndex, Platform } from './manifest.js';

const KNOWN_OS = new Set([
  'aix',
  'android',
  'darwin',
  'dragonfly',
  'freebsd',
  'hurd',
  'illumos',
  'ios',
  'js',
  'linux',
  'nacl',
  'netbsd',
  'openbsd',
  'plan9',
  'solaris',
  'wasip1',
  'windows',
  'zos',
]);
const COMPONENT = /^[a-z0-9_.-]+$/;

/**
 * The platform in canonical form, as containerd normalizes it: lower case;
 * `macos` → `darwin`; `x86_64`/`x86-64` → `amd64` (variant `v1` dropped);
 * `aarch64` → `arm64` (variant `v8`/`8` dropped, `9` → `v9`); `i386` → `386`;
 * `armhf` → `arm/v7`, `armel` → `arm/v6`; `arm` gets `v7` when it has no
 * variant, and `5`/`6`/`7`/`8` become `v5`…`v8`. Other fields are kept.
 */
export function normalizePlatform(platform: Platform): Platform {
  let os = platform.os.toLowerCase();
  if (os === 'macos') os = 'darwin';
  let architecture = platform.architecture.toLowerCase();
  let variant = (platform.variant ?? '').toLowerCase();
  switch (architecture) {
    case 'i386':
      architecture = '386';
      variant = '';
      break;
    case 'x86_64':
    case 'x86-64':
    case 'amd64':
      architecture = 'amd64';
      if (variant === 'v1') variant = '';
      break;
    case 'aarch64':
    case 'arm64':
      architecture = 'arm64';
      if (variant === '8' || variant === 'v8' || variant === 'v8.0') variant = '';
      else if (variant === '9' || variant === '9.0' || variant === 'v9.0') variant = 'v9';
      break;
    case 'armhf':
      architecture = 'arm';
      variant = 'v7';
      break;
    case 'armel':
      architecture = 'arm';
      variant = 'v6';
      break;
    case 'arm':
      if (variant === '' || variant === '7') variant = 'v7';
      else if (variant === '5' || variant === '6' || variant === '8') variant = `v${variant}`;
      break;
  }
  const normalized: Platform = { ...platform, os, architecture };
  if (variant === '') delete normalized.variant;
  else normalized.variant = variant;
  return normalized;
}

/** `os/architecture[/variant]`, e.g. `linux/arm/v7`. */
export function formatPlatform(platform: Platform): string {
  return [platform.os, platform.architecture, platform.variant].filter((part) => part !== undefined && part !== '').join('/');
}

/**
 * The platform this process runs on, in OCI terms (Go's names), normalized.
 * arch and os default to `process.arch` and `process.platform`; armVersion
 * (default: the version Node.js was built for) picks the `arm` variant.
 */
export function hostPlatform(
  arch: string = process.arch,
  os: string = process.platform,
  armVersion: string | undefined = nodeArmVersion(),
): Platform {
  const architecture = NODE_ARCH.get(arch) ?? (arch === 'ppc64' ? (endianness() === 'LE' ? 'ppc64le' : 'ppc64') : arch);
  const platform: Platform = { os: NODE_OS.get(os) ?? os, architecture };
  if (architecture === 'arm' && armVersion !== undefined && armVersion !== '') platform.variant = `v${armVersion}`;
  return normalizePlatform(platform);
}

/**
 * Parses a platform specifier like containerd: `os/arch[/variant]`, `os`
 * (with host's architecture) or `arch` (with the host's OS), normalized.
 * InvalidArgument for anything else:
 * `invalid platform "x/y/z/w": expected os[/arch[/variant]], e.g. linux/arm64`.
 */
export function parsePlatform(text: string, host: Platform = hostPlatform()): Platform {
  const parts = text.toLowerCase().split('/');
  if (text === '' || parts.length > 3 || !parts.every((part) => COMPONENT.test(part))) {
    throw invalidArgument(`invalid platform ${JSON.stringify(text.slice(0, 100))}: expected os[/arch[/variant]], e.g. linux/arm64`);
  }
  const [first = '', second, third] = parts;
  if (second === undefined) {
    const os = first === 'macos' ? 'darwin' : first;
    if (KNOWN_OS.has(os)) {
      const withHostArch: Platform = { os, architecture: host.architecture };
      if (host.variant !== undefined) withHostArch.variant = host.variant;
      return normalizePlatform(withHostArch);
    }
    return normalizePlatform({ os: host.os, architecture: first });
  }
  return normalizePlatform(third === undefined ? { os: first, architecture: second } : { os: first, architecture: second, variant: third });
}

/**
 * The platforms a host of platform can run, best first, as containerd's
 * default matcher orders them: amd64/vN falls back to lower amd64 variants
 * and then 386; arm/vN to arm/vN-1 … v5; arm64/v8.x to lower v8 variants and
 * then 32-bit arm/v8 … v5; arm64/v9.x also to arm64/v8.(x+5) and below.
 */
export function compatiblePlatforms(platform: Platform): Platform[] {
  const p = normalizePlatform(platform);
  const same = (architecture: string, variant?: string): Platform => {
    const out: Platform = { os: p.os, architecture };
    if (variant !== undefined && variant !== '') out.variant = variant;
    return normalizePlatform(out);
  };
  const variant = p.variant ?? '';
  switch (p.architecture) {
    case 'amd64': {
      const level = /^v(\d+)$/.exec(variant);
      const out = [same('amd64', variant)];
      for (let n = level === null ? 0 : Number(level[1]) - 1; n >= 1; n--) out.push(same('amd64', `v${n}`));
      out.push(same('386'));
      return out;
    }
    case 'arm': {
      const level = /^v(\d+)$/.exec(variant);
      const out = [same('arm', variant)];
      for (let n = level === null ? 0 : Number(level[1]) - 1; n >= 5; n--) out.push(same('arm', `v${n}`));
      return out;
    }
    case 'arm64': {
      const version = /^v([89])(?:\.(\d))?$/.exec(variant === '' ? 'v8' : variant);
      if (version === null) return [same('arm64', variant)];
      const major = Number(version[1]);
      const minor = Number(version[2] ?? '0');
      const out: Platform[] = [];
      const descend = (maj: number, from: number) => {
        for (let m = from; m >= 0; m--) out.push(same('arm64', m === 0 ? `v${maj}` : `v${maj}.${m}`));
      };
      descend(major, minor);
      if (major === 9) descend(8, Math.min(minor + 5, 9));
      return [...out, same('arm', 'v8'), same('arm', 'v7'), same('arm', 'v6'), same('arm', 'v5')];
    }
    default:
      return [p];
  }
}

/**
 * The index entry to run on platform, chosen like containerd's default
 * matcher: entries are compared in canonical form (amd64 ≡ x86_64, arm64 ≡
 * arm64/v8, arm ≡ arm/v7…), the best of {@link compatiblePlatforms} wins, and
 * among equals the first listed. Entries without a platform are skipped.
 * NotFound, in Docker's words, when none fits:
 * `no matching manifest for linux/amd64 in the manifest list entries`.
 */
export function selectPlatform(index: ImageIndex, platform: Platform): Descriptor {
  const wanted = compatiblePlatforms(platform);
  let best: { rank: number; descriptor: Descriptor } | undefined;
  for (const descriptor of index.manifests) {
    if (descriptor.platform === undefined) continue;
    const candidate = normalizePlatform(descriptor.platform);
    const rank = wanted.findIndex(
      (w) => w.os === candidate.os && w.architecture === candidate.architecture && (w.variant ?? '') === (candidate.variant ?? ''),
    );
    if (rank !== -1 && (best === undefined || rank < best.rank)) best = { rank, descriptor };
  }
  if (best === undefined) {
    const name = formatPlatform(normalizePlatform(platform));
    throw notFound(`no matching manifest for ${name} in the manifest list entries`, { fields: { platform: name } });
  }
  return best.descriptor;
}

const NODE_ARCH: ReadonlyMap<string, string> = new Map([
  ['x64', 'amd64'],
  ['ia32', '386'],
  ['mipsel', 'mipsle'],
]);

const NODE_OS: ReadonlyMap<string, string> = new Map([
  ['win32', 'windows'],
  ['sunos', 'solaris'],
]);

function nodeArmVersion(): string | undefined {
  const version = (process.config.variables as Record<string, unknown>).arm_version;
  return typeof version === 'string' || typeof version === 'number' ? String(version) : undefined;
}
