import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { lstatSync, mkdirSync, readFileSync, readlinkSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { errorKind } from '@strata/kit';
import { tempDir } from '@strata/kit/testing';
import { MediaTypes, digestOf, type Digest } from '@strata/oci';
import { gzip, tarBytes } from '@strata/tar';
import { HOSTILE_OUTSIDE_FILES, NET_BIND_SERVICE_CAPABILITY, gzipBombLayer, hostileTarCases, type HostileTarCase } from '@strata/tar/testing';
import { layerTarItems } from '@strata/image-fixtures';
import { applyLayer, type ApplyMode } from './apply-layer.js';
import { readTreeXattrs } from './fs-tools.js';
import { describeTree } from './testing/tree.js';

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
});

function scratch(): string {
  const dir = tempDir('strata-layer-diff-');
  cleanups.push(dir.remove);
  return dir.path;
}

async function caught(work: () => Promise<unknown>): Promise<{ kind: string; message: string }> {
  try {
    await work();
  } catch (err) {
    return { kind: errorKind(err), message: (err as Error).message };
  }
  return expect.fail('expected an error');
}

function applyTar(tar: Uint8Array, target: string, mode: ApplyMode, extra: { diffId?: Digest; limits?: Record<string, number> } = {}) {
  return applyLayer({ blob: [tar], mediaType: MediaTypes.ociLayer, digest: digestOf(tar), diffId: extra.diffId ?? digestOf(tar), target, mode, limits: extra.limits });
}

// The hostile catalogue, extracted into base/root with base/outside and base/sentinel beside it.
const hostileBase = tempDir('strata-hostile-');
afterAll(() => hostileBase.remove());
const rootDir = `${hostileBase.path}/root`;
const outsideDir = `${hostileBase.path}/outside`;
const sentinelDir = `${hostileBase.path}/sentinel`;
const abs = outsideDir.slice(1);
const cases = await hostileTarCases({ rootDir, outsideDir, bombEntries: 1000 });
const LIMITS = { maxEntries: 500 };

type Expectation =
  | { refuse: { kind: string; message: string } }
  | { files?: Record<string, string>; symlinks?: Record<string, string>; absent?: string[]; check?: (mode: ApplyMode) => void };

const refuse = (kind: string, message: string): Expectation => ({ refuse: { kind, message } });
const isWhiteoutDevice = (path: string) => {
  const stats = lstatSync(path);
  return stats.isCharacterDevice() && stats.rdev === 0;
};

