import { isAbsolute, relative } from 'node:path';
import { createGzip } from 'node:zlib';
import { invalidArgument } from '@strata/kit';
import type { TarEntry } from '../tar-entry.js';
import { collectBytes, createTarWriter, tarBytes, type TarItem } from '../tar-writer.js';
import { endOfArchive, rawEntry, rawGnuLongName, rawPaxHeader } from './raw-entry.js';

/** The attack classes of SECURITY.md "Layer tarballs" that hostile cases belong to. */
export type HostileAttack =
  | 'path-traversal'
  | 'absolute-name'
  | 'nul-in-name'
  | 'symlink-write-through'
  | 'hardlink-escape'
  | 'device-node'
  | 'xattr'
  | 'bomb'
  | 'duplicate-entry'
  | 'whiteout-abuse'
  | 'header-override'
  | 'malformed-header'
  | 'trailing-data';

/** One hostile archive (or sequence of layers) and what a safe extractor does with it. */
export interface HostileTarCase {
  /** Short unique name, e.g. `symlink-then-write-through`. */
  id: string;
  attack: HostileAttack;
  /** What the archive tries. */
  description: string;
  /** What a safe extractor does: refuse it, or apply it without touching anything outside the root. */
  safeOutcome: string;
  /** Uncompressed tar archives applied in order, each as its own layer. */
  layers: Uint8Array[];
}

/** Where a test extracts hostile archives; both directories exist and neither contains the other. */
export interface HostileTarOptions {
  /** Absolute path of the directory the extractor writes into. */
  rootDir: string;
  /**
   * Absolute path of a directory outside rootDir that a broken extractor
   * would write to. Fill it with {@link HOSTILE_OUTSIDE_FILES} first; after
   * each case it must hold exactly those, unchanged.
   */
  outsideDir: string;
  /** Entries of the many-entries bomb; 20 000 by default. */
  bombEntries?: number;
}

/** Files a test puts in outsideDir before a hostile case: targets of the hardlink and whiteout attacks. */
export const HOSTILE_OUTSIDE_FILES: Readonly<Record<string, string>> = {
  target: 'host secret\n',
  victim: 'must survive\n',
};

const text = (s: string): Uint8Array => Buffer.from(s);
const file = (name: string, content: string, extra: Partial<TarEntry> = {}): TarItem => ({
  entry: { name, type: 'file', ...extra },
  data: text(content),
});
const dir = (name: string, extra: Partial<TarEntry> = {}): TarItem => ({ entry: { name, type: 'directory', ...extra } });
const symlink = (name: string, linkname: string): TarItem => ({ entry: { name, type: 'symlink', linkname } });
const hardlink = (name: string, linkname: string): TarItem => ({ entry: { name, type: 'hardlink', linkname } });

const raw = (...parts: Uint8Array[]): Uint8Array => Buffer.concat([...parts, endOfArchive()]);

/** A `security.capability` value (VFS_CAP_REVISION_2) granting cap_net_bind_service, as setcap writes it. */
export const NET_BIND_SERVICE_CAPABILITY: Uint8Array = Uint8Array.from([
  0x01, 0x00, 0x00, 0x02, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
]);

/**
 * The catalogue of hostile layer archives for secure-apply tests, one case
 * per attack a layer tarball can carry (SECURITY.md "Layer tarballs"). Names
 * that try to escape point at outsideDir, absolute or relative to rootDir,
 * so a test sees an escape as a change there. Raises InvalidArgument when
 * the directories are not absolute or one contains the other.
 */
