import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { errorKind, type ErrorKind } from '@strata/kit';
import type { TarEntry } from './tar-entry.js';
import { BLOCK_SIZE, HEADER_FIELDS, headerChecksum, paxRecord, type HeaderFieldName } from './tar-header.js';
import { collectBytes, createTarWriter, encodeEntryHeaders, tarBytes, type TarItem } from './tar-writer.js';

async function failure(action: () => Promise<unknown> | unknown): Promise<{ kind: ErrorKind; message: string }> {
  try {
    await action();
  } catch (err) {
    return { kind: errorKind(err), message: (err as Error).message };
  }
  throw new Error('expected a failure, but it succeeded');
}

function field(block: Uint8Array, name: HeaderFieldName): string {
  const [offset, length] = HEADER_FIELDS[name];
  const bytes = Buffer.from(block.subarray(offset, offset + length));
  const end = bytes.indexOf(0);
  return bytes.subarray(0, end === -1 ? length : end).toString('utf8');
}

const sample: TarItem[] = [
  { entry: { name: 'etc', type: 'directory', mtime: 1_700_000_000 } },
  { entry: { name: 'etc/hostname', type: 'file', mode: 0o600, uid: 1000, gid: 1000, uname: 'user', gname: 'users' }, data: Buffer.from('box\n') },
  { entry: { name: 'bin/sh', type: 'symlink', linkname: 'busybox' } },
];

