import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isStrataError, type ErrorKind } from '@strata/kit';
import { digestOf, type Digest } from '@strata/oci';
import type { ListTagsOptions, TagRecord, TagStore } from '../tag-store.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const DIGEST_A = digestOf('image a');
const DIGEST_B = digestOf('image b');
const DIGEST_C = digestOf('image c');

/** A valid record; size and time differ per digest so copies are told apart. */
function record(domain: string, repository: string, tag: string, digest: Digest = DIGEST_A, mediaType = OCI_MANIFEST): TagRecord {
  const n = parseInt(digest.slice(7, 12), 16);
  return { domain, repository, tag, digest, mediaType, size: 500 + (n % 1000), updatedAt: new Date(1_700_000_000_000 + n) };
}

const names = (records: TagRecord[]) => records.map((r) => `${r.domain}/${r.repository}:${r.tag}`);

/** The kind and message of the Strata error action rejects with; fails the test when it does not. */
async function raised(action: () => Promise<unknown>): Promise<{ kind: ErrorKind; message: string }> {
  try {
    await action();
  } catch (err) {
    if (!isStrataError(err)) throw new Error(`expected a Strata error, got ${String(err)}`, { cause: err });
    return { kind: err.kind, message: err.message };
  }
  throw new Error('expected a Strata error, but the call succeeded');
}

// Tags in the order list() must return them: domain, then repository, then
// tag, by UTF-16 code units. `-` (0x2d) sorts before `/` (0x2f), upper case
// before lower case, digits before letters, and a prefix before its extensions.
const ORDERED: ReadonlyArray<[string, string, string]> = [
  ['docker.io', 'a', 'latest'],
  ['docker.io', 'a-b', 'latest'],
  ['docker.io', 'a/b', 'latest'],
  ['docker.io', 'library/alpine', '3.19'],
  ['docker.io', 'library/busybox', '1.10'],
  ['docker.io', 'library/busybox', '1.2'],
  ['docker.io', 'library/busybox', 'Latest'],
  ['docker.io', 'library/busybox', '_build'],
  ['docker.io', 'library/busybox', 'latest'],
  ['ghcr.io', 'library/busybox', 'latest'],
  ['local', 'app', 'v1'],
  ['localhost:5000', 'app', 'v1'],
];

const BAD_NAMES: ReadonlyArray<[string, string, string, string, string]> = [
  ['an empty domain', '', 'library/busybox', 'latest', 'invalid registry domain "": expected a host name with an optional port, e.g. docker.io or localhost:5000'],
  ['a domain with a path', 'docker.io/x', 'library/busybox', 'latest', 'invalid registry domain "docker.io/x": expected a host name with an optional port, e.g. docker.io or localhost:5000'],
  ['a domain with a space', 'exa mple.com', 'app', 'latest', 'invalid registry domain "exa mple.com": expected a host name with an optional port, e.g. docker.io or localhost:5000'],
  ['a domain with a named port', 'localhost:http', 'app', 'latest', 'invalid registry domain "localhost:http": expected a host name with an optional port, e.g. docker.io or localhost:5000'],
  ['an upper-case repository', 'docker.io', 'Library/Busybox', 'latest', 'invalid repository name "Library/Busybox": expected lower-case components separated by "/", at most 255 characters, e.g. library/busybox'],
  ['an empty repository', 'docker.io', '', 'latest', 'invalid repository name "": expected lower-case components separated by "/", at most 255 characters, e.g. library/busybox'],
  ['a parent escape', 'docker.io', '../etc', 'latest', 'invalid repository name "../etc": expected lower-case components separated by "/", at most 255 characters, e.g. library/busybox'],
  ['an empty component', 'docker.io', 'library//busybox', 'latest', 'invalid repository name "library//busybox": expected lower-case components separated by "/", at most 255 characters, e.g. library/busybox'],
  ['a 256-character repository', 'docker.io', 'r'.repeat(256), 'latest', `invalid repository name "${'r'.repeat(100)}…": expected lower-case components separated by "/", at most 255 characters, e.g. library/busybox`],
  ['an empty tag', 'docker.io', 'library/busybox', '', 'invalid tag "": a tag is 1 to 128 letters, digits, "_", "." or "-", and does not start with "." or "-"'],
  ['a tag starting with a dot', 'docker.io', 'library/busybox', '.hidden', 'invalid tag ".hidden": a tag is 1 to 128 letters, digits, "_", "." or "-", and does not start with "." or "-"'],
  ['a tag starting with a dash', 'docker.io', 'library/busybox', '-rc', 'invalid tag "-rc": a tag is 1 to 128 letters, digits, "_", "." or "-", and does not start with "." or "-"'],
  ['a tag with a slash', 'docker.io', 'library/busybox', 'a/b', 'invalid tag "a/b": a tag is 1 to 128 letters, digits, "_", "." or "-", and does not start with "." or "-"'],
  ['a tag with a colon', 'docker.io', 'library/busybox', 'a:b', 'invalid tag "a:b": a tag is 1 to 128 letters, digits, "_", "." or "-", and does not start with "." or "-"'],
  ['a NATS wildcard tag', 'docker.io', 'library/busybox', '*', 'invalid tag "*": a tag is 1 to 128 letters, digits, "_", "." or "-", and does not start with "." or "-"'],
  ['a 129-character tag', 'docker.io', 'library/busybox', 't'.repeat(129), `invalid tag "${'t'.repeat(100)}…": a tag is 1 to 128 letters, digits, "_", "." or "-", and does not start with "." or "-"`],
];