const EXPECTED: Record<string, Expectation> = {
  'dotdot-name': { files: { 'outside/escaped': 'pwned' } },
  'dotdot-inside-name': { files: { 'outside/escaped': 'pwned' } },
  'absolute-name': { files: { [`${abs}/escaped`]: 'pwned' } },
  'nul-in-ustar-name': { files: { safe: 'pwned' } },
  'nul-in-pax-path': refuse('InvalidArgument', 'tar entry "innocent": the PAX path contains NUL'),
  'symlink-then-write-through': { symlinks: { link: outsideDir }, files: { [`${abs}/escaped`]: 'pwned' } },
  'relative-symlink-then-write-through': { symlinks: { link: '../outside' }, files: { 'outside/escaped': 'pwned' } },
  'symlink-chain-then-write-through': { symlinks: { a: 'b', b: outsideDir }, files: { [`${abs}/escaped`]: 'pwned' } },
  'symlink-then-write-through-later-layer': { symlinks: { link: outsideDir }, files: { [`${abs}/escaped`]: 'pwned' } },
  'symlink-overwrite-target': { files: { victim: 'pwned' } },
  'symlink-replaced-by-directory': {
    files: { 'etc/escaped': 'pwned' },
    check: () => {
      const stats = lstatSync(`${rootDir}/etc`);
      expect(stats.isDirectory()).toBe(true);
      expect(stats.mode & 0o7777).toBe(0o777);
    },
  },
  'hardlink-absolute-outside': refuse('InvalidArgument', `tar entry "stolen": hardlink target "${outsideDir}/target" does not exist in the layer's root`),
  'hardlink-relative-outside': refuse('InvalidArgument', `tar entry "stolen": hardlink target "../outside/target" does not exist in the layer's root`),
  'hardlink-through-symlink': refuse('InvalidArgument', `tar entry "stolen": hardlink target "out/target" does not exist in the layer's root`),
  'pax-linkpath-override': refuse('InvalidArgument', `tar entry "stolen": hardlink target "${outsideDir}/target" does not exist in the layer's root`),
  'char-device': refuse('InvalidArgument', 'tar entry "dev/mem": device nodes are not allowed in layers (char-device 1:1)'),
  'block-device': refuse('InvalidArgument', 'tar entry "dev/sda": device nodes are not allowed in layers (block-device 8:0)'),
  'whiteout-device': {
    check: (mode) => {
      if (mode === 'overlay') expect(isWhiteoutDevice(`${rootDir}/removed`)).toBe(true);
      else expect(readdirSync(rootDir)).toEqual([]);
    },
  },
  'trusted-overlay-opaque-xattr': {
    files: { 'd/f': 'data' },
    check: () => {
      const xattrs = spawnSync('getfattr', ['-h', '-d', '-m', '-', `${rootDir}/d`], { encoding: 'utf8' });
      expect(xattrs.stdout).toBe('');
    },
  },
  'kept-xattrs': { files: { ping: 'binary' } },
  'pax-path-override': { files: { 'outside/escaped': 'pwned' }, absent: ['innocent'] },
  'gnu-longname-override': { files: { 'outside/escaped': 'pwned' }, absent: ['innocent'] },
  'pax-size-smuggling': { files: { carrier: '', 'outside/escaped': 'pwned' } },
  'long-name-over-path-max': refuse('InvalidArgument', `tar entry "${'n'.repeat(120)}…": the name is 5000 bytes, over the limit of 4096`),
  'deep-nesting': refuse('InvalidArgument', `tar entry "${'d/'.repeat(60)}…": the name is 2001 levels deep, over the limit of 256`),
  'negative-size': refuse('InvalidArgument', 'tar entry "negative": size is negative (base-256)'),
  'overflowing-size': refuse('InvalidArgument', `tar entry "huge": size ${1n << 80n} is out of range`),
  'bad-checksum': refuse('InvalidArgument', 'tar entry "forged": header checksum does not match'),
  'non-octal-size': refuse('InvalidArgument', 'tar entry "text-size": size "12abc" is not an octal number'),
  'huge-declared-size': refuse('ResourceExhausted', 'tar entry "petabyte": declares 1000000000000000 bytes, over the limit of 68719476736'),
  'huge-pax-header': refuse('ResourceExhausted', 'tar entry "PaxHeaders.0/entry": PAX header of 8388625 bytes is over the limit of 1048576'),
  'many-entries': refuse('ResourceExhausted', 'tar archive has more than 500 entries'),
  'duplicate-entries': { files: { dup: 'second' } },
  'whiteout-dot': refuse('InvalidArgument', 'tar entry "sub/.wh..": a whiteout of "." is not allowed'),
  'whiteout-dotdot': refuse('InvalidArgument', 'tar entry "sub/.wh...": a whiteout of ".." is not allowed'),
  'whiteout-through-symlink': {
    symlinks: { link: outsideDir },
    check: (mode) => {
      if (mode === 'overlay') expect(isWhiteoutDevice(`${rootDir}/${abs}/victim`)).toBe(true);
      else expect(readdirSync(rootDir)).toEqual(['link']);
    },
  },
  'opaque-through-symlink': {
    symlinks: { link: outsideDir },
    check: (mode) => {
      if (mode === 'native') expect(readdirSync(rootDir)).toEqual(['link']);
      else expect(spawnSync('getfattr', ['-h', '-n', 'trusted.overlay.opaque', '--only-values', `${rootDir}/${abs}`], { encoding: 'utf8' }).stdout).toBe('y');
    },
  },
  'trailing-data': { files: { ok: 'fine' } },
};

/** Every file, its mode and content under the test's base directory except the root: what must never change. */
function outsideState(): Record<string, string> {
  const state: Record<string, string> = {};
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const path = `${dir}/${name}`;
      if (path === rootDir) continue;
      const stats = lstatSync(path);
      state[path] = `${stats.mode.toString(8)} ${stats.uid}:${stats.gid} ${stats.mtimeMs} ${stats.isFile() ? readFileSync(path, 'utf8') : ''}`;
      if (stats.isDirectory()) walk(path);
    }
  };
  walk(hostileBase.path);
  return state;
}

