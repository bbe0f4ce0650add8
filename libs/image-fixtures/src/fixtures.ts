import { readFile } from 'node:fs/promises';
import { notFound } from '@strata/kit';
import type { Platform } from '@strata/oci';
import { buildImage, buildIndex, type BuiltImage, type BuiltIndex } from './image.js';
import type { FixtureFormat, LayerItem } from './layer.js';

/** Where Debian's busybox-static package installs its binary. */
export const DEBIAN_BUSYBOX = '/bin/busybox';

/** The applets the busybox fixture links in /bin (all present in Debian's busybox-static). */
export const BUSYBOX_APPLETS = [
  'sh', 'ash', 'ls', 'cat', 'echo', 'printf', 'httpd', 'sleep', 'true', 'false', 'env', 'id', 'ps', 'kill', 'mkdir', 'rm',
  'rmdir', 'touch', 'cp', 'mv', 'ln', 'chmod', 'chown', 'stat', 'readlink', 'find', 'grep', 'sed', 'awk', 'head', 'tail',
  'wc', 'sort', 'uniq', 'cut', 'tr', 'tee', 'test', '[', 'hostname', 'uname', 'pwd', 'date', 'whoami', 'wget', 'nc',
  'ip', 'mount', 'umount', 'df', 'du', 'dd', 'free', 'top', 'vi', 'tar', 'gzip', 'gunzip', 'sha256sum', 'md5sum',
  'hexdump', 'xargs', 'yes', 'seq', 'timeout', 'nproc', 'sync', 'uptime', 'which', 'basename', 'dirname', 'mktemp',
] as const;

/** /etc/passwd of the busybox fixture. */
export const BUSYBOX_PASSWD = 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n';
/** /etc/group of the busybox fixture. */
export const BUSYBOX_GROUP = 'root:x:0:\nnobody:x:65534:\n';

/** Settings of {@link busyboxImage}. */
export interface BusyboxImageOptions {
  /** The static busybox binary; {@link DEBIAN_BUSYBOX} by default. */
  binary?: string;
  platform?: Platform;
  format?: FixtureFormat;
}

/**
 * A busybox image like Docker Hub's: one layer with `/bin/busybox` from
 * Debian's busybox-static, a symlink per applet of {@link BUSYBOX_APPLETS},
 * /etc/passwd and /etc/group with root and nobody, and the usual empty
 * directories (/tmp 1777, /root 0700, /proc, /sys, /dev, /home, /var/www).
 * Cmd is `sh`. Raises NotFound when the binary is missing (install
 * busybox-static).
 */
export async function busyboxImage(options: BusyboxImageOptions = {}): Promise<BuiltImage> {
  return buildImage({
    layers: [await busyboxLayer(options.binary ?? DEBIAN_BUSYBOX)],
    config: {
      Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
      Cmd: ['sh'],
    },
    ...(options.platform === undefined ? {} : { platform: options.platform }),
    ...(options.format === undefined ? {} : { format: options.format }),
  });
}

async function busyboxLayer(binary: string): Promise<{ items: LayerItem[]; createdBy: string }> {
  let content: Uint8Array;
  try {
    content = await readFile(binary);
  } catch (cause) {
    throw notFound(`busybox binary ${binary} is missing; install Debian's busybox-static`, { cause });
  }
  const items: LayerItem[] = [
    { dir: 'bin' },
    { file: 'bin/busybox', content, mode: 0o755 },
    ...BUSYBOX_APPLETS.map((applet): LayerItem => ({ symlink: `bin/${applet}`, target: 'busybox' })),
    { dir: 'dev' },
    { dir: 'etc' },
    { file: 'etc/passwd', content: BUSYBOX_PASSWD },
    { file: 'etc/group', content: BUSYBOX_GROUP },
    { dir: 'home' },
    { dir: 'proc' },
    { dir: 'root', mode: 0o700 },
    { dir: 'sys' },
    { dir: 'tmp', mode: 0o1777 },
    { dir: 'var/www' },
  ];
  return { items, createdBy: 'ADD busybox-static /bin/busybox' };
}

