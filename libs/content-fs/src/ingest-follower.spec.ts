import { open as openFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { FollowedBlob, Store } from '@strata/content';
import { expectError } from '@strata/content/testing';
import { silentLogger } from '@strata/kit';
import { tempDir } from '@strata/kit/testing';
import { digestOf } from '@strata/oci';
import { READ_CHUNK } from './blob-file.js';
import { createFsStore } from './fs-store.js';
import { createFsIngestFollower } from './ingest-follower.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Reads every chunk of a followed blob into one buffer. */
async function drain(blob: FollowedBlob): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of blob.chunks) parts.push(Buffer.from(chunk));
  return Buffer.concat(parts);
}

describe('createFsIngestFollower', () => {
  const cleanups: Array<() => unknown> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });
  const open = async (): Promise<{ root: string; store: Store }> => {
    const dir = tempDir('fs-follower-');
    cleanups.push(() => dir.remove());
    const store = await createFsStore({ root: dir.path, logger: silentLogger() });
    cleanups.push(() => store.close());
    return { root: dir.path, store };
  };
  const data = Buffer.from(Array.from({ length: 3 * READ_CHUNK + 4321 }, (_, i) => (i * 13) % 251));
  const digest = digestOf(data);

  it('follows an import in progress, listed as an ingest, and confirms once the store linked that file as the blob', async () => {
    const { root, store } = await open();
    const name = 'proxy-layer.1.abcd.tmp';
    const fh = await openFile(join(root, 'imports', name), 'wx', 0o600);
    const importing = store.importFile!(name, { expected: digest, total: data.length, growing: true });
    await fh.write(data.subarray(0, READ_CHUNK + 10));
    const [status] = await store.listStatuses([`expected==${digest}`]);
    expect(status).toMatchObject({ ref: `imports/${name}`, offset: READ_CHUNK + 10, total: data.length, expected: digest });
    const blob = await createFsIngestFollower({ root }).follow(status!.ref, digest, data.length);
    const reading = drain(blob);
    for (let at = READ_CHUNK + 10; at < data.length; at += 700_000) {
      await sleep(15);
      await fh.write(data.subarray(at, Math.min(data.length, at + 700_000)));
    }
    await fh.close();
    const bytes = await reading;
    await blob.confirm();
    expect(bytes.equals(data)).toBe(true);
    expect((await importing).digest).toBe(digest);
    expect(await store.listStatuses()).toEqual([]);
  });

  it('says an import that its writer gave up was discarded', async () => {
    const { root, store } = await open();
    const name = 'given-up';
    const fh = await openFile(join(root, 'imports', name), 'wx', 0o600);
    const importing = store.importFile!(name, { expected: digest, total: data.length, growing: true });
    importing.catch(() => undefined);
    await fh.write(data.subarray(0, 1000));
    const blob = await createFsIngestFollower({ root }).follow(`imports/${name}`, digest, data.length);
    const reading = drain(blob);
    await sleep(20);
    await store.abort(`imports/${name}`);
    await expectError(reading, 'FailedPrecondition', `the ingest imports/${name} of blob ${digest} was discarded or rewritten after 1000 bytes: its bytes are not the blob's`);
    await expectError(importing, 'FailedPrecondition', `import of ${name} failed: its writer removed or cut it after 1000 of ${data.length} bytes`);
    await fh.close();
    await expectError(createFsIngestFollower({ root }).follow(`imports/${name}`, digest, data.length), 'NotFound', `no ingest with ref imports/${name}`);
    await expectError(store.abort(`imports/${name}`), 'NotFound', `no ingest with ref imports/${name}`);
    await expectError(store.writer({ ref: 'imports/mine' }), 'InvalidArgument', 'invalid ref imports/mine: refs starting with imports/ name files being imported; use another ref');
  });

  it('yields the bytes as the writer stores them, and confirms once the store committed them', async () => {
    const { root, store } = await open();
    const writer = await store.writer({ ref: 'pull-layer', expected: digest, total: data.length });
    await writer.write(data.subarray(0, READ_CHUNK + 10));
    const blob = await createFsIngestFollower({ root }).follow('pull-layer', digest, data.length);
    expect(blob.size).toBe(data.length);
    const reading = drain(blob);
    // The rest arrives in pieces while the follower waits for it.
    for (let at = READ_CHUNK + 10; at < data.length; at += 700_000) {
      await sleep(15);
      await writer.write(data.subarray(at, Math.min(data.length, at + 700_000)));
    }
    const confirming = reading.then(async (bytes) => {
      await blob.confirm();
      return bytes;
    });
    let confirmed = false;
    void confirming.then(() => (confirmed = true));
    await sleep(50);
    // Every byte is written (maybe still in the writer's buffer), but nothing is committed: not confirmed yet.
    expect(confirmed).toBe(false);
    await writer.commit();
    expect((await confirming).equals(data)).toBe(true);
    expect((await store.info(digest)).size).toBe(data.length);
  });

  it('fails with FailedPrecondition when the commit finds another digest and discards the ingest', async () => {
    const { root, store } = await open();
    const wrong = Buffer.from(data);
    wrong[1000] = (wrong[1000] as number) ^ 1;
    const writer = await store.writer({ ref: 'pull-layer', expected: digest, total: data.length });
    await writer.write(wrong.subarray(0, 10));
    const blob = await createFsIngestFollower({ root }).follow('pull-layer', digest, data.length);
    const confirming = drain(blob).then(() => blob.confirm());
    // It may fail during the write or the commit below, before expectError takes it: not an unhandled rejection.
    confirming.catch(() => undefined);
    await writer.write(wrong.subarray(10));
    await expect(writer.commit()).rejects.toThrow(/expected sha256:/);
    // Discarded before or after the follower read the last byte: the chunks or confirm fail.
    await expectError(confirming, 'FailedPrecondition', /^the ingest pull-layer of blob sha256:[a-f0-9]{64} was discarded or rewritten after \d+ bytes: its bytes are not the blob's$/);
    await expectError(store.info(digest), 'NotFound', `blob ${digest} not found`);
  });

  it('fails the chunks when the writer truncates (a new file): old bytes are never confirmed', async () => {
    const { root, store } = await open();
    const writer = await store.writer({ ref: 'pull-layer', expected: digest, total: data.length });
    await writer.write(data.subarray(0, READ_CHUNK));
    await writer.status();
    const blob = await createFsIngestFollower({ root }).follow('pull-layer', digest, data.length);
    const reading = drain(blob);
    // It may fail during the truncate or the write below, before expectError takes it: not an unhandled rejection.
    reading.catch(() => undefined);
    await sleep(20);
    await writer.truncate();
    await writer.write(data);
    await expectError(
      reading,
      'FailedPrecondition',
      `the ingest pull-layer of blob ${digest} was discarded or rewritten after ${READ_CHUNK} bytes: its bytes are not the blob's`,
    );
    await blob.close();
    // The rewritten ingest commits: a new follower would have been needed.
    await writer.commit();
    expect((await store.info(digest)).size).toBe(data.length);
  });

  it('fails confirm when the blob was committed from another ingest', async () => {
    const { root, store } = await open();
    const writer = await store.writer({ ref: 'first', total: data.length });
    await writer.write(data);
    await writer.close();
    const blob = await createFsIngestFollower({ root }).follow('first', digest, data.length);
    expect((await drain(blob)).equals(data)).toBe(true);
    const other = await store.writer({ ref: 'second', expected: digest, total: data.length });
    await other.write(data);
    await other.commit();
    await expectError(
      blob.confirm(),
      'FailedPrecondition',
      `blob ${digest} was committed, but not from the bytes of ingest first that were read; read the blob itself`,
    );
  });

  it('raises NotFound for an ingest that does not exist, and Unavailable when an ingest stalls', async () => {
    const { root, store } = await open();
    const follower = createFsIngestFollower({ root, stallMs: 100 });
    await expectError(follower.follow('nothing', digest, data.length), 'NotFound', 'no ingest with ref nothing');
    await expectError(follower.follow('../x', digest, 1), 'InvalidArgument', /invalid ref/);
    const writer = await store.writer({ ref: 'slow', expected: digest, total: data.length });
    cleanups.push(() => writer.close());
    await writer.write(data.subarray(0, 100));
    await writer.close();
    const blob = await follower.follow('slow', digest, data.length);
    await expectError(drain(blob), 'Unavailable', `the ingest slow of blob ${digest} had no new bytes after 100 of ${data.length} for 100 ms; pull it again`);
    const again = await follower.follow('slow', digest, 100);
    expect((await drain(again)).equals(data.subarray(0, 100))).toBe(true);
    await expectError(again.confirm(), 'Unavailable', `the ingest slow of blob ${digest} was not committed after 100 bytes for 100 ms; pull it again`);
  });

  it('stops waiting with Canceled when the signal aborts', async () => {
    const { root, store } = await open();
    const writer = await store.writer({ ref: 'waiting', expected: digest, total: data.length });
    cleanups.push(() => writer.close());
    await writer.write(data.subarray(0, 10));
    const abort = new AbortController();
    const blob = await createFsIngestFollower({ root }).follow('waiting', digest, data.length, { signal: abort.signal });
    const reading = drain(blob);
    setTimeout(() => abort.abort(), 30);
    await expectError(reading, 'Canceled', `reading the ingest waiting of blob ${digest} was canceled`);
  });
});