describe('applyLayer with hostile layers (SECURITY.md "Layer tarballs")', () => {
  let before: Record<string, string>;
  beforeAll(() => {
    mkdirSync(outsideDir);
    mkdirSync(sentinelDir);
    for (const [name, content] of Object.entries(HOSTILE_OUTSIDE_FILES)) writeFileSync(`${outsideDir}/${name}`, content);
    writeFileSync(`${sentinelDir}/sentinel`, 'untouched\n');
    before = outsideState();
  });
  afterEach(() => rmSync(rootDir, { recursive: true, force: true }));

  it('has an expectation for every hostile case', () => {
    expect(Object.keys(EXPECTED).sort()).toEqual(cases.map((c) => c.id).sort());
  });

  const table = (['overlay', 'native'] as const).flatMap((mode) => cases.map((c): [string, ApplyMode, string, HostileTarCase] => [c.id, mode, c.description, c]));
  it.each(table)('%s (%s mode): %s', async (id, mode, _description, hostile) => {
    mkdirSync(rootDir);
    const expected = EXPECTED[id]!;
    const applyAll = async () => {
      for (const layer of hostile.layers) await applyTar(layer, rootDir, mode, { limits: LIMITS });
    };
    if ('refuse' in expected) {
      const last = hostile.layers.at(-1)!;
      expect(await caught(applyAll)).toEqual({ kind: expected.refuse.kind, message: `layer ${digestOf(last)}: ${expected.refuse.message}` });
    } else {
      await applyAll();
      for (const [path, content] of Object.entries(expected.files ?? {})) {
        expect(lstatSync(`${rootDir}/${path}`).isFile(), path).toBe(true);
        expect(readFileSync(`${rootDir}/${path}`, 'utf8'), path).toBe(content);
      }
      for (const [path, target] of Object.entries(expected.symlinks ?? {})) expect(readlinkSync(`${rootDir}/${path}`), path).toBe(target);
      for (const path of expected.absent ?? []) expect(() => lstatSync(`${rootDir}/${path}`), path).toThrow(/ENOENT/);
      expected.check?.(mode);
    }
    expect(outsideState()).toEqual(before);
  });

  it('keeps security.capability and user.* xattrs', async () => {
    mkdirSync(rootDir);
    const hostile = cases.find((c) => c.id === 'kept-xattrs')!;
    await applyTar(hostile.layers[0]!, rootDir, 'native');
    const xattrs = (await readTreeXattrs(rootDir)).get('ping') ?? {};
    expect(Object.keys(xattrs).sort()).toEqual(['security.capability', 'user.note']);
    expect(Buffer.from(xattrs['security.capability']!).equals(Buffer.from(NET_BIND_SERVICE_CAPABILITY))).toBe(true);
    expect(xattrs['user.note']!.toString()).toBe('kept');
    expect(lstatSync(`${rootDir}/ping`).mode & 0o7777).toBe(0o755);
  });

  it('counts trailing data after the end marker in the diff_id', async () => {
    mkdirSync(rootDir);
    const tar = cases.find((c) => c.id === 'trailing-data')!.layers[0]!;
    const trailer = Buffer.from('trailing garbage after the end marker');
    const withoutTrailer = digestOf(tar.subarray(0, tar.length - trailer.length));
    expect(await caught(() => applyTar(tar, rootDir, 'native', { diffId: withoutTrailer }))).toEqual({
      kind: 'FailedPrecondition',
      message: `layer ${digestOf(tar)} unpacked to diff_id ${digestOf(tar)}, expected ${withoutTrailer}`,
    });
    rmSync(rootDir, { recursive: true });
    mkdirSync(rootDir);
    expect(await applyTar(tar, rootDir, 'native')).toEqual({ diffId: digestOf(tar), size: tar.length, entries: 1 });
  });
});