export async function hostileTarCases(options: HostileTarOptions): Promise<HostileTarCase[]> {
  const { rootDir, outsideDir } = options;
  if (!isAbsolute(rootDir) || !isAbsolute(outsideDir)) throw invalidArgument('hostile tar cases need absolute rootDir and outsideDir');
  const up = relative(rootDir, outsideDir);
  const outsideInRoot = !up.startsWith('..');
  const rootInOutside = !relative(outsideDir, rootDir).startsWith('..');
  if (outsideInRoot || rootInOutside) {
    throw invalidArgument(`hostile tar cases: ${outsideDir} and ${rootDir} must not contain each other`);
  }
  const bombEntries = options.bombEntries ?? 20_000;
  const cases: HostileTarCase[] = [];
  const add = async (id: string, attack: HostileAttack, description: string, safeOutcome: string, layers: Array<Iterable<TarItem> | Uint8Array>) => {
    cases.push({
      id,
      attack,
      description,
      safeOutcome,
      layers: await Promise.all(layers.map((layer) => (layer instanceof Uint8Array ? layer : tarBytes(layer)))),
    });
  };
  const contain = 'nothing outside the root changes';
  const refuse = 'the layer is refused; nothing outside the root changes';

  await add('dotdot-name', 'path-traversal', `a file named ${up}/escaped`, contain, [[file(`${up}/escaped`, 'pwned')]]);
  await add('dotdot-inside-name', 'path-traversal', 'a name that climbs out through a directory it names', contain, [
    [dir('a'), file(`a/../${up}/escaped`, 'pwned')],
  ]);
  await add('absolute-name', 'absolute-name', `a file named ${outsideDir}/escaped`, contain, [[file(`${outsideDir}/escaped`, 'pwned')]]);
  await add('nul-in-ustar-name', 'nul-in-name', 'a ustar name with a NUL followed by a traversal', contain, [
    raw(rawEntry({ name: text(`safe\0${up}/escaped`) }, text('pwned'))),
  ]);
  await add('nul-in-pax-path', 'nul-in-name', 'a PAX path with a NUL followed by a traversal', refuse, [
    raw(rawPaxHeader([['path', text(`safe\0/${up}/escaped`)]]), rawEntry({ name: 'innocent' }, text('pwned'))),
  ]);

  await add('symlink-then-write-through', 'symlink-write-through', 'a symlink to outside, then a file written through it', contain, [
    [symlink('link', outsideDir), file('link/escaped', 'pwned')],
  ]);
  await add('relative-symlink-then-write-through', 'symlink-write-through', 'a relative symlink climbing out, then a file through it', contain, [
    [symlink('link', up), file('link/escaped', 'pwned')],
  ]);
  await add('symlink-chain-then-write-through', 'symlink-write-through', 'a symlink to a symlink to outside, then a file through both', contain, [
    [symlink('b', outsideDir), symlink('a', 'b'), file('a/escaped', 'pwned')],
  ]);
  await add('symlink-then-write-through-later-layer', 'symlink-write-through', 'a symlink in one layer, a file through it in the next', contain, [
    [symlink('link', outsideDir)],
    [file('link/escaped', 'pwned')],
  ]);
  await add('symlink-overwrite-target', 'symlink-write-through', 'a symlink to an outside file, then a file of the same name', contain, [
    [symlink('victim', `${outsideDir}/victim`), file('victim', 'pwned')],
  ]);
  await add('symlink-replaced-by-directory', 'symlink-write-through', 'a symlink to outside, then a directory of that name with mode 0777 (chmod through it?)', contain, [
    [symlink('etc', outsideDir), dir('etc', { mode: 0o777 }), file('etc/escaped', 'pwned')],
  ]);

  await add('hardlink-absolute-outside', 'hardlink-escape', 'a hardlink to a host file by absolute name, then a write to it', refuse, [
    [hardlink('stolen', `${outsideDir}/target`), file('stolen', 'pwned')],
  ]);
  await add('hardlink-relative-outside', 'hardlink-escape', 'a hardlink climbing out to a host file', refuse, [[hardlink('stolen', `${up}/target`)]]);
  await add('hardlink-through-symlink', 'hardlink-escape', 'a hardlink whose target passes a symlink to outside', refuse, [
    [symlink('out', outsideDir), hardlink('stolen', 'out/target')],
  ]);
  await add('pax-linkpath-override', 'header-override', 'a PAX linkpath to outside overriding an innocent ustar linkname', refuse, [
    raw(
      rawEntry({ name: 'innocent' }, text('x')),
      rawPaxHeader([['linkpath', `${outsideDir}/target`]]),
      rawEntry({ name: 'stolen', typeflag: '1', linkname: 'innocent', size: 0 }),
    ),
  ]);

  await add('char-device', 'device-node', 'a character device (/dev/mem, 1:1)', refuse, [
    [dir('dev'), { entry: { name: 'dev/mem', type: 'char-device', devmajor: 1, devminor: 1, mode: 0o666 } }],
  ]);
  await add('block-device', 'device-node', 'a block device (8:0)', refuse, [
    [dir('dev'), { entry: { name: 'dev/sda', type: 'block-device', devmajor: 8, devminor: 0, mode: 0o666 } }],
  ]);
  await add('whiteout-device', 'device-node', "overlay's own whiteout, a 0:0 character device, in a layer", 'the only device a layer may carry; treated as a deletion', [
    [{ entry: { name: 'removed', type: 'char-device', devmajor: 0, devminor: 0 } }],
  ]);

  await add('trusted-overlay-opaque-xattr', 'xattr', 'a directory forging trusted.overlay.opaque=y', 'the trusted.* xattr is dropped; the directory and file are applied', [
    [dir('d', { xattrs: { 'trusted.overlay.opaque': 'y' } }), file('d/f', 'data')],
  ]);
  await add('kept-xattrs', 'xattr', 'security.capability (binary) and user.* xattrs', 'both are kept', [
    [file('ping', 'binary', { mode: 0o755, xattrs: { 'security.capability': NET_BIND_SERVICE_CAPABILITY, 'user.note': 'kept' } })],
  ]);

  await add('pax-path-override', 'header-override', 'a PAX path to outside overriding an innocent ustar name', contain, [
    raw(rawPaxHeader([['path', `${up}/escaped`]]), rawEntry({ name: 'innocent' }, text('pwned'))),
  ]);
  await add('gnu-longname-override', 'header-override', 'a GNU long name to outside overriding an innocent ustar name', contain, [
    raw(rawGnuLongName('L', `${up}/escaped`), rawEntry({ name: 'innocent' }, text('pwned'))),
  ]);
  const smuggled = rawEntry({ name: `${up}/escaped` }, text('pwned'));
  await add('pax-size-smuggling', 'header-override', 'a PAX size of 0 over a ustar size whose data hides another header', contain, [
    raw(rawPaxHeader([['size', '0']]), rawEntry({ name: 'carrier', size: smuggled.length }), smuggled),
  ]);
  await add('long-name-over-path-max', 'header-override', 'a 5000-byte name in a PAX path', refuse, [[file('n'.repeat(5000), 'x')]]);
  await add('deep-nesting', 'bomb', 'a file 2000 directories deep', refuse, [[file(`${'d/'.repeat(2000)}f`, 'x')]]);

  await add('negative-size', 'malformed-header', 'a size field of -1 in base-256', refuse, [raw(rawEntry({ name: 'negative', size: { base256: -1n } }))]);
  await add('overflowing-size', 'malformed-header', 'a size of 2^80 in base-256 and the archive ending early', refuse, [
    raw(rawEntry({ name: 'huge', size: { base256: 1n << 80n } }, text('x'))),
  ]);
  await add('bad-checksum', 'malformed-header', 'a header whose checksum is wrong', refuse, [raw(rawEntry({ name: 'forged', checksum: '0000000\0' }, text('x')))]);
  await add('non-octal-size', 'malformed-header', 'a size field holding text', refuse, [raw(rawEntry({ name: 'text-size', size: '12abc\0' }, text('x')))]);
  await add('huge-declared-size', 'bomb', 'a PAX size of 1 PB with a few bytes of data', refuse, [
    raw(rawPaxHeader([['size', String(1e15)]]), rawEntry({ name: 'petabyte', size: 0 }, text('short'))),
  ]);
  await add('huge-pax-header', 'bomb', 'a PAX header of 8 MiB', refuse, [
    raw(rawPaxHeader([['comment', 'x'.repeat(8 << 20)]]), rawEntry({ name: 'after-pax' }, text('x'))),
  ]);
  await add('many-entries', 'bomb', `${bombEntries} empty files`, 'refused once over the entry cap, quickly and with bounded memory', [
    (function* (): Generator<TarItem> {
      for (let i = 0; i < bombEntries; i++) yield { entry: { name: `f${i}`, type: 'file' } };
    })(),
  ]);

  await add('duplicate-entries', 'duplicate-entry', 'the same file twice with different content', 'the last one wins', [
    [file('dup', 'first'), file('dup', 'second')],
  ]);
  await add('whiteout-dot', 'whiteout-abuse', 'a whiteout of "." (.wh..)', refuse, [[dir('sub'), file('sub/victim', 'x'), file('sub/.wh..', '')]]);
  await add('whiteout-dotdot', 'whiteout-abuse', 'a whiteout of ".." (.wh...)', refuse, [[dir('sub'), file('sub/.wh...', '')]]);
  await add('whiteout-through-symlink', 'whiteout-abuse', 'a symlink to outside, then a whiteout through it', contain, [
    [symlink('link', outsideDir)],
    [file('link/.wh.victim', '')],
  ]);
  await add('opaque-through-symlink', 'whiteout-abuse', 'a symlink to outside, then an opaque marker through it', contain, [
    [symlink('link', outsideDir)],
    [file('link/.wh..wh..opq', '')],
  ]);
  await add('trailing-data', 'trailing-data', 'bytes after the end-of-archive marker', 'they are part of the diff_id: a diff_id computed without them does not match', [
    await tarBytes([file('ok', 'fine')], { trailer: text('trailing garbage after the end marker') }),
  ]);
  return cases;
}

/**
 * A gzip layer whose single file is uncompressedBytes of zeros: a
 * decompression bomb (ratio about 1000:1). Built streaming, so memory holds
 * only the compressed output.
 */
export async function gzipBombLayer(uncompressedBytes: number): Promise<Uint8Array> {
  const writer = createTarWriter();
  const zipped = collectBytes(writer.stream.pipe(createGzip({ level: 9 })));
  zipped.catch(() => undefined);
  const zeros = new Uint8Array(1 << 20);
  const data = (async function* () {
    for (let left = uncompressedBytes; left > 0; left -= zeros.length) yield left >= zeros.length ? zeros : zeros.subarray(0, left);
  })();
  await writer.add({ name: 'zeros', type: 'file', size: uncompressedBytes }, data);
  await writer.finish();
  return zipped;
}