describe('encodeEntryHeaders', () => {
  it('writes a ustar header with a valid checksum, default modes and a trailing slash on directories', () => {
    const dir = encodeEntryHeaders({ name: 'etc', type: 'directory' }, 0);
    expect(dir.length).toBe(BLOCK_SIZE);
    expect(field(dir, 'name')).toBe('etc/');
    expect(field(dir, 'mode')).toBe('0000755');
    expect(field(dir, 'typeflag')).toBe('5');
    expect(field(dir, 'magic')).toBe('ustar');
    expect(field(dir, 'version')).toBe('00');
    expect(parseInt(field(dir, 'checksum'), 8)).toBe(headerChecksum(dir));
    const file = encodeEntryHeaders({ name: 'f', type: 'file', uid: 7, mtime: 1_700_000_000 }, 5);
    expect([field(file, 'mode'), field(file, 'uid'), field(file, 'size'), field(file, 'mtime')]).toEqual([
      '0000644',
      '0000007',
      '00000000005',
      (1_700_000_000).toString(8).padStart(11, '0'),
    ]);
    expect(field(encodeEntryHeaders({ name: 'l', type: 'symlink', linkname: 't' }, 0), 'mode')).toBe('0000777');
  });

  it('splits a long name into prefix and name at a slash, and uses PAX when it cannot', () => {
    const name = `${'p'.repeat(120)}/${'n'.repeat(90)}`;
    const split = encodeEntryHeaders({ name, type: 'file' }, 0);
    expect(split.length).toBe(BLOCK_SIZE);
    expect(field(split, 'prefix')).toBe('p'.repeat(120));
    expect(field(split, 'name')).toBe('n'.repeat(90));

    const unsplittable = `${'p'.repeat(10)}/${'n'.repeat(120)}`;
    const pax = encodeEntryHeaders({ name: unsplittable, type: 'file' }, 0);
    expect(pax.length).toBe(3 * BLOCK_SIZE);
    expect(field(pax, 'typeflag')).toBe('x');
    expect(field(pax, 'name')).toBe(`PaxHeaders.0/${'n'.repeat(120)}`.slice(0, 100));
    expect(Buffer.from(pax.subarray(BLOCK_SIZE, 2 * BLOCK_SIZE)).toString('utf8')).toContain(` path=${unsplittable}\n`);
  });

  it('puts values ustar cannot hold into PAX records', () => {
    const headers = encodeEntryHeaders(
      {
        name: 'big',
        type: 'file',
        uid: 0o10000000,
        gid: 5,
        uname: 'u'.repeat(40),
        mtime: 1.5,
        linkname: undefined,
        xattrs: { 'user.b': 'two', 'security.capability': Uint8Array.from([1, 0, 0, 2]) },
        pax: { comment: 'made by a test' },
      },
      2 ** 33 + 5,
    );
    const records = Buffer.from(headers.subarray(BLOCK_SIZE, headers.length - BLOCK_SIZE)).toString('latin1').replace(/\0+$/, '');
    expect(records).toBe(
      [
        '19 size=8589934597\n',
        '15 uid=2097152\n',
        `50 uname=${'u'.repeat(40)}\n`,
        '13 mtime=1.5\n',
        '41 SCHILY.xattr.security.capability=\x01\x00\x00\x02\n',
        '27 SCHILY.xattr.user.b=two\n',
        '26 comment=made by a test\n',
      ].join(''),
    );
    const ustar = headers.subarray(headers.length - BLOCK_SIZE);
    expect([field(ustar, 'size'), field(ustar, 'uid'), field(ustar, 'gid'), field(ustar, 'uname'), field(ustar, 'mtime')]).toEqual([
      '00000000000',
      '0000000',
      '0000005',
      '',
      '00000000000',
    ]);
  });

  it('writes devices with their numbers and long link targets in PAX', () => {
    const dev = encodeEntryHeaders({ name: 'dev/null', type: 'char-device', devmajor: 1, devminor: 3 }, 0);
    expect([field(dev, 'typeflag'), field(dev, 'devmajor'), field(dev, 'devminor')]).toEqual(['3', '0000001', '0000003']);
    const target = 't'.repeat(150);
    const link = encodeEntryHeaders({ name: 'l', type: 'hardlink', linkname: target }, 0);
    expect(Buffer.from(link).toString('utf8')).toContain(` linkpath=${target}\n`);
  });

  it.each<[string, TarEntry, number, string]>([
    ['empty name', { name: '', type: 'file' }, 0, 'tar entry "": the name is empty'],
    ['NUL in name', { name: 'a\0b', type: 'file' }, 0, 'tar entry "a\\u0000b": the name contains NUL'],
    ['unknown type', { name: 'x', type: 'socket' as TarEntry['type'] }, 0, 'tar entry "x": unknown type "socket"'],
    ['symlink without target', { name: 'l', type: 'symlink' }, 0, 'tar entry "l": a symlink needs a linkname'],
    ['linkname on a file', { name: 'f', type: 'file', linkname: 'x' }, 0, 'tar entry "f": only links have a linkname'],
    ['NUL in linkname', { name: 'l', type: 'symlink', linkname: 'a\0' }, 0, 'tar entry "l": the linkname contains NUL'],
    ['device numbers on a file', { name: 'f', type: 'file', devmajor: 1 }, 0, 'tar entry "f": only devices have devmajor and devminor'],
    ['mode with type bits', { name: 'f', type: 'file', mode: 0o100644 }, 0, 'tar entry "f": mode 33188 is not a whole number in 0..4095'],
    ['negative uid', { name: 'f', type: 'file', uid: -1 }, 0, 'tar entry "f": uid -1 is not a whole number in 0..9007199254740991'],
    ['huge devmajor', { name: 'd', type: 'block-device', devmajor: 0o10000000 }, 0, 'tar entry "d": devmajor 2097152 is not a whole number in 0..2097151'],
    ['data on a directory', { name: 'd', type: 'directory' }, 3, 'tar entry "d": only files have data, but size is 3'],
    ['an mtime that is not a time', { name: 'f', type: 'file', mtime: Number.NaN }, 0, 'tar entry "f": mtime NaN is not a time in seconds'],
    ['= in an xattr name', { name: 'f', type: 'file', xattrs: { 'user.a=b': 'x' } }, 0, 'tar entry "f": PAX key "SCHILY.xattr.user.a=b" is empty or contains "=" or NUL'],
  ])('refuses %s with InvalidArgument', async (_case, entry, size, message) => {
    expect(await failure(() => encodeEntryHeaders(entry, size))).toEqual({ kind: 'InvalidArgument', message });
  });
});

describe('paxRecord', () => {
  it('counts its own length, also where the length gains a digit', () => {
    expect(Buffer.from(paxRecord('path', 'x')).toString()).toBe('9 path=x\n');
    const at99 = paxRecord('k', 'v'.repeat(93));
    expect(at99.length).toBe(99);
    expect(Buffer.from(at99).toString().startsWith('99 k=')).toBe(true);
    const at101 = paxRecord('k', 'v'.repeat(94));
    expect(at101.length).toBe(101);
    expect(Buffer.from(at101).toString().startsWith('101 k=')).toBe(true);
  });
});