describe('applyLayer', () => {
  it('aborts a gzip bomb at the byte cap, quickly and with bounded memory', { timeout: 30_000 }, async () => {
    const bomb = await gzipBombLayer(256 << 20);
    const target = scratch();
    const digest = digestOf(bomb);
    let peak = 0;
    const baseline = process.memoryUsage().rss;
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().rss - baseline);
    }, 5);
    const started = Date.now();
    try {
      const outcome = await caught(() =>
        applyLayer({ blob: [bomb], mediaType: MediaTypes.ociLayerGzip, digest, diffId: digest, target, mode: 'native', limits: { maxBytes: 64 << 20 } }),
      );
      expect(outcome).toEqual({ kind: 'ResourceExhausted', message: `layer ${digest}: decompresses to more than ${64 << 20} bytes` });
    } finally {
      clearInterval(sampler);
    }
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(peak).toBeLessThan(48 << 20);
  });

  it('aborts a bomb by its ratio', async () => {
    const bomb = await gzipBombLayer(16 << 20);
    const digest = digestOf(bomb);
    const outcome = await caught(() =>
      applyLayer({ blob: [bomb], mediaType: MediaTypes.ociLayerGzip, digest, diffId: digest, target: scratch(), mode: 'overlay', limits: { maxRatio: 100, ratioFloor: 1 << 20 } }),
    );
    expect(outcome).toEqual({ kind: 'ResourceExhausted', message: `layer ${digest}: decompresses more than 100 times its compressed size` });
  });

  it('applies a zstd layer through the zstd binary', async () => {
    const tar = await tarBytes(layerTarItems([{ file: 'etc/hello', content: 'zstd works\n', mode: 0o640, uid: 1000, gid: 100 }, { symlink: 'hello', target: 'etc/hello' }], 1_700_000_000));
    const zstd = spawnSync('zstd', ['-q', '-c'], { input: tar });
    expect(zstd.status).toBe(0);
    const blob = new Uint8Array(zstd.stdout);
    const target = scratch();
    const applied = await applyLayer({ blob: [blob], mediaType: MediaTypes.ociLayerZstd, digest: digestOf(blob), diffId: digestOf(tar), target, mode: 'overlay' });
    expect(applied).toEqual({ diffId: digestOf(tar), size: tar.length, entries: 3 });
    expect(await describeTree(target)).toEqual({
      etc: { type: 'directory', mode: '755', uid: 0, gid: 0, mtime: 1_700_000_000 },
      'etc/hello': { type: 'file', mode: '640', uid: 1000, gid: 100, mtime: 1_700_000_000, size: 11, sha256: digestOf('zstd works\n').slice(7) },
      hello: { type: 'symlink', mode: '777', uid: 0, gid: 0, mtime: 1_700_000_000, target: 'etc/hello' },
    });
  });

  it.each([
    [MediaTypes.ociLayerZstd, 'not valid zstd data'],
    [MediaTypes.ociLayerGzip, 'not valid gzip data'],
  ])('refuses corrupt %s data', async (mediaType, message) => {
    const blob = Buffer.from('this is not compressed at all, not even a little');
    const outcome = await caught(() => applyLayer({ blob: [blob], mediaType, digest: digestOf(blob), diffId: digestOf(blob), target: scratch(), mode: 'native' }));
    expect(outcome.kind).toBe('InvalidArgument');
    expect(outcome.message).toContain(`layer ${digestOf(blob)}: ${message}`);
  });

  it.each([
    ['application/vnd.oci.image.layer.v1.tar+lz4', `unsupported layer media type "application/vnd.oci.image.layer.v1.tar+lz4"`],
    [MediaTypes.ociManifest, `unsupported layer media type "${MediaTypes.ociManifest}"`],
  ])('refuses media type %s', async (mediaType, message) => {
    const blob = Buffer.from('x');
    const digest = digestOf(blob);
    expect(await caught(() => applyLayer({ blob: [blob], mediaType, digest, diffId: digest, target: scratch(), mode: 'native' }))).toEqual({
      kind: 'InvalidArgument',
      message: `layer ${digest}: ${message}`,
    });
  });

  it('fails with FailedPrecondition when the diff_id differs', async () => {
    const tar = await tarBytes(layerTarItems([{ file: 'a', content: 'a' }], 0));
    const blob = await gzip(tar);
    const wrong = digestOf('something else');
    const outcome = await caught(() => applyLayer({ blob: [blob], mediaType: MediaTypes.ociLayerGzip, digest: digestOf(blob), diffId: wrong, target: scratch(), mode: 'overlay' }));
    expect(outcome).toEqual({ kind: 'FailedPrecondition', message: `layer ${digestOf(blob)} unpacked to diff_id ${digestOf(tar)}, expected ${wrong}` });
  });

  it('hashes a layer of more than 1 MiB compressed on the worker thread: same diff_id, same tree, mismatch refused', async () => {
    const content = randomBytes(3 << 20);
    const items = [
      { file: 'big/random.bin', content, mode: 0o600 },
      ...Array.from({ length: 200 }, (_, i) => ({ file: `many/f${i}`, content: `file ${i}\n` })),
      { symlink: 'big/link', target: 'random.bin' },
    ];
    const tar = await tarBytes(layerTarItems(items, 1_700_000_000));
    const blob = await gzip(tar);
    expect(blob.length).toBeGreaterThan(1 << 20);
    const chunks = Array.from({ length: Math.ceil(blob.length / 65_536) }, (_, i) => blob.subarray(i * 65_536, (i + 1) * 65_536));
    const target = scratch();
    const applied = await applyLayer({ blob: chunks, mediaType: MediaTypes.ociLayerGzip, digest: digestOf(blob), diffId: digestOf(tar), target, mode: 'overlay' });
    expect(applied).toEqual({ diffId: digestOf(tar), size: tar.length, entries: 204 });
    expect(readFileSync(`${target}/big/random.bin`).equals(content)).toBe(true);
    expect(readlinkSync(`${target}/big/link`)).toBe('random.bin');
    expect(readFileSync(`${target}/many/f199`, 'utf8')).toBe('file 199\n');

    const wrong = digestOf('something else');
    const outcome = await caught(() => applyLayer({ blob: chunks, mediaType: MediaTypes.ociLayerGzip, digest: digestOf(blob), diffId: wrong, target: scratch(), mode: 'native' }));
    expect(outcome).toEqual({ kind: 'FailedPrecondition', message: `layer ${digestOf(blob)} unpacked to diff_id ${digestOf(tar)}, expected ${wrong}` });
  });

  it('replaces what a duplicate entry finds at its name: file, symlink, hardlink and directory over each other', async () => {
    const target = scratch();
    const tar = await tarBytes([
      { entry: { name: 'a', type: 'file' }, data: Buffer.from('first') },
      { entry: { name: 'a', type: 'symlink', linkname: '/etc/passwd' } },
      { entry: { name: 'a', type: 'file' }, data: Buffer.from('second') },
      { entry: { name: 'b', type: 'directory' } },
      { entry: { name: 'b', type: 'symlink', linkname: 'a' } },
      { entry: { name: 'c', type: 'symlink', linkname: 'nowhere' } },
      { entry: { name: 'c', type: 'hardlink', linkname: 'a' } },
      { entry: { name: 'd', type: 'file' }, data: Buffer.from('d') },
      { entry: { name: 'd', type: 'directory' } },
      { entry: { name: 'd/e', type: 'file' }, data: Buffer.from('e') },
    ]);
    await applyTar(tar, target, 'overlay');
    expect(readFileSync(`${target}/a`, 'utf8')).toBe('second');
    expect(readlinkSync(`${target}/b`)).toBe('a');
    expect(lstatSync(`${target}/c`).ino).toBe(lstatSync(`${target}/a`).ino);
    expect(lstatSync(`${target}/d`).isDirectory()).toBe(true);
    expect(readFileSync(`${target}/d/e`, 'utf8')).toBe('e');
  });

  it('lets the last of duplicate entries win, replacing a directory with a file in native mode', async () => {
    const target = scratch();
    const tar = await tarBytes([
      { entry: { name: 'x', type: 'directory' } },
      { entry: { name: 'x/child', type: 'file' }, data: Buffer.from('child') },
      { entry: { name: 'x', type: 'file' }, data: Buffer.from('now a file') },
    ]);
    await applyTar(tar, target, 'native');
    expect(readFileSync(`${target}/x`, 'utf8')).toBe('now a file');
  });
});

