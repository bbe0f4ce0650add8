import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ContentService, WriteAction, type WriteContentRequest, type WriteContentResponse } from '@strata/api/content/v1';
import { GC_ROOT_LABEL, type Writer } from '@strata/content';
import { expectError, readBlob, writeBlob } from '@strata/content/testing';
import { createFsContent } from '@strata/content-fs';
import { createClient, createServer, type RpcClient, type Server } from '@strata/grpc-kit';
import { isUnavailable, silentLogger, type EventSink } from '@strata/kit';
import { tempDir, waitFor } from '@strata/kit/testing';
import { digestOf, parseDigest } from '@strata/oci';
import { CHUNK_BYTES, createContentService } from './content-service.js';
import { createGrpcStore, type GrpcStore } from './grpc-store.js';

const MiB = 1024 * 1024;

interface Published {
  type: string;
  subject: string;
  data: unknown;
}

/** Sends requests on one raw Write stream and collects every answer and the final error. */
async function rawWrite(client: RpcClient, requests: Array<Partial<WriteContentRequest>>) {
  const call = client.bidiStream(ContentService.write);
  const answers: WriteContentResponse[] = [];
  const ended = new Promise<unknown>((resolve) => {
    call.on('data', (r: WriteContentResponse) => answers.push(r));
    call.on('error', (err) => resolve(client.translate(err)));
    call.on('end', () => resolve(undefined));
  });
  for (const r of requests) {
    call.write({ action: WriteAction.WRITE_ACTION_WRITE, ref: '', total: 0, expected: '', offset: 0, data: Buffer.alloc(0), labels: {}, ...r });
  }
  call.end();
  const error = await ended;
  return { answers, error };
}