/** The pages of {@link webImage}, by path under /var/www. */
export const WEB_PAGES: Readonly<Record<string, string>> = {
  'index.html': '<!doctype html>\n<title>Strata</title>\n<h1>Hello from a Strata container</h1>\n',
  'about.html': '<!doctype html>\n<title>About</title>\n<p>Served by busybox httpd.</p>\n',
};

/**
 * A small web server image: the {@link busyboxImage} layer, then a layer
 * with the {@link WEB_PAGES} under /var/www. It runs `httpd -f -p 80 -h
 * /var/www` and exposes 80/tcp. Raises NotFound when the binary is missing.
 */
export async function webImage(options: BusyboxImageOptions = {}): Promise<BuiltImage> {
  const pages = Object.entries(WEB_PAGES).map(([name, html]): LayerItem => ({ file: `var/www/${name}`, content: html }));
  return buildImage({
    layers: [await busyboxLayer(options.binary ?? DEBIAN_BUSYBOX), { items: [{ dir: 'var/www' }, ...pages], createdBy: 'COPY www/ /var/www/' }],
    config: {
      Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
      Cmd: ['httpd', '-f', '-p', '80', '-h', '/var/www'],
      ExposedPorts: { '80/tcp': {} },
    },
    ...(options.platform === undefined ? {} : { platform: options.platform }),
    ...(options.format === undefined ? {} : { format: options.format }),
  });
}

/**
 * A one-layer image with a full run config (Entrypoint, Cmd, Env,
 * WorkingDir, ExposedPorts, Labels, User, StopSignal) and a few files under
 * /etc and /app: for inspect, history and config tests.
 */
export function singleLayerImage(options: { format?: FixtureFormat; platform?: Platform } = {}): Promise<BuiltImage> {
  return buildImage({
    layers: [
      {
        items: [
          { file: 'etc/hello', content: 'hello world\n' },
          { file: 'app/run.sh', content: '#!/bin/sh\necho running\n', mode: 0o755 },
          { dir: 'app/data', mode: 0o750, uid: 1000, gid: 1000 },
        ],
        createdBy: 'COPY app /app',
      },
    ],
    config: {
      Entrypoint: ['/app/run.sh'],
      Cmd: ['--serve'],
      Env: ['PATH=/usr/bin:/bin', 'APP_MODE=test'],
      WorkingDir: '/app',
      ExposedPorts: { '8080/tcp': {}, '53/udp': {} },
      Labels: { 'org.opencontainers.image.title': 'single-layer', maintainer: 'strata' },
      User: '1000:1000',
      StopSignal: 'SIGINT',
    },
    author: 'strata image-fixtures',
    ...options,
  });
}

/**
 * The merged view of {@link multiLayerImage}: what its layers show when
 * applied in order (file contents by path, directories, and paths that
 * must not exist).
 */
export const MULTI_LAYER_VIEW = {
  files: {
    'etc/config': 'base config\n',
    'etc/recreated': 'recreated in layer 3\n',
    'data/keep': 'kept\n',
    'data/new': 'added in layer 2\n',
    'opaque/upper': 'only this survives the opaque directory\n',
    replaced: 'upper version\n',
    'dir-becomes-file': 'a file now\n',
  },
  dirs: ['etc', 'data', 'opaque'],
  absent: [
    'etc/gone',
    'data/old',
    'data/old/a',
    'data/old/b',
    'opaque/lower-1',
    'opaque/sub',
    'opaque/sub/lower-2',
    'dir-becomes-file/x',
    '.wh.replaced',
    'opaque/.wh..wh..opq',
    'etc/.wh.gone',
  ],
} as const;

/**
 * A three-layer image with deletions: layer 2 whites out a file, a whole
 * directory and a file layer 3 brings back, makes a directory opaque, and
 * replaces a file; layer 3 replaces a directory by a file. The merged view
 * is {@link MULTI_LAYER_VIEW}.
 */
