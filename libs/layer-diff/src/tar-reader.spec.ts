import { describe, expect, it } from 'vitest';
import { errorKind } from '@strata/kit';
import { HEADER_FIELDS, headerChecksum, tarBytes } from '@strata/tar';
import { endOfArchive, rawEntry, rawGnuLongName, rawPaxHeader } from '@strata/tar/testing';
import { readTar, type TarHeader } from './tar-reader.js';

async function read(archive: Uint8Array, chunk = 7): Promise<Array<Partial<TarHeader> & { content: string }>> {
  const chunks = (function* () {
    for (let at = 0; at < archive.length; at += chunk) yield archive.subarray(at, at + chunk);
  })();
  const out: Array<Partial<TarHeader> & { content: string }> = [];
  for await (const { header, data } of readTar((async function* () { yield* chunks; })())) {
    const parts: Buffer[] = [];
    for await (const part of data()) parts.push(part);
    const { name, type, linkname, size, uid, mtime } = header;
    out.push({ name, type, linkname, size, uid, mtime, content: Buffer.concat(parts).toString() });
  }
  return out;
}

async function failure(archive: Uint8Array): Promise<{ kind: string; message: string }> {
  try {
    await read(archive);
  } catch (err) {
    return { kind: errorKind(err), message: (err as Error).message };
  }
  return expect.fail('expected the archive to be refused');
}

const raw = (...parts: Uint8Array[]) => Buffer.concat([...parts, endOfArchive()]);

describe('readTar', () => {
  it('reads what the tar writer writes, long names and fractional times through PAX, in tiny chunks', async () => {
    const long = `${'dir/'.repeat(40)}file`;
    const archive = await tarBytes([
      { entry: { name: long, type: 'file', uid: 9_999_999, mtime: 1.5 }, data: Buffer.from('long') },
      { entry: { name: 'l', type: 'symlink', linkname: 't'.repeat(300) } },
      { entry: { name: 'h', type: 'hardlink', linkname: long } },
    ]);
    expect(await read(archive)).toEqual([
      { name: long, type: 'file', linkname: '', size: 4, uid: 9_999_999, mtime: 1.5, content: 'long' },
      { name: 'l', type: 'symlink', linkname: 't'.repeat(300), size: 0, uid: 0, mtime: 0, content: '' },
      { name: 'h', type: 'hardlink', linkname: long, size: 0, uid: 0, mtime: 0, content: '' },
    ]);
  });

  it('applies GNU long links and old-style directory names', async () => {
    const archive = raw(
      rawGnuLongName('K', 'long/target'),
      rawEntry({ name: 'link', typeflag: '2', linkname: 'short' }),
      rawEntry({ name: 'olddir/', typeflag: '0' }),
    );
    expect(await read(archive)).toEqual([
      { name: 'link', type: 'symlink', linkname: 'long/target', size: 0, uid: 0, mtime: 0, content: '' },
      { name: 'olddir/', type: 'directory', linkname: '', size: 0, uid: 0, mtime: 0, content: '' },
    ]);
  });

  it('lets a global PAX header set the uid of every later entry', async () => {
    const global = rawEntry({ name: 'pax_global_header', typeflag: 'g' }, Buffer.from('11 uid=777\n'));
    const archive = raw(global, rawEntry({ name: 'a' }), rawEntry({ name: 'b', uid: 5 }));
    expect((await read(archive)).map((e) => e.uid)).toEqual([777, 777]);
  });

  it('reads numbers with spaces and NULs around them, and a checksum written as the signed byte sum (old tars)', async () => {
    const name = 'caf\u00e9-\u00fc';
    const fields = { name, uid: ' 17 ', gid: '\0\0 21\0' };
    const block = rawEntry(fields);
    const [offset, length] = HEADER_FIELDS.checksum;
    const high = block.subarray(0, 512).filter((b, i) => b > 127 && (i < offset || i >= offset + length)).length;
    const signed = headerChecksum(block) - 256 * high;
    const archive = raw(rawEntry({ ...fields, checksum: signed }));
    expect((await read(archive)).map(({ name: n, uid }) => ({ name: n, uid }))).toEqual([{ name, uid: 0o17 }]);
    expect(high).toBeGreaterThan(0);
  });

  it.each([
    ['a wrong header checksum', raw(rawEntry({ name: 'bad', checksum: 1234 })), 'InvalidArgument', 'tar entry "bad": header checksum does not match'],
    ['a non-octal mode', raw(rawEntry({ name: 'm', mode: '12x' })), 'InvalidArgument', 'tar entry "m": mode "12x" is not an octal number'],
    ['digits split by a space', raw(rawEntry({ name: 'g', gid: ' 1 2 ' })), 'InvalidArgument', 'tar entry "g": gid "1 2" is not an octal number'],
    ['a truncated archive', Buffer.concat([rawEntry({ name: 'cut' }, Buffer.from('0123456789'))]).subarray(0, 515), 'InvalidArgument', 'tar entry "cut": the archive ends 7 bytes before the end of its data'],
    ['a partial header', Buffer.alloc(100, 1), 'InvalidArgument', 'tar archive ends inside a header block'],
    ['a sparse file', raw(rawEntry({ name: 'sparse', typeflag: 'S' })), 'InvalidArgument', 'tar entry "sparse": unsupported entry type "S"'],
    ['a PAX sparse record', raw(rawPaxHeader([['GNU.sparse.major', '1']]), rawEntry({ name: 's' })), 'InvalidArgument', 'tar entry "PaxHeaders.0/entry": sparse files (PAX GNU.sparse.major) are not supported'],
    ['a malformed PAX record', raw(rawEntry({ name: 'p', typeflag: 'x' }, Buffer.from('99 path=x\n')), rawEntry({ name: 'q' })), 'InvalidArgument', 'tar entry "p": PAX record of 99 bytes overruns its header'],
    ['a non-numeric PAX size', raw(rawPaxHeader([['size', '12k']]), rawEntry({ name: 'q' })), 'InvalidArgument', 'tar entry "q": PAX size "12k" is not a whole number'],
    ['a long GNU name over PATH_MAX', raw(rawGnuLongName('L', 'x'.repeat(5000)), rawEntry({ name: 'q' })), 'InvalidArgument', 'tar entry "././@LongLink": GNU long name is 5001 bytes, over the limit of 4096'],
    ['a name component over NAME_MAX', raw(rawPaxHeader([['path', `a/${'b'.repeat(256)}`]]), rawEntry({ name: 'q' })), 'InvalidArgument', `tar entry "a/${'b'.repeat(118)}…": a name component is 256 bytes, over the limit of 255`],
    ['a symlink without target', raw(rawEntry({ name: 'dangling', typeflag: '2' })), 'InvalidArgument', 'tar entry "dangling": a symlink without a target'],
  ])('refuses %s', async (_what, archive, kind, message) => {
    expect(await failure(archive)).toEqual({ kind, message });
  });
});