describe('content service over a unix socket', () => {
  let dir: { path: string; remove: () => void };
  let server: Server;
  let socket: string;
  let published: Published[];
  let clients: GrpcStore[];
  let raws: RpcClient[];
  let closeBackend: () => Promise<void>;
  const connect = () => {
    const c = createGrpcStore({ unixSocket: socket }, { logger: silentLogger() });
    clients.push(c);
    return c;
  };
  const raw = () => {
    const c = createClient({ unixSocket: socket });
    raws.push(c);
    return c;
  };

  beforeEach(async () => {
    dir = tempDir('content-service-');
    socket = join(dir.path, 'content.sock');
    published = [];
    clients = [];
    raws = [];
    const events: EventSink = { publish: (type, subject, data) => published.push({ type, subject, data }) };
    const logger = silentLogger();
    const { store, leases } = await createFsContent({ root: join(dir.path, 'store'), logger });
    closeBackend = () => store.close();
    server = createServer({ logger, services: createContentService(store, leases, { logger, events }).registrations, unixSocket: socket });
    await server.start();
  });

  afterEach(async () => {
    for (const c of clients) await c.close();
    for (const r of raws) r.close();
    await server.shutdown(1000);
    await closeBackend();
    dir.remove();
  });

  it('lets a new client resume an ingest whose client went away mid-write', async () => {
    const data = randomBytes(6 * MiB + 12_345);
    const digest = digestOf(data);
    const first = connect();
    const w = await first.writer({ ref: 'resume-me', total: data.length, expected: digest });
    for (let pos = 0; pos < 4 * MiB; pos += 64 * 1024) await w.write(data.subarray(pos, pos + 64 * 1024));
    const second = connect();
    await waitFor(async () => (await second.status('resume-me')).offset >= 2 * MiB, () => 'some bytes stored');
    await first.close();

    let resumed: Writer | undefined;
    await waitFor(
      async () => {
        try {
          resumed = await second.writer({ ref: 'resume-me' });
          return true;
        } catch (err) {
          if (isUnavailable(err)) return false;
          throw err;
        }
      },
      () => 'the server to release the ref of the canceled stream',
    );
    const w2 = resumed!;
    const stored = (await second.status('resume-me')).offset;
    expect(w2.offset).toBe(stored);
    expect(stored).toBeGreaterThanOrEqual(2 * MiB);
    expect(stored).toBeLessThanOrEqual(4 * MiB);
    await w2.write(data.subarray(stored));
    const info = await w2.commit();
    expect(info).toMatchObject({ digest, size: data.length });
    expect(digestOf(await readBlob(second, digest))).toBe(digest);
  });

  it('answers a second writer of a ref on another connection Unavailable, naming the ref', async () => {
    const w = await connect().writer({ ref: 'busy-ref' });
    await w.write(Buffer.from('first'));
    const other = connect();
    await expectError(other.writer({ ref: 'busy-ref' }), 'Unavailable', /busy-ref/);
    await expectError(other.abort('busy-ref'), 'Unavailable', /busy-ref/);
    await w.close();
    const w2 = await other.writer({ ref: 'busy-ref' });
    expect(w2.offset).toBe(5);
    await w2.close();
  });

  it.each([
    {
      name: 'a WRITE past the stored offset',
      requests: [{ ref: 'gap', data: Buffer.from('abc') }, { offset: 10, data: Buffer.from('def') }],
      answered: [3],
      kind: 'FailedPrecondition',
      message: 'cannot write gap at offset 10: 3 bytes are stored; continue from there',
    },
    {
      name: 'a first message without a ref',
      requests: [{ action: WriteAction.WRITE_ACTION_STAT }],
      answered: [],
      kind: 'InvalidArgument',
      message: 'invalid ref: empty',
    },
    {
      name: 'a malformed expected digest',
      requests: [{ action: WriteAction.WRITE_ACTION_STAT, ref: 'bad-expected', expected: 'sha256:../../etc' }],
      answered: [],
      kind: 'InvalidArgument',
      message: 'invalid digest "sha256:../../etc": expected algorithm:hex, e.g. sha256:<64 hex>',
    },
    {
      name: 'an unknown action',
      requests: [{ action: WriteAction.WRITE_ACTION_UNSPECIFIED, ref: 'no-action' }],
      answered: [],
      kind: 'InvalidArgument',
      message: 'invalid write action 0: use STAT, WRITE or COMMIT',
    },
  ])('ends a raw Write stream with $kind for $name', async ({ requests, answered, kind, message }) => {
    const { answers, error } = await rawWrite(raw(), requests);
    expect(answers.map((a) => a.offset)).toEqual(answered);
    await expectError(Promise.reject(error), kind as 'InvalidArgument', message);
  });

  it('restarts an ingest on a WRITE at offset 0 and commits in the same stream', async () => {
    const kept = Buffer.from('kept bytes');
    const { answers, error } = await rawWrite(raw(), [
      { action: WriteAction.WRITE_ACTION_STAT, ref: 'restart' },
      { data: Buffer.from('thrown away') },
      { offset: 0, data: kept.subarray(0, 4) },
      { action: WriteAction.WRITE_ACTION_COMMIT, offset: 4, data: kept.subarray(4), expected: digestOf(kept), labels: { a: 'b' } },
    ]);
    expect(error).toBeUndefined();
    expect(answers.map((a) => [a.action, a.offset])).toEqual([
      [WriteAction.WRITE_ACTION_STAT, 0],
      [WriteAction.WRITE_ACTION_WRITE, 11],
      [WriteAction.WRITE_ACTION_WRITE, 4],
      [WriteAction.WRITE_ACTION_COMMIT, kept.length],
    ]);
    expect(answers[3]).toMatchObject({ digest: digestOf(kept), info: { digest: digestOf(kept), size: kept.length, labels: { a: 'b' } } });
  });

  it('streams a read in messages of at most 1 MiB with their offsets and the blob size', async () => {
    const data = randomBytes(3 * MiB + 100);
    const store = connect();
    const info = await writeBlob(store, data, { chunks: [333_333] });
    const messages = [];
    for await (const m of raw().serverStream(ContentService.read, { digest: info.digest, offset: 7, size: 0 })) messages.push(m);
    expect(messages.map((m) => [m.offset, m.data.length, m.total])).toEqual([
      [7, CHUNK_BYTES, data.length],
      [7 + CHUNK_BYTES, CHUNK_BYTES, data.length],
      [7 + 2 * CHUNK_BYTES, CHUNK_BYTES, data.length],
      [7 + 3 * CHUNK_BYTES, data.length - 7 - 3 * CHUNK_BYTES, data.length],
    ]);
    expect(Buffer.concat(messages.map((m) => m.data)).equals(data.subarray(7))).toBe(true);
    const end = [];
    for await (const m of raw().serverStream(ContentService.read, { digest: info.digest, offset: data.length, size: 0 })) end.push(m);
    expect(end.map((m) => [m.offset, m.data.length, m.total])).toEqual([[data.length, 0, data.length]]);
  });

  it('collects garbage in the service and publishes what it stores and deletes', async () => {
    const store = connect();
    const root = await writeBlob(store, Buffer.from('root'), { labels: { [GC_ROOT_LABEL]: 'yes' } });
    const orphan = await writeBlob(store, Buffer.from('orphan'));
    const gone = await writeBlob(store, Buffer.from('deleted by hand'));
    await store.delete(gone.digest);
    await new Promise((r) => setTimeout(r, 20));
    expect(await store.garbageCollect({ dryRun: true })).toEqual({ deleted: [orphan.digest], bytesFreed: orphan.size, leasesExpired: 0 });
    expect(await store.garbageCollect()).toEqual({ deleted: [orphan.digest], bytesFreed: orphan.size, leasesExpired: 0 });
    await expectError(store.info(orphan.digest), 'NotFound');
    expect((await store.info(root.digest)).digest).toBe(root.digest);
    expect(published).toEqual([
      { type: 'blob.stored', subject: root.digest, data: { digest: root.digest, size: root.size, labels: { [GC_ROOT_LABEL]: 'yes' } } },
      { type: 'blob.stored', subject: orphan.digest, data: { digest: orphan.digest, size: orphan.size, labels: {} } },
      { type: 'blob.stored', subject: gone.digest, data: { digest: gone.digest, size: gone.size, labels: {} } },
      { type: 'blob.deleted', subject: gone.digest, data: { digest: gone.digest, reason: 'delete' } },
      { type: 'blob.deleted', subject: orphan.digest, data: { digest: orphan.digest, reason: 'gc' } },
    ]);
  });

  it('raises Unavailable naming the socket when the service is gone', async () => {
    const store = connect();
    await writeBlob(store, Buffer.from('before'));
    await server.shutdown(100);
    await expectError(store.info(parseDigest(digestOf('x'))), 'Unavailable', new RegExp(`^cannot reach unix:${socket}: `));
    await expectError(store.writer({ ref: 'after' }), 'Unavailable', new RegExp(`^cannot reach unix:${socket}: `));
  });
});