describe('whiteouts over a real overlay mount', () => {
  const base = [
    { file: 'etc/keep', content: 'kept\n' },
    { file: 'etc/gone', content: 'deleted above\n' },
    { file: 'data/old1', content: 'hidden by opaque\n' },
    { file: 'data/sub/old2', content: 'hidden by opaque\n' },
    { file: 'top', content: 'lower\n' },
  ];
  const above = [{ whiteout: 'etc/gone' }, { opaque: 'data' }, { file: 'data/new', content: 'new\n' }, { file: 'top', content: 'upper\n' }];

  it('shows the deletion and the opaque directory in the merged view; native mode gives the same tree', async () => {
    const dir = scratch();
    const [lower, upper, work, merged, native] = ['lower', 'upper', 'work', 'merged', 'native'].map((d) => {
      mkdirSync(`${dir}/${d}`);
      return `${dir}/${d}`;
    }) as [string, string, string, string, string];
    const baseTar = await tarBytes(layerTarItems(base, 1_700_000_000));
    const aboveTar = await tarBytes(layerTarItems(above, 1_700_000_100));
    await applyTar(baseTar, lower, 'overlay');
    await applyTar(aboveTar, upper, 'overlay');
    expect(isWhiteoutDevice(`${upper}/etc/gone`)).toBe(true);
    await applyTar(baseTar, native, 'native');
    await applyTar(aboveTar, native, 'native');

    const mount = spawnSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lower},upperdir=${upper},workdir=${work}`, merged], { encoding: 'utf8' });
    expect(mount.stderr).toBe('');
    try {
      expect(readdirSync(`${merged}/etc`)).toEqual(['keep']);
      expect(readdirSync(`${merged}/data`)).toEqual(['new']);
      expect(readFileSync(`${merged}/top`, 'utf8')).toBe('upper\n');
      expect(await describeTree(merged)).toEqual(await describeTree(native));
    } finally {
      spawnSync('umount', [merged]);
    }
  });
});
