import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { readdirSync, statSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createLeaseManager, type Store } from '@strata/content';
import { createMemoryMetadataStore, createMemoryStore, expectError, readBlob, writeBlob } from '@strata/content/testing';
import { createFsBlobProvider, createFsContent } from '@strata/content-fs';
import { createServer } from '@strata/grpc-kit';
import { silentLogger, type EventSink } from '@strata/kit';
import { tempDir, waitFor } from '@strata/kit/testing';
import { digestOf, type Digest } from '@strata/oci';
import { createContentService } from './content-service.js';
import { startDataServer } from './data-server.js';
import { createGrpcStore, type GrpcStore, type GrpcStoreOptions } from './grpc-store.js';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** One raw HTTP request on a unix socket; the path is sent exactly as given. */
function http(socketPath: string, method: string, path: string, headers: Record<string, string> = {}, body?: Buffer): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, method, path, headers }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('the layer-store data socket', () => {
  const cleanups: Array<() => unknown> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  /** A content service over backend on gRPC and its data socket; counts the PUTs the data socket gets. */
  const serve = async (backend: Store, clientOptions: Omit<GrpcStoreOptions, 'logger' | 'dataSocket'> = {}) => {
    const dir = tempDir('content-data-');
    cleanups.push(() => dir.remove());
    const logger = silentLogger();
    const socket = join(dir.path, 'run', 'content.sock');
    const dataSocket = join(dir.path, 'run', 'content.data.sock');
    const service = createContentService(backend, createLeaseManager(createMemoryMetadataStore()), { logger });
    const server = createServer({ logger, services: service.registrations, unixSocket: socket });
    await server.start();
    cleanups.push(() => server.shutdown(1000));
    const counts = { puts: 0, gets: 0 };
    const data = await startDataServer({
      socket: dataSocket,
      logger,
      handler: (req, res) => {
        if (req.method === 'PUT') counts.puts++;
        if (req.method === 'GET') counts.gets++;
        service.data(req, res);
      },
    });
    cleanups.push(() => data.close());
    const store: GrpcStore = createGrpcStore({ unixSocket: socket }, { logger, dataSocket, ...clientOptions });
    cleanups.push(() => store.close());
    return { store, dataSocket, counts, data };
  };

  it('is a 0600 socket, refuses a second server on it, and is removed on close', async () => {
    const { dataSocket, data } = await serve(createMemoryStore());
    expect(statSync(dataSocket).mode & 0o777).toBe(0o600);
    expect(statSync(join(dataSocket, '..')).mode & 0o777).toBe(0o700);
    await expectError(
      startDataServer({ socket: dataSocket, handler: (_req, res) => res.end(), logger: silentLogger() }),
      'FailedPrecondition',
      `unix socket ${dataSocket} is already in use by another server; stop it or choose another socket path`,
    );
    await data.close();
    expect(() => statSync(dataSocket)).toThrow(/ENOENT/);
  });

  it('carries the bytes of writers, and a digest mismatch at commit is FailedPrecondition with nothing stored', async () => {
    const backend = createMemoryStore();
    const { store, counts } = await serve(backend);
    const data = randomBytes(3 * 1024 * 1024 + 5);
    const info = await writeBlob(store, data, { chunks: [65_536, 1_000_000, 7] });
    expect(counts.puts).toBe(1);
    expect((await readBlob(backend, info.digest)).equals(data)).toBe(true);

    const claimed = digestOf('something else');
    const w = await store.writer({ ref: 'mismatch', total: data.length, expected: claimed });
    await w.write(data);
    await expectError(w.commit(), 'FailedPrecondition', new RegExp(`(?=.*${claimed})(?=.*${digestOf(data)})`));
    expect(counts.puts).toBe(2);
    await expectError(backend.info(claimed), 'NotFound');
    const stored: string[] = [];
    for await (const i of backend.walk()) stored.push(i.digest);
    expect(stored).toEqual([info.digest]);
    await expectError(backend.status('mismatch'), 'NotFound');
  });

  it.each([
    { name: 'no Write stream holds the ref', path: '/v1/ingests/nobody-holds-me', headers: { 'strata-offset': '0' }, status: 412, kind: 'FailedPrecondition', message: 'no writer holds ingest nobody-holds-me: open it with the Content Write call first, then send its bytes here' },
    { name: 'no offset', path: '/v1/ingests/x', headers: {}, status: 400, kind: 'InvalidArgument', message: 'PUT /v1/ingests/x needs a strata-offset header: the ingest offset the body starts at' },
    { name: 'a ref escaping with ../', path: '/v1/ingests/..%2F..%2Fetc%2Fpasswd', headers: { 'strata-offset': '0' }, status: 400, kind: 'InvalidArgument', message: /^invalid ref "\.\.\/\.\.\/etc\/passwd"/ },
    { name: 'a ref with a NUL', path: '/v1/ingests/a%00b', headers: { 'strata-offset': '0' }, status: 400, kind: 'InvalidArgument', message: /^invalid ref / },
    { name: 'a malformed escape', path: '/v1/ingests/%E0%A4%A', headers: { 'strata-offset': '0' }, status: 400, kind: 'InvalidArgument', message: /^invalid ingest path .*: the ref must be URI-encoded$/ },
  ])('refuses a PUT when $name', async ({ path, headers, status, kind, message }) => {
    const { dataSocket } = await serve(createMemoryStore());
    const answer = await http(dataSocket, 'PUT', path, headers as Record<string, string>, Buffer.from('bytes'));
    expect(answer.status).toBe(status);
    const body = JSON.parse(answer.body.toString()) as { kind: string; message: string };
    expect(body.kind).toBe(kind);
    if (typeof message === 'string') expect(body.message).toBe(message);
    else expect(body.message).toMatch(message);
  });

  it('refuses a PUT at another offset than the held ingest\'s, and the writer goes on', async () => {
    const { store, dataSocket } = await serve(createMemoryStore());
    const w = await store.writer({ ref: 'held' });
    await w.write(Buffer.from('abc'));
    await w.status();
    const answer = await http(dataSocket, 'PUT', '/v1/ingests/held', { 'strata-offset': '1' }, Buffer.from('x'));
    expect(answer.status).toBe(412);
    expect(JSON.parse(answer.body.toString())).toEqual({
      kind: 'FailedPrecondition',
      message: 'cannot write held at offset 1: 3 bytes are stored; continue from there',
    });
    await w.write(Buffer.from('def'));
    expect((await w.commit()).digest).toBe(digestOf('abcdef'));
  });

  it('answers a PUT whose write the ingest refuses with that error, and the writer goes on', async () => {
    const backend = createMemoryStore();
    const { store, dataSocket } = await serve(backend);
    const w = await store.writer({ ref: 'bounded', total: 4 });
    const answer = await http(dataSocket, 'PUT', '/v1/ingests/bounded', { 'strata-offset': '0' }, Buffer.from('abcdef'));
    expect(answer.status).toBe(412);
    expect(JSON.parse(answer.body.toString())).toEqual({
      kind: 'FailedPrecondition',
      message: 'cannot write 6 bytes at offset 0 of bounded: that passes the announced total of 4 bytes',
    });
    await w.write(Buffer.from('abcd'));
    expect((await w.commit()).digest).toBe(digestOf('abcd'));
  });

  it('keeps what a broken-off PUT delivered uncommitted, and lets the next PUT go on from the stored offset', async () => {
    const backend = createMemoryStore();
    const { store, dataSocket } = await serve(backend);
    const w = await store.writer({ ref: 'broken' });
    const sent = randomBytes(300_000);
    await new Promise<void>((resolve) => {
      const req = request({ socketPath: dataSocket, method: 'PUT', path: '/v1/ingests/broken', headers: { 'strata-offset': '0', 'content-length': String(2 * sent.length) } });
      req.on('error', () => resolve());
      req.write(sent, () => setTimeout(() => req.destroy(), 50));
    });
    // An empty PUT at the stored offset succeeds once the broken one has let the ingest go.
    let stored = -1;
    await waitFor(
      async () => {
        stored = (await backend.status('broken')).offset;
        return (await http(dataSocket, 'PUT', '/v1/ingests/broken', { 'strata-offset': String(stored) })).status === 200;
      },
      () => 'the broken-off PUT to release the ingest',
    );
    expect(stored).toBeLessThanOrEqual(sent.length);
    for await (const info of backend.walk()) throw new Error(`nothing may be committed, found ${info.digest}`);
    const rest = randomBytes(1000);
    const answer = await http(dataSocket, 'PUT', '/v1/ingests/broken', { 'strata-offset': String(stored) }, rest);
    expect(JSON.parse(answer.body.toString())).toEqual({ offset: stored + rest.length });
    expect((await backend.status('broken')).offset).toBe(stored + rest.length);
    await w.close();
  });

  it.each([
    { name: 'a path escape', digest: 'sha256:..%2F..%2F..%2Fetc%2Fpasswd', message: /^invalid digest "sha256:\.\.%2F/ },
    { name: 'a raw path escape', digest: 'sha256:../../../etc/passwd', message: /^invalid digest "sha256:\.\.\/\.\.\/\.\.\/etc\/passwd"/ },
    { name: 'upper-case hex', digest: `sha256:${'A'.repeat(64)}`, message: /hex must be lower-case/ },
    { name: 'another algorithm', digest: `md5:${'a'.repeat(32)}`, message: /unsupported algorithm "md5"/ },
  ])('refuses a GET of $name with InvalidArgument', async ({ digest, message }) => {
    const { dataSocket } = await serve(createMemoryStore());
    const answer = await http(dataSocket, 'GET', `/v1/blobs/${digest}`);
    expect(answer.status).toBe(400);
    const body = JSON.parse(answer.body.toString()) as { kind: string; message: string };
    expect(body.kind).toBe('InvalidArgument');
    expect(body.message).toMatch(message);
  });

  it('serves ranges of blobs over HTTP and through the client', async () => {
    const backend = createMemoryStore();
    const { store, dataSocket, counts } = await serve(backend);
    const data = randomBytes(2 * 1024 * 1024 + 11);
    const info = await writeBlob(backend, data);
    const whole = await http(dataSocket, 'GET', `/v1/blobs/${info.digest}`);
    expect(whole.status).toBe(200);
    expect(whole.headers['strata-size']).toBe(String(data.length));
    expect(whole.body.equals(data)).toBe(true);
    const part = await http(dataSocket, 'GET', `/v1/blobs/${info.digest}`, { range: 'bytes=100-1048675' });
    expect(part.status).toBe(206);
    expect(part.headers['content-range']).toBe(`bytes 100-1048675/${data.length}`);
    expect(part.body.equals(data.subarray(100, 1048676))).toBe(true);
    const tail = await http(dataSocket, 'GET', `/v1/blobs/${info.digest}`, { range: `bytes=${data.length - 3}-` });
    expect(tail.body.equals(data.subarray(data.length - 3))).toBe(true);
    const past = await http(dataSocket, 'GET', `/v1/blobs/${info.digest}`, { range: `bytes=${data.length + 1}-` });
    expect(past.status).toBe(416);
    expect(JSON.parse(past.body.toString())).toMatchObject({ kind: 'OutOfRange' });
    const bad = await http(dataSocket, 'GET', `/v1/blobs/${info.digest}`, { range: 'bytes=5-1' });
    expect(JSON.parse(bad.body.toString())).toEqual({ kind: 'InvalidArgument', message: 'invalid Range "bytes=5-1": the last byte is before the first' });
    const absent = await http(dataSocket, 'GET', `/v1/blobs/${digestOf('absent')}`);
    expect(absent.status).toBe(404);
    expect(JSON.parse(absent.body.toString())).toEqual({ kind: 'NotFound', message: `blob ${digestOf('absent')} not found` });

    const before = counts.gets;
    const reader = await store.read(info.digest, { offset: 1_000_000, length: 2_000 });
    expect(reader.size).toBe(data.length);
    const parts: Buffer[] = [];
    for await (const c of reader.chunks) parts.push(Buffer.from(c));
    expect(Buffer.concat(parts).equals(data.subarray(1_000_000, 1_002_000))).toBe(true);
    expect(counts.gets).toBe(before + 1);
    await expectError(store.read(digestOf('absent')), 'NotFound', `blob ${digestOf('absent')} not found`);
  });

  it('reads from the local fs root first, and falls back to the service for a blob the root lacks', async () => {
    const local = tempDir('content-local-');
    cleanups.push(() => local.remove());
    const fs = await createFsContent({ root: local.path, logger: silentLogger() });
    cleanups.push(() => fs.store.close());
    const backend = createMemoryStore();
    const { store, counts } = await serve(backend, { localBlobs: createFsBlobProvider({ root: local.path }) });
    const onlyLocal = await writeBlob(fs.store, Buffer.from('only in the local root'));
    const onlyRemote = await writeBlob(backend, Buffer.from('only behind the service'));
    expect((await readBlob(store, onlyLocal.digest)).toString()).toBe('only in the local root');
    expect(counts.gets).toBe(0);
    expect((await readBlob(store, onlyRemote.digest)).toString()).toBe('only behind the service');
    expect(counts.gets).toBe(1);
    await expectError(store.read(`sha256:${'a'.repeat(63)}` as Digest), 'InvalidArgument', `invalid digest "sha256:${'a'.repeat(63)}": sha256 needs 64 hex characters, got 63`);
  });

  it('imports a file of a filesystem store\'s imports directory, with the store\'s errors, and publishes blob.stored', async () => {
    const root = tempDir('content-import-');
    cleanups.push(() => root.remove());
    const fs = await createFsContent({ root: root.path, logger: silentLogger() });
    cleanups.push(() => fs.store.close());
    const dir = tempDir('content-data-');
    cleanups.push(() => dir.remove());
    const logger = silentLogger();
    const published: Array<{ type: string; data: unknown }> = [];
    const events: EventSink = { publish: (type, _subject, data) => void published.push({ type, data }) };
    const service = createContentService(fs.store, fs.leases, { logger, events });
    const dataSocket = join(dir.path, 'content.data.sock');
    const socket = join(dir.path, 'content.sock');
    const server = createServer({ logger, services: service.registrations, unixSocket: socket });
    await server.start();
    cleanups.push(() => server.shutdown(1000));
    const data = await startDataServer({ socket: dataSocket, logger, handler: service.data });
    cleanups.push(() => data.close());
    const store = createGrpcStore({ unixSocket: socket }, { logger, dataSocket });
    cleanups.push(() => store.close());

    const bytes = randomBytes(1024 * 1024 + 3);
    const imports = join(root.path, 'imports');
    writeFileSync(join(imports, 'fetched'), bytes);
    const info = await store.importFile!('fetched', { expected: digestOf(bytes), total: bytes.length, labels: { source: 'upstream' } });
    expect(info).toMatchObject({ digest: digestOf(bytes), size: bytes.length, labels: { source: 'upstream' } });
    expect(info.createdAt).toBeInstanceOf(Date);
    expect((await readBlob(store, digestOf(bytes))).equals(bytes)).toBe(true);
    expect(published).toEqual([{ type: 'blob.stored', data: { digest: digestOf(bytes), size: bytes.length, labels: { source: 'upstream' } } }]);
    expect(readdirSync(imports)).toEqual([]);

    // A growing file: the answer comes once its writer has appended every byte.
    const more = randomBytes(3 * 1024 * 1024 + 1);
    const growing = await open(join(imports, 'growing'), 'wx', 0o600);
    const importing = store.importFile!('growing', { expected: digestOf(more), total: more.length, growing: true });
    await growing.write(more.subarray(0, 1024 * 1024));
    await new Promise((resolve) => setTimeout(resolve, 50));
    await growing.write(more.subarray(1024 * 1024));
    await growing.close();
    expect(await importing).toMatchObject({ digest: digestOf(more), size: more.length });
    expect(readdirSync(imports)).toEqual([]);
    const badGrowing = await http(dataSocket, 'POST', '/v1/imports/x', { 'content-type': 'application/json' }, Buffer.from(`{"expected": "${digestOf('x')}", "total": 1, "growing": "yes"}`));
    expect(JSON.parse(badGrowing.body.toString())).toEqual({ kind: 'InvalidArgument', message: 'import request "growing" must be true or false' });

    writeFileSync(join(imports, 'corrupt'), 'not the bytes');
    await expectError(store.importFile!('corrupt', { expected: digestOf(bytes), total: 13 }), 'FailedPrecondition', `import of corrupt failed: got digest ${digestOf('not the bytes')}, expected ${digestOf(bytes)}`);
    await expectError(store.importFile!('..%2Fescape', { expected: digestOf(bytes), total: 1 }), 'InvalidArgument', /invalid import file name/);
    await expectError(store.importFile!('gone', { expected: digestOf(bytes), total: 1 }), 'NotFound', `no file gone to import in ${imports}`);
    const bad = await http(dataSocket, 'POST', '/v1/imports/x', { 'content-type': 'application/json' }, Buffer.from('{"total": 1}'));
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.body.toString())).toEqual({ kind: 'InvalidArgument', message: 'import request body needs "expected" (the digest, a string) and "total" (the size, a number)' });
    expect(published).toHaveLength(2);
  });

  it('answers an import Unimplemented when the store keeps no files', async () => {
    const { store } = await serve(createMemoryStore());
    await expectError(store.importFile!('anything', { expected: digestOf('x'), total: 1 }), 'Unimplemented', 'this layer-store keeps no blob files on this host to import into; write the blob through an ingest');
  });
});