describe('createTarWriter', () => {
  it('gives the same bytes for the same entries, ending with two zero blocks', async () => {
    const a = await tarBytes(sample);
    const b = await tarBytes(sample);
    expect(Buffer.compare(a, b)).toBe(0);
    expect(a.length).toBe(6 * BLOCK_SIZE);
    expect(a.subarray(a.length - 2 * BLOCK_SIZE).every((x) => x === 0)).toBe(true);
    expect(createHash('sha256').update(a).digest('hex')).toBe(createHash('sha256').update(b).digest('hex'));
  });

  it('streams data of a declared size and pads it to a block', async () => {
    const writer = createTarWriter();
    const collected = collectBytes(writer.stream);
    const chunks = async function* () {
      yield Buffer.from('hello ');
      yield Buffer.from('world');
    };
    await writer.add({ name: 'greeting', type: 'file', size: 11 }, chunks());
    await writer.finish({ trailer: Buffer.from('after') });
    const bytes = await collected;
    expect(bytes.length).toBe(4 * BLOCK_SIZE + 5);
    expect(Buffer.from(bytes.subarray(BLOCK_SIZE, BLOCK_SIZE + 11)).toString()).toBe('hello world');
    expect(Buffer.from(bytes.subarray(bytes.length - 5)).toString()).toBe('after');
    expect(writer.bytesWritten).toBe(bytes.length);
  });

  it.each<[string, TarEntry, Uint8Array | undefined, string]>([
    ['size differing from the bytes', { name: 'f', type: 'file', size: 2 }, Buffer.from('abc'), 'tar entry "f": size 2 differs from the 3 bytes given'],
    ['a declared size without data', { name: 'f', type: 'file', size: 2 }, undefined, 'tar entry "f": declares 2 bytes but no data was given'],
  ])('refuses %s before writing, and stays usable', async (_case, entry, data, message) => {
    const writer = createTarWriter();
    const collected = collectBytes(writer.stream);
    expect(await failure(() => writer.add(entry, data))).toEqual({ kind: 'InvalidArgument', message });
    await writer.add({ name: 'ok', type: 'file' }, Buffer.from('x'));
    await writer.finish();
    expect((await collected).length).toBe(4 * BLOCK_SIZE);
  });

  it.each([
    ['shorter', 5, 'tar entry "f": data ended after 3 of 5 bytes'],
    ['longer', 2, 'tar entry "f": data is longer than the declared size 2'],
  ])('fails the writer when streamed data is %s than declared', async (_case, size, message) => {
    const writer = createTarWriter();
    const collected = collectBytes(writer.stream);
    const data = async function* () {
      yield Buffer.from('abc');
    };
    expect(await failure(() => writer.add({ name: 'f', type: 'file', size }, data()))).toEqual({ kind: 'InvalidArgument', message });
    expect(await failure(() => collected)).toEqual({ kind: 'InvalidArgument', message });
    expect(await failure(() => writer.add({ name: 'g', type: 'file' }))).toEqual({
      kind: 'FailedPrecondition',
      message: `tar writer failed earlier: ${message}`,
    });
  });

  it('refuses entries after finish', async () => {
    const writer = createTarWriter();
    const collected = collectBytes(writer.stream);
    await writer.finish();
    await collected;
    expect(await failure(() => writer.add({ name: 'late', type: 'file' }))).toEqual({
      kind: 'FailedPrecondition',
      message: 'tar writer is finished; create a new one',
    });
    expect(await failure(() => writer.finish())).toEqual({ kind: 'FailedPrecondition', message: 'tar writer is finished; create a new one' });
  });

  it('waits for its reader (backpressure) and fails with Canceled when the reader goes away', async () => {
    const writer = createTarWriter({ highWaterMark: 1024 });
    let done = false;
    const adding = writer.add({ name: 'big', type: 'file' }, new Uint8Array(64 * 1024)).then(() => {
      done = true;
    });
    await new Promise((r) => setTimeout(r, 20));
    expect(done).toBe(false);
    expect(writer.bytesWritten).toBe(BLOCK_SIZE + 64 * 1024);
    writer.stream.destroy();
    expect(await failure(() => adding)).toEqual({ kind: 'Canceled', message: 'tar stream was closed by its reader' });
  });

  it('keeps the order of calls made without waiting', async () => {
    const writer = createTarWriter();
    const collected = collectBytes(writer.stream);
    const names = ['c', 'a', 'b'];
    await Promise.all([...names.map((name) => writer.add({ name, type: 'file' }, Buffer.from(name))), writer.finish()]);
    const bytes = await collected;
    expect([0, 2, 4].map((block) => field(bytes.subarray(block * BLOCK_SIZE), 'name'))).toEqual(names);
  });
});