const BAD_RECORDS: ReadonlyArray<[string, Partial<TagRecord>, string]> = [
  ['a path-escape digest', { digest: 'sha256:../..' as Digest }, 'invalid digest "sha256:../..": expected algorithm:hex, e.g. sha256:<64 hex>'],
  ['a short digest', { digest: 'sha256:abc' as Digest }, 'invalid digest "sha256:abc": sha256 needs 64 hex characters, got 3'],
  ['no media type', { mediaType: '' }, 'tag docker.io/library/busybox:latest needs the media type of what it points at'],
  ['a negative size', { size: -1 }, 'tag docker.io/library/busybox:latest: size must be a whole number of bytes, 0 or more; got -1'],
  ['a fractional size', { size: 1.5 }, 'tag docker.io/library/busybox:latest: size must be a whole number of bytes, 0 or more; got 1.5'],
  ['an invalid date', { updatedAt: new Date(Number.NaN) }, 'tag docker.io/library/busybox:latest: updatedAt must be a valid date'],
];

const BAD_LIST_OPTIONS: ReadonlyArray<[string, ListTagsOptions, string]> = [
  ['a malformed domain', { domain: 'bad domain' }, 'invalid registry domain "bad domain": expected a host name with an optional port, e.g. docker.io or localhost:5000'],
  ['a wildcard repository', { domain: 'docker.io', repository: 'library/*' }, 'invalid repository name "library/*": expected lower-case components separated by "/", at most 255 characters, e.g. library/busybox'],
  ['after without a repository', { domain: 'docker.io', after: 'latest' }, 'listing tags after a tag needs the domain and repository the tags belong to'],
  ['a negative limit', { limit: -1 }, 'list limit must be a whole number, 0 or more; got -1'],
  ['a fractional limit', { limit: 2.5 }, 'list limit must be a whole number, 0 or more; got 2.5'],
];

/**
 * The contract of {@link TagStore}: run it against every implementation
 * (in memory, NATS KV). setup runs before every test and returns an empty
 * store; the suite closes it after the test, even when the test failed.
 *
 * Messages the suite relies on: validateTagKey's, validateTagRecord's,
 * validateListTagsOptions' and parseDigest's exactly for invalid input, and
 * tagNotFound's for delete of a tag that is not set.
 */