export function multiLayerImage(options: { format?: FixtureFormat; platform?: Platform } = {}): Promise<BuiltImage> {
  return buildImage({
    layers: [
      {
        items: [
          { file: 'etc/config', content: 'base config\n' },
          { file: 'etc/gone', content: 'deleted in layer 2\n' },
          { file: 'etc/recreated', content: 'deleted in layer 2\n' },
          { file: 'data/keep', content: 'kept\n' },
          { file: 'data/old/a', content: 'old a\n' },
          { file: 'data/old/b', content: 'old b\n' },
          { file: 'opaque/lower-1', content: 'hidden by the opaque marker\n' },
          { file: 'opaque/sub/lower-2', content: 'hidden by the opaque marker\n' },
          { file: 'replaced', content: 'lower version\n' },
          { file: 'dir-becomes-file/x', content: 'hidden by a file\n' },
        ],
        createdBy: 'ADD base /',
      },
      {
        items: [
          { whiteout: 'etc/gone' },
          { whiteout: 'etc/recreated' },
          { whiteout: 'data/old' },
          { file: 'data/new', content: 'added in layer 2\n' },
          { opaque: 'opaque' },
          { file: 'opaque/upper', content: 'only this survives the opaque directory\n' },
          { file: 'replaced', content: 'upper version\n' },
        ],
        createdBy: 'RUN delete and replace',
      },
      {
        items: [
          { file: 'etc/recreated', content: 'recreated in layer 3\n' },
          { file: 'dir-becomes-file', content: 'a file now\n' },
        ],
        createdBy: 'RUN recreate',
      },
    ],
    config: { Cmd: ['/bin/sh'] },
    ...options,
  });
}

/**
 * A one-layer image of links: a file with a hardlink in another directory,
 * relative and absolute symlinks, a symlinked directory, a dangling
 * symlink and a library version chain.
 */
export function linksImage(options: { format?: FixtureFormat; platform?: Platform } = {}): Promise<BuiltImage> {
  return buildImage({
    layers: [
      {
        items: [
          { file: 'usr/bin/tool', content: '#!/bin/sh\necho tool\n', mode: 0o755 },
          { hardlink: 'bin/tool-hardlink', target: 'usr/bin/tool' },
          { hardlink: 'usr/bin/tool-alias', target: 'usr/bin/tool' },
          { symlink: 'bin/tool-relative', target: '../usr/bin/tool' },
          { symlink: 'bin/tool-absolute', target: '/usr/bin/tool' },
          { file: 'usr/lib/libx.so.1.2', content: 'library\n' },
          { symlink: 'usr/lib/libx.so.1', target: 'libx.so.1.2' },
          { symlink: 'usr/lib/libx.so', target: 'libx.so.1' },
          { symlink: 'lib', target: 'usr/lib' },
          { symlink: 'dangling', target: '/does/not/exist' },
        ],
        createdBy: 'ADD links /',
      },
    ],
    ...options,
  });
}

/** The platforms of {@link multiPlatformIndex}, in index order. */
export const INDEX_PLATFORMS: readonly Platform[] = [
  { architecture: 'amd64', os: 'linux' },
  { architecture: 'arm64', os: 'linux', variant: 'v8' },
];

/**
 * An index of two small images, linux/amd64 and linux/arm64/v8, each with
 * `/etc/arch` naming its architecture.
 */
export async function multiPlatformIndex(options: { format?: FixtureFormat } = {}): Promise<BuiltIndex> {
  const images: BuiltImage[] = [];
  for (const platform of INDEX_PLATFORMS) {
    images.push(
      await buildImage({
        layers: [{ items: [{ file: 'etc/arch', content: `${platform.architecture}\n` }], createdBy: `ADD arch-${platform.architecture} /` }],
        config: { Cmd: ['cat', '/etc/arch'] },
        platform,
        ...options,
      }),
    );
  }
  return buildIndex(images, options);
}
