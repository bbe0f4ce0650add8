import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, linkSync, mkdirSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { errorKind } from '@strata/kit';
import { tempDir } from '@strata/kit/testing';
import { MediaTypes, digestOf } from '@strata/oci';
import { collectBytes, createParallelGzip, gunzip, tarBytes } from '@strata/tar';
import { gnuTar } from '@strata/tar/testing';
import { layerTarItems, type LayerItem } from '@strata/image-fixtures';
import { applyLayer, type ApplyMode } from './apply-layer.js';
import { diffLayer, type LayerDiffResult } from './diff-layer.js';
import { setXattr } from './fs-tools.js';
import { describeTree } from './testing/tree.js';

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
});

function dirs(...names: string[]): string[] {
  const base = tempDir('strata-layer-diff-');
  cleanups.push(base.remove);
  return names.map((name) => {
    mkdirSync(`${base.path}/${name}`);
    return `${base.path}/${name}`;
  });
}

function run(command: string, args: string[]): void {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  expect(result.stderr, `${command} ${args.join(' ')}`).toBe('');
  expect(result.status).toBe(0);
}

function mountOverlay(lower: string, upper: string, work: string, merged: string): void {
  run('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lower},upperdir=${upper},workdir=${work}`, merged]);
  cleanups.push(() => spawnSync('umount', [merged]));
}

async function applyItems(items: LayerItem[], target: string, mode: ApplyMode, mtime: number): Promise<void> {
  const tar = await tarBytes(layerTarItems(items, mtime));
  await applyLayer({ blob: [tar], mediaType: MediaTypes.ociLayer, digest: digestOf(tar), diffId: digestOf(tar), target, mode });
}

async function diffBytes(...args: Parameters<typeof diffLayer>): Promise<{ blob: Uint8Array; result: LayerDiffResult }> {
  const diff = diffLayer(...args);
  const blob = await collectBytes(diff.stream);
  return { blob, result: await diff.result };
}

const BASE: LayerItem[] = [
  { file: 'etc/keep', content: 'kept\n' },
  { file: 'etc/change', content: 'before\n', mode: 0o600 },
  { file: 'etc/remove', content: 'gone soon\n' },
  { file: 'etc/chmod', content: 'mode changes\n' },
  { file: 'data/a', content: 'lower a\n' },
  { file: 'data/sub/b', content: 'lower b\n' },
  { symlink: 'link', target: 'etc/keep' },
  { dir: 'empty' },
];

/** The same changes, made through an overlay mount or directly in a native copy. */
function modify(root: string): void {
  writeFileSync(`${root}/etc/change`, 'after, and longer\n');
  unlinkSync(`${root}/etc/remove`);
  chmodSync(`${root}/etc/chmod`, 0o700);
  writeFileSync(`${root}/etc/added`, 'added\n');
  mkdirSync(`${root}/new/deep/er`, { recursive: true });
  writeFileSync(`${root}/new/deep/er/${'long-name-'.repeat(12)}`, 'needs PAX\n');
  writeFileSync(`${root}/new/hard1`, 'linked\n');
  linkSync(`${root}/new/hard1`, `${root}/new/hard2`);
  symlinkSync('../etc/added', `${root}/new/link`);
  setXattr(`${root}/etc/added`, 'user.origin', Buffer.from('test'));
  rmSync(`${root}/data`, { recursive: true });
  mkdirSync(`${root}/data`);
  writeFileSync(`${root}/data/fresh`, 'fresh\n');
  rmSync(`${root}/empty`, { recursive: true });
}

describe('diffLayer', () => {
  it('round-trips overlay changes: apply layers, change through a mount, diff, apply onto a fresh copy', async () => {
    const [lower, upper, work, merged, copy, upper2, work2, merged2] = dirs('lower', 'upper', 'work', 'merged', 'copy', 'upper2', 'work2', 'merged2');
    await applyItems(BASE, lower!, 'overlay', 1_700_000_000);
    await applyItems([{ file: 'etc/second', content: 'second layer\n' }], lower!, 'overlay', 1_700_000_100);
    mountOverlay(lower!, upper!, work!, merged!);
    modify(merged!);
    const expected = await describeTree(merged!);
    run('umount', [merged!]);

    const { blob, result } = await diffBytes({ mode: 'overlay', upper: upper! });
    expect(result.digest).toBe(digestOf(blob));
    expect(result.size).toBe(blob.length);
    const tar = await gunzip(blob);
    expect(result.diffId).toBe(digestOf(tar));
    expect(result.uncompressedSize).toBe(tar.length);
    expect(result.mediaType).toBe(MediaTypes.ociLayerGzip);

    const listing = await gnuTar(['-tf', '-'], tar);
    expect(listing.code).toBe(0);
    expect(listing.stdout.trimEnd().split('\n')).toEqual([
      'data/',
      'data/.wh..wh..opq',
      'data/fresh',
      '.wh.empty',
      'etc/',
      'etc/added',
      'etc/change',
      'etc/chmod',
      '.wh.remove'.replace('.wh.', 'etc/.wh.'),
      'new/',
      'new/deep/',
      'new/deep/er/',
      `new/deep/er/${'long-name-'.repeat(12)}`,
      'new/hard1',
      'new/hard2',
      'new/link',
    ]);
    const verbose = await gnuTar(['-tvf', '-', '--xattrs', '--xattrs-include=*'], tar);
    expect(verbose.stdout).toMatch(/^hrw-r--r-- .* new\/hard2 link to new\/hard1$/m);
    expect(verbose.stdout).toMatch(/^lrwxrwxrwx .* new\/link -> \.\.\/etc\/added$/m);
    const extracted = dirs('gnu')[0]!;
    const extract = await gnuTar(['-xpf', '-', '--xattrs', '--xattrs-include=user.*', '-C', extracted], tar);
    expect(extract.stderr).toBe('');
    expect(extract.code).toBe(0);
    expect((await describeTree(extracted))['etc/added']?.xattrs).toEqual({ 'user.origin': Buffer.from('test').toString('hex') });

    // Native: onto a fresh copy of the lower tree.
    run('cp', ['-a', `${lower}/.`, copy!]);
    const applied = await applyLayer({ blob: [blob], mediaType: MediaTypes.ociLayerGzip, digest: result.digest, diffId: result.diffId, target: copy!, mode: 'native' });
    expect(applied).toEqual({ diffId: result.diffId, size: tar.length, entries: 16 });
    expect(await describeTree(copy!)).toEqual(expected);

    // Overlay: into a fresh upper over the same lower.
    await applyLayer({ blob: [blob], mediaType: MediaTypes.ociLayerGzip, digest: result.digest, diffId: result.diffId, target: upper2!, mode: 'overlay' });
    mountOverlay(lower!, upper2!, work2!, merged2!);
    expect(await describeTree(merged2!)).toEqual(expected);
  });

  it('round-trips native changes: compares the tree with its parent', async () => {
    const [parent, child, copy] = dirs('parent', 'child', 'copy');
    await applyItems(BASE, parent!, 'native', 1_700_000_000);
    run('cp', ['-a', `${parent}/.`, child!]);
    modify(child!);
    const { blob, result } = await diffBytes({ mode: 'native', upper: child!, lower: parent! });
    const tar = await gunzip(blob);
    const listing = await gnuTar(['-tf', '-'], tar);
    expect(listing.stdout.trimEnd().split('\n')).toEqual([
      '.wh.empty',
      'data/',
      'data/.wh.a',
      'data/.wh.sub',
      'data/fresh',
      'etc/',
      'etc/.wh.remove',
      'etc/added',
      'etc/change',
      'etc/chmod',
      'new/',
      'new/deep/',
      'new/deep/er/',
      `new/deep/er/${'long-name-'.repeat(12)}`,
      'new/hard1',
      'new/hard2',
      'new/link',
    ]);
    run('cp', ['-a', `${parent}/.`, copy!]);
    await applyLayer({ blob: [blob], mediaType: MediaTypes.ociLayerGzip, digest: result.digest, diffId: result.diffId, target: copy!, mode: 'native' });
    expect(await describeTree(copy!)).toEqual(await describeTree(child!));
  });

  it('writes nothing for an unchanged tree and the same bytes every time', async () => {
    const [parent, child] = dirs('parent', 'child');
    await applyItems(BASE, parent!, 'native', 1_700_000_000);
    run('cp', ['-a', `${parent}/.`, child!]);
    const first = await diffBytes({ mode: 'native', upper: child!, lower: parent! });
    expect(first.result.entries).toBe(0);
    const second = await diffBytes({ mode: 'native', upper: child!, lower: parent! });
    expect(second.result).toEqual(first.result);
  });

  it('compresses the tar a 1 MiB piece at a time, so the same tree gives the same gzip bytes however the stream is read', async () => {
    const [upper] = dirs('upper');
    for (let i = 0; i < 24; i++) {
      const text = Buffer.from(`file ${i}: ${'some repeated text '.repeat(8)}\n`.repeat(1200));
      writeFileSync(`${upper}/f${i}`, Buffer.concat([randomBytes(100_000), text]));
    }
    const diff = diffLayer({ mode: 'overlay', upper: upper! });
    const parts: Buffer[] = [];
    for await (const part of diff.stream) {
      parts.push(part as Buffer);
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    const blob = Buffer.concat(parts);
    const result = await diff.result;
    const tar = Buffer.from(await gunzip(blob));
    expect(tar.length).toBeGreaterThan(5 << 20);
    expect({ digest: digestOf(blob), size: blob.length, diffId: digestOf(tar), uncompressedSize: tar.length }).toEqual({
      digest: result.digest,
      size: result.size,
      diffId: result.diffId,
      uncompressedSize: result.uncompressedSize,
    });
    const gzip = createParallelGzip({ level: 6 });
    const expected = collectBytes(gzip);
    for (let at = 0; at < tar.length; at += 1 << 20) gzip.write(tar.subarray(at, at + (1 << 20)));
    gzip.end();
    expect(Buffer.from(await expected).equals(blob)).toBe(true);
    expect((await diffBytes({ mode: 'overlay', upper: upper! })).result).toEqual(result);
  });

  it.each([
    [{ mode: 'overlay' as const, upper: '/nonexistent/strata-upper' }, 'NotFound', 'upper directory /nonexistent/strata-upper does not exist'],
    [{ mode: 'native' as const, upper: '/etc/hostname' }, 'InvalidArgument', 'upper directory /etc/hostname is not a directory'],
  ])('rejects %j', async (options, kind, message) => {
    const diff = diffLayer(options);
    diff.stream.resume();
    diff.stream.on('error', () => undefined);
    let error: unknown;
    try {
      await diff.result;
    } catch (err) {
      error = err;
    }
    expect({ kind: errorKind(error), message: (error as Error).message }).toEqual({ kind, message });
  });
});

describe('diffLayer with the mount points of a runtime', () => {
  it.each(['overlay', 'native'] as const)('leaves the mount points runc made out of a %s diff', async (mode) => {
    const [lower, upper] = dirs('lower', 'upper');
    mkdirSync(`${lower}/etc`);
    writeFileSync(`${lower}/etc/passwd`, 'root:x:0:0::/root:/bin/sh\n');
    if (mode === 'native') spawnSync('cp', ['-a', `${lower}/.`, upper!]);
    // What runc leaves in a container's layer: empty files to bind /etc files onto, /proc, and a volume's directory.
    mkdirSync(`${upper}/etc`, { recursive: true });
    for (const f of ['hostname', 'hosts']) writeFileSync(`${upper}/etc/${f}`, '');
    mkdirSync(`${upper}/proc`);
    mkdirSync(`${upper}/data/vol`, { recursive: true });
    writeFileSync(`${upper}/made`, 'x\n');
    const mountPoints = ['/proc', '/etc/hostname', '/etc/hosts', '/etc/resolv.conf', '/data/vol'];
    const options = mode === 'overlay' ? { mode, upper: upper!, lowers: [lower!], mountPoints } : { mode, upper: upper!, lower: lower!, mountPoints };
    const { blob } = await diffBytes(options);
    const listing = await gnuTar(['-tf', '-'], await gunzip(blob));
    // The copied-up /etc keeps its mode and owner: in the native tree it stays (its mtime changed), the overlay has no other change in it.
    expect(listing.stdout.trimEnd().split('\n')).toEqual(mode === 'overlay' ? ['made'] : ['etc/', 'made']);
  });
});

describe('diffLayer without compression', () => {
  it('streams the plain tar, its digest the diff_id', async () => {
    const [upper] = dirs('upper');
    writeFileSync(`${upper}/a`, 'a\n');
    mkdirSync(`${upper}/d`);
    const { blob, result } = await diffBytes({ mode: 'native', upper: upper!, compress: false });
    expect(result).toMatchObject({ mediaType: MediaTypes.ociLayer, diffId: digestOf(blob), digest: digestOf(blob), size: blob.length, uncompressedSize: blob.length });
    expect((await gnuTar(['-tf', '-'], blob)).stdout.trimEnd().split('\n')).toEqual(['a', 'd/']);
  });
});