export function tagStoreSuite(name: string, setup: () => Promise<TagStore>): void {
  describe(`TagStore contract: ${name}`, () => {
    let store: TagStore;
    beforeEach(async () => {
      store = await setup();
    });
    afterEach(async () => {
      await store?.close();
    });

    describe('get and put', () => {
      it('returns undefined for a tag that is not set', async () => {
        expect(await store.get('docker.io', 'library/busybox', 'latest')).toBeUndefined();
      });

      it('returns what was put, field for field', async () => {
        const r = record('docker.io', 'library/busybox', '1.36', DIGEST_B, OCI_INDEX);
        await store.put(r);
        expect(await store.get('docker.io', 'library/busybox', '1.36')).toEqual(r);
        expect(await store.get('docker.io', 'library/busybox', 'latest')).toBeUndefined();
        expect(await store.get('ghcr.io', 'library/busybox', '1.36')).toBeUndefined();
      });

      it('keeps tags that differ only in case apart', async () => {
        await store.put(record('docker.io', 'app', 'Latest', DIGEST_A));
        await store.put(record('docker.io', 'app', 'latest', DIGEST_B));
        expect((await store.get('docker.io', 'app', 'Latest'))?.digest).toBe(DIGEST_A);
        expect((await store.get('docker.io', 'app', 'latest'))?.digest).toBe(DIGEST_B);
      });

      it('moves a tag: the last put wins and the tag is listed once', async () => {
        await store.put(record('docker.io', 'library/busybox', 'latest', DIGEST_A));
        const moved = { ...record('docker.io', 'library/busybox', 'latest', DIGEST_B, OCI_INDEX), updatedAt: new Date(1_800_000_000_123) };
        await store.put(moved);
        expect(await store.get('docker.io', 'library/busybox', 'latest')).toEqual(moved);
        expect(await store.list()).toEqual([moved]);
        expect(await store.tagsOf(DIGEST_A)).toEqual([]);
      });

      it('returns copies: changing a returned or a put record changes nothing stored', async () => {
        const r = record('docker.io', 'library/busybox', 'latest');
        await store.put(r);
        r.digest = DIGEST_C;
        r.updatedAt.setTime(0);
        const got = await store.get('docker.io', 'library/busybox', 'latest');
        got!.size = 1;
        got!.updatedAt.setTime(1);
        expect(await store.get('docker.io', 'library/busybox', 'latest')).toEqual(record('docker.io', 'library/busybox', 'latest'));
      });

      it('shows every one of many concurrent puts of distinct tags', async () => {
        const records = Array.from({ length: 40 }, (_, i) => record('docker.io', `team/app${i % 4}`, `v${i}`, i % 2 ? DIGEST_A : DIGEST_B));
        await Promise.all(records.map((r) => store.put(r)));
        const listed = await store.list();
        expect(listed).toHaveLength(40);
        expect(new Set(names(listed))).toEqual(new Set(names(records)));
        expect(await store.tagsOf(DIGEST_A)).toHaveLength(20);
      });
    });

    describe('delete', () => {
      it('removes a tag and leaves the others', async () => {
        await store.put(record('docker.io', 'library/busybox', 'latest'));
        await store.put(record('docker.io', 'library/busybox', '1.36'));
        await store.delete('docker.io', 'library/busybox', 'latest');
        expect(await store.get('docker.io', 'library/busybox', 'latest')).toBeUndefined();
        expect(names(await store.list())).toEqual(['docker.io/library/busybox:1.36']);
        expect(names(await store.tagsOf(DIGEST_A))).toEqual(['docker.io/library/busybox:1.36']);
      });

      it('lets a deleted tag be set again', async () => {
        await store.put(record('docker.io', 'library/busybox', 'latest', DIGEST_A));
        await store.delete('docker.io', 'library/busybox', 'latest');
        await store.put(record('docker.io', 'library/busybox', 'latest', DIGEST_B));
        expect((await store.get('docker.io', 'library/busybox', 'latest'))?.digest).toBe(DIGEST_B);
      });

      it.each<[string, (s: TagStore) => Promise<void>, string]>([
        ['a tag never set', async () => {}, 'tag docker.io/library/busybox:latest not found'],
        [
          'a tag deleted already',
          async (s) => {
            await s.put(record('docker.io', 'library/busybox', 'latest'));
            await s.delete('docker.io', 'library/busybox', 'latest');
          },
          'tag docker.io/library/busybox:latest not found',
        ],
        [
          'a tag set in another repository only',
          async (s) => s.put(record('docker.io', 'library/alpine', 'latest')),
          'tag docker.io/library/busybox:latest not found',
        ],
      ])('raises NotFound for %s', async (_, prepare, message) => {
        await prepare(store);
        expect(await raised(() => store.delete('docker.io', 'library/busybox', 'latest'))).toEqual({ kind: 'NotFound', message });
      });
    });

    describe('list', () => {
      beforeEach(async () => {
        // Put in an order unlike the listing order.
        for (const [i, [domain, repository, tag]] of [...ORDERED.entries()].reverse()) {
          await store.put(record(domain, repository, tag, [DIGEST_A, DIGEST_B, DIGEST_C][i % 3]));
        }
      });

      it('lists every tag by domain, then repository, then tag', async () => {
        expect(names(await store.list())).toEqual(ORDERED.map(([d, r, t]) => `${d}/${r}:${t}`));
      });

      it.each<[string, ListTagsOptions, string[]]>([
        ['one domain', { domain: 'ghcr.io' }, ['ghcr.io/library/busybox:latest']],
        [
          'one repository of a domain',
          { domain: 'docker.io', repository: 'library/busybox' },
          ['1.10', '1.2', 'Latest', '_build', 'latest'].map((t) => `docker.io/library/busybox:${t}`),
        ],
        [
          'one repository path in every domain',
          { repository: 'app' },
          ['local/app:v1', 'localhost:5000/app:v1'],
        ],
        ['a domain without tags', { domain: 'quay.io' }, []],
        ['a repository without tags', { domain: 'docker.io', repository: 'library/debian' }, []],
        ['a repository path that is a prefix of others', { domain: 'docker.io', repository: 'a' }, ['docker.io/a:latest']],
        ['at most 3', { limit: 3 }, ['docker.io/a:latest', 'docker.io/a-b:latest', 'docker.io/a/b:latest']],
        ['none (limit 0)', { limit: 0 }, []],
        [
          'tags after one that is set',
          { domain: 'docker.io', repository: 'library/busybox', after: 'Latest' },
          ['docker.io/library/busybox:_build', 'docker.io/library/busybox:latest'],
        ],
        [
          'tags after one that is not set',
          { domain: 'docker.io', repository: 'library/busybox', after: '1.100' },
          ['docker.io/library/busybox:1.2', 'docker.io/library/busybox:Latest', 'docker.io/library/busybox:_build', 'docker.io/library/busybox:latest'],
        ],
        ['tags after the last one', { domain: 'docker.io', repository: 'library/busybox', after: 'latest' }, []],
      ])('lists %s', async (_, options, expected) => {
        expect(names(await store.list(options))).toEqual(expected);
      });

      it('pages through a repository with after and limit', async () => {
        const seen: string[] = [];
        let after: string | undefined;
        for (let page = 0; page < 10; page++) {
          const got = await store.list({ domain: 'docker.io', repository: 'library/busybox', after, limit: 2 });
          expect(got.length).toBeLessThanOrEqual(2);
          if (got.length === 0) break;
          seen.push(...got.map((r) => r.tag));
          after = got[got.length - 1]!.tag;
        }
        expect(seen).toEqual(['1.10', '1.2', 'Latest', '_build', 'latest']);
      });

      it('returns whole records', async () => {
        expect(await store.list({ domain: 'local' })).toEqual([record('local', 'app', 'v1', [DIGEST_A, DIGEST_B, DIGEST_C][10 % 3])]);
      });
    });

    describe('tagsOf', () => {
      it('returns every tag pointing at a digest, in listing order', async () => {
        await store.put(record('localhost:5000', 'app', 'v1', DIGEST_A));
        await store.put(record('docker.io', 'library/busybox', 'latest', DIGEST_A));
        await store.put(record('docker.io', 'library/busybox', '1.36', DIGEST_A));
        await store.put(record('docker.io', 'library/alpine', 'latest', DIGEST_B));
        expect(names(await store.tagsOf(DIGEST_A))).toEqual([
          'docker.io/library/busybox:1.36',
          'docker.io/library/busybox:latest',
          'localhost:5000/app:v1',
        ]);
        expect(await store.tagsOf(DIGEST_B)).toEqual([record('docker.io', 'library/alpine', 'latest', DIGEST_B)]);
        expect(await store.tagsOf(DIGEST_C)).toEqual([]);
      });
    });

    describe('refuses invalid input before it reaches storage', () => {
      it.each(BAD_NAMES)('%s', async (_, domain, repository, tag, message) => {
        const expected = { kind: 'InvalidArgument', message };
        expect(await raised(() => store.put(record(domain, repository, tag)))).toEqual(expected);
        expect(await raised(() => store.get(domain, repository, tag))).toEqual(expected);
        expect(await raised(() => store.delete(domain, repository, tag))).toEqual(expected);
        expect(await store.list()).toEqual([]);
      });

      it.each(BAD_RECORDS)('a record with %s', async (_, change, message) => {
        const bad = { ...record('docker.io', 'library/busybox', 'latest'), ...change };
        expect(await raised(() => store.put(bad))).toEqual({ kind: 'InvalidArgument', message });
        expect(await store.get('docker.io', 'library/busybox', 'latest')).toBeUndefined();
      });

      it.each(BAD_LIST_OPTIONS)('list with %s', async (_, options, message) => {
        expect(await raised(() => store.list(options))).toEqual({ kind: 'InvalidArgument', message });
      });

      it.each<[string, string, string]>([
        ['a path escape', 'sha256:../..', 'invalid digest "sha256:../..": expected algorithm:hex, e.g. sha256:<64 hex>'],
        ['a wildcard', 'sha256:*', 'invalid digest "sha256:*": expected algorithm:hex, e.g. sha256:<64 hex>'],
        ['upper-case hex', `sha256:${'A'.repeat(64)}`, `invalid digest "sha256:${'A'.repeat(64)}": hex must be lower-case`],
      ])('tagsOf with %s', async (_, digest, message) => {
        expect(await raised(() => store.tagsOf(digest as Digest))).toEqual({ kind: 'InvalidArgument', message });
      });
    });

    it('can be closed twice', async () => {
      await store.close();
      await store.close();
    });
  });
}
