import { randomBytes } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { hostname, networkInterfaces } from 'node:os';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { expectError } from '@strata/content/testing';
import { silentLogger } from '@strata/kit';
import { tempDir } from '@strata/kit/testing';
import { makeTestCertificates } from '@strata/grpc-kit/testing';
import { MAX_MANIFEST_BYTES, MediaTypes, digestOf, isPublicAddress } from '@strata/oci';
import { createRegistryClient, type RegistryClient } from './registry-client.js';
import { verifyingStream } from './verifying-stream.js';

/** One request a test server saw. */
interface Seen {
  method: string;
  path: string;
  query: URLSearchParams;
  authorization: string | undefined;
}

interface TestServer {
  url: string;
  port: number;
  seen: Seen[];
  close(): Promise<void>;
}

type Handler = (req: IncomingMessage, res: ServerResponse, url: URL) => void;

async function listen(handler: Handler, options: { host?: string; tls?: { cert: Buffer; key: Buffer } } = {}): Promise<TestServer> {
  const host = options.host ?? '127.0.0.1';
  const seen: Seen[] = [];
  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://test');
    seen.push({ method: req.method ?? '', path: url.pathname, query: url.searchParams, authorization: req.headers.authorization });
    req.resume();
    handler(req, res, url);
  };
  const server: Server = options.tls === undefined ? createHttpServer(onRequest) : createHttpsServer(options.tls, onRequest);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    url: `${options.tls === undefined ? 'http' : 'https'}://${host}:${port}`,
    port,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const bytes = Buffer.from(JSON.stringify(body));
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': bytes.length, ...headers });
  res.end(bytes);
}

const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaTypes.ociManifest, config: {}, layers: [] }));
const manifestDigest = digestOf(manifest);
const blob = Buffer.alloc(100_000, 'strata');
const blobDigest = digestOf(blob);
/** A body of many socket reads, more than the transport reads ahead of a slow consumer. */
const large = randomBytes(4_000_000);
const largeDigest = digestOf(large);
const allTags = ['a', 'b', 'c', 'd', 'e'];
const credentials = { username: 'mirror', password: 's3cret' };
const basicOfCredentials = `Basic ${Buffer.from('mirror:s3cret').toString('base64')}`;

const servers: TestServer[] = [];
const clients: RegistryClient[] = [];
const scratch = tempDir('strata-distribution-client-');
afterAll(async () => {
  for (const client of clients) client.close();
  await Promise.all(servers.map((s) => s.close()));
  scratch.remove();
});

/** The token server ("another host"), the CDN that blob GETs redirect to, and the registry that sends Bearer challenges. */
let tokenServer: TestServer;
let cdn: TestServer;
let registry: TestServer;
const issued = new Map<string, { scopes: string[]; revoked: boolean }>();
let tokenLifetime = 60;

beforeAll(async () => {
  tokenServer = await listen((req, res, url) => {
    if (req.headers.authorization !== basicOfCredentials) return json(res, 401, { errors: [{ code: 'UNAUTHORIZED', message: 'bad credentials' }] });
    const token = `token-${issued.size + 1}`;
    issued.set(token, { scopes: url.searchParams.getAll('scope'), revoked: false });
    json(res, 200, issued.size % 2 === 0 ? { access_token: token, expires_in: tokenLifetime } : { token, expires_in: tokenLifetime });
  });
  cdn = await listen((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': blob.length });
    res.end(blob);
  });
  registry = await listen((req, res, url) => {
    const m = /^\/v2\/([a-z0-9/]+?)\/(manifests|blobs|tags)\/(.+)$/.exec(url.pathname);
    const repo = m?.[1];
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const grant = bearer === undefined ? undefined : issued.get(bearer);
    const allowed = grant !== undefined && !grant.revoked && (repo === undefined || grant.scopes.includes(`repository:${repo}:pull`));
    if (!allowed) {
      const scope = repo === undefined ? '' : `,scope="repository:${repo}:pull"`;
      return json(res, 401, { errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }, {
        'www-authenticate': `Bearer realm="${tokenServer.url}/token",service="test-registry"${scope}`,
      });
    }
    if (m === null) return json(res, 200, {});
    const [, , kind, rest] = m;
    if (repo === 'limited') return json(res, 429, { errors: [{ code: 'TOOMANYREQUESTS', message: 'slow down' }] }, { 'retry-after': '7' });
    if (repo === 'broken') return json(res, 503, { errors: [{ code: 'UNAVAILABLE', message: 'maintenance' }] });
    if (repo === 'slow') return;
    if (kind === 'manifests') {
      if (repo === 'big') {
        res.writeHead(200, { 'content-type': MediaTypes.ociManifest, 'content-length': MAX_MANIFEST_BYTES + 1 });
        return res.end(Buffer.alloc(MAX_MANIFEST_BYTES + 1, ' '));
      }
      res.writeHead(200, {
        'content-type': MediaTypes.ociManifest,
        'content-length': manifest.length,
        'docker-content-digest': repo === 'lying' ? digestOf('something else') : manifestDigest,
      });
      return res.end(req.method === 'HEAD' ? undefined : manifest);
    }
    if (kind === 'blobs' && repo === 'large') {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': large.length });
      return res.end(large);
    }
    if (kind === 'blobs' && repo === 'breaking') {
      // A thousand bytes of the body, then the connection ends.
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': blob.length });
      res.write(blob.subarray(0, 1000), () => setTimeout(() => res.socket?.destroy(), 50));
      return;
    }
    if (kind === 'blobs' && repo === 'stalling') {
      // A thousand bytes of the body, then nothing more.
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': blob.length });
      res.write(blob.subarray(0, 1000));
      return;
    }
    if (kind === 'blobs') {
      res.writeHead(307, { location: repo === 'loop' ? url.pathname : `${cdn.url}/cdn/${rest}?signature=abc` });
      return res.end();
    }
    const n = Number(url.searchParams.get('n') ?? allTags.length);
    const last = url.searchParams.get('last');
    const from = last === null ? 0 : allTags.indexOf(last) + 1;
    const tags = allTags.slice(from, from + n);
    const more = from + n < allTags.length;
    json(res, 200, { name: repo, tags }, more ? { link: `</v2/${repo}/tags/list?n=${n}&last=${tags[tags.length - 1]}>; rel="next"` } : {});
  });
  servers.push(tokenServer, cdn, registry);
});

describe('an upstream with Bearer tokens and redirects (local test servers)', () => {
  let now = Date.now();
  const client = (options: { fetchTimeoutMs?: number } = {}) => {
    const created = createRegistryClient({
      upstreams: [{ host: `127.0.0.1:${registry.port}`, credentials }],
      logger: silentLogger(),
      now: () => now,
      ...options,
    });
    clients.push(created);
    return created.upstream(`127.0.0.1:${registry.port}`);
  };
  const tokenRequests = () => tokenServer.seen.length;
  afterEach(() => {
    tokenLifetime = 60;
  });

  it('fetches a token with the credentials from the realm, caches it per scope and sends it up front', async () => {
    const upstream = client();
    const before = tokenRequests();
    expect(await upstream.headManifest('app', 'v1')).toEqual({ digest: manifestDigest, mediaType: MediaTypes.ociManifest, size: manifest.length });
    const request = tokenServer.seen.at(-1)!;
    expect({ authorization: request.authorization, service: request.query.get('service'), scope: request.query.getAll('scope') }).toEqual({
      authorization: basicOfCredentials,
      service: 'test-registry',
      scope: ['repository:app:pull'],
    });
    const seenBefore = registry.seen.length;
    expect((await upstream.getManifest('app', 'v1')).digest).toBe(manifestDigest);
    expect(registry.seen.slice(seenBefore).map((s) => s.authorization?.slice(0, 7))).toEqual(['Bearer ']);
    await upstream.headManifest('other', 'v1');
    await upstream.headManifest('other', 'v1');
    expect(tokenRequests() - before).toBe(2);
    expect(registry.seen.filter((s) => s.authorization === basicOfCredentials)).toEqual([]);
  });

  it('fetches one token for concurrent requests of one scope', async () => {
    const upstream = client();
    const before = tokenRequests();
    await Promise.all(Array.from({ length: 8 }, () => upstream.headManifest('concurrent', 'v1')));
    expect(tokenRequests() - before).toBe(1);
  });

  it('fetches a new token when the cached one expired, and when the upstream refuses it', async () => {
    tokenLifetime = 30;
    const upstream = client();
    const before = tokenRequests();
    await upstream.headManifest('expiring', 'v1');
    now += 26_000;
    await upstream.headManifest('expiring', 'v1');
    expect(tokenRequests() - before).toBe(1);
    now += 1_000;
    await upstream.headManifest('expiring', 'v1');
    expect(tokenRequests() - before).toBe(2);
    for (const grant of issued.values()) grant.revoked = true;
    await upstream.headManifest('expiring', 'v1');
    expect(tokenRequests() - before).toBe(3);
  });

  it('follows a blob redirect to another host without the Authorization header', async () => {
    const upstream = client();
    const download = await upstream.getBlob('app', blobDigest);
    const parts: Buffer[] = [];
    for await (const chunk of verifyingStream(download.body, blobDigest, blob.length)) parts.push(Buffer.from(chunk));
    expect(Buffer.concat(parts).equals(blob)).toBe(true);
    const atRegistry = registry.seen.filter((s) => s.path === `/v2/app/blobs/${blobDigest}`).at(-1)!;
    expect(atRegistry.authorization).toMatch(/^Bearer token-\d+$/);
    const atCdn = cdn.seen.at(-1)!;
    expect({ path: atCdn.path, signature: atCdn.query.get('signature'), authorization: atCdn.authorization }).toEqual({
      path: `/cdn/${blobDigest}`,
      signature: 'abc',
      authorization: undefined,
    });
    expect(cdn.seen.every((s) => s.authorization === undefined)).toBe(true);
  });

  it('fails a blob body that stops sending for the fetch timeout as Unavailable, and waits for a consumer that holds a chunk longer', async () => {
    const upstream = client({ fetchTimeoutMs: 300 });
    const stalled = await upstream.getBlob('stalling', blobDigest);
    const host = `127.0.0.1:${registry.port}`;
    let received = 0;
    await expectError(
      (async () => {
        for await (const chunk of stalled.body) received += (chunk as Buffer).length;
      })(),
      'Unavailable',
      `upstream ${host}: GET blob stalling@${blobDigest}: no data from ${host} for 300 ms after 1000 bytes`,
    );
    expect(received).toBe(1000);

    const slow = await upstream.getBlob('app', blobDigest);
    const parts: Buffer[] = [];
    for await (const chunk of slow.body) {
      if (parts.length === 0) await new Promise((resolve) => setTimeout(resolve, 700));
      parts.push(Buffer.from(chunk as Buffer));
    }
    expect(Buffer.concat(parts).equals(blob)).toBe(true);
  });

  it('reads a body whole for a consumer slower than the upstream, and fails one whose connection breaks as Unavailable', async () => {
    const upstream = client();
    const download = await upstream.getBlob('large', largeDigest);
    const parts: Buffer[] = [];
    for await (const chunk of download.body) {
      // Meanwhile the upstream sends on: reading pauses with a full read-ahead, and resumes.
      if (parts.length < 3) await new Promise((resolve) => setTimeout(resolve, 100));
      parts.push(Buffer.from(chunk));
    }
    expect(Buffer.concat(parts).equals(large)).toBe(true);

    const broken = await upstream.getBlob('breaking', blobDigest);
    const host = `127.0.0.1:${registry.port}`;
    let received = 0;
    const reading = (async () => {
      for await (const chunk of broken.body) received += chunk.length;
    })();
    await expect(reading).rejects.toMatchObject({
      kind: 'Unavailable',
      message: expect.stringContaining(`upstream ${host}: GET blob breaking@${blobDigest}: the connection broke after 1000 bytes: `),
    });
    expect(received).toBe(1000);
  });

  it('follows Link pagination of tags', async () => {
    const upstream = client();
    const first = await upstream.listTags('app', { n: 2 });
    expect(first).toEqual({ name: 'app', tags: ['a', 'b'], next: { n: 2, last: 'b' } });
    expect(await upstream.listTags('app', first.next)).toEqual({ name: 'app', tags: ['c', 'd'], next: { n: 2, last: 'd' } });
    expect(await upstream.listAllTags('app', { pageSize: 2 })).toEqual(allTags);
  });

  it.each([
    ['a manifest over 4 MiB', 'InvalidArgument', (u: Up) => u.getManifest('big', 'v1'),
      `upstream HOST: manifest big:v1 is ${MAX_MANIFEST_BYTES + 1} bytes or more, over the limit of ${MAX_MANIFEST_BYTES} bytes`],
    ['a Docker-Content-Digest that disagrees', 'FailedPrecondition', (u: Up) => u.getManifest('lying', 'v1'),
      `upstream HOST: manifest lying:v1: Docker-Content-Digest says ${digestOf('something else')}, but the content has digest ${manifestDigest}`],
    ['a manifest that is not the digest asked for', 'FailedPrecondition', (u: Up) => u.getManifest('app', digestOf('x')),
      `upstream HOST: manifest app@${digestOf('x')}: content has digest ${manifestDigest}, not the expected ${digestOf('x')}`],
    ['429 with Retry-After', 'ResourceExhausted', (u: Up) => u.getManifest('limited', 'v1'),
      'upstream HOST: manifest limited:v1: too many requests (TOOMANYREQUESTS: "slow down"); retry after 7 s'],
    ['503', 'Unavailable', (u: Up) => u.getManifest('broken', 'v1'),
      'upstream HOST: manifest broken:v1: the registry answered 503 (UNAVAILABLE: "maintenance"); try again later'],
    ['a redirect loop', 'FailedPrecondition', (u: Up) => u.getBlob('loop', blobDigest),
      `upstream HOST: GET blob loop@${blobDigest}: more than 5 redirects`],
    ['an upstream that does not answer', 'Unavailable', (u: Up) => u.getManifest('slow', 'v1'),
      'upstream HOST: GET manifest slow:v1: no answer from HOST within 300 ms'],
  ] as const)('refuses %s', async (_, kind, action, message) => {
    await expectError(action(client({ fetchTimeoutMs: 300 })), kind, message.replaceAll('HOST', `127.0.0.1:${registry.port}`));
  });

  it('fails as Unauthenticated when the token server refuses the credentials', async () => {
    const created = createRegistryClient({
      upstreams: [{ host: `127.0.0.1:${registry.port}`, credentials: { username: 'mirror', password: 'wrong' } }],
      logger: silentLogger(),
    });
    clients.push(created);
    await expectError(
      created.upstream(`127.0.0.1:${registry.port}`).getManifest('app', 'v1'),
      'Unauthenticated',
      `upstream 127.0.0.1:${registry.port}: token from ${tokenServer.url}/token for manifest app:v1: authentication failed (UNAUTHORIZED: "bad credentials"); check the credentials configured for this upstream`,
    );
  });
});

type Up = ReturnType<RegistryClient['upstream']>;

describe('redirect policy', () => {
  it('refuses an https upstream redirecting to plain http', async () => {
    const certificates = makeTestCertificates(scratch.path);
    const secure = await listen(
      (_req, res) => {
        res.writeHead(307, { location: `${cdn.url}/cdn/${blobDigest}` });
        res.end();
      },
      { tls: { cert: certificates.server.cert, key: certificates.server.key } },
    );
    servers.push(secure);
    const created = createRegistryClient({
      upstreams: [{ host: `127.0.0.1:${secure.port}`, endpoint: secure.url, ca: certificates.server.ca }],
      logger: silentLogger(),
    });
    clients.push(created);
    const upstream = created.upstream(`127.0.0.1:${secure.port}`);
    const before = cdn.seen.length;
    await expectError(
      upstream.getBlob('app', blobDigest),
      'PermissionDenied',
      `upstream 127.0.0.1:${secure.port}: redirect to ${cdn.url}/cdn/${blobDigest} refused: an https upstream may not send the client to plain http`,
    );
    expect(cdn.seen.length).toBe(before);
    expect(secure.seen.map((r) => [r.method, r.path])).toEqual([['GET', `/v2/app/blobs/${blobDigest}`]]);
  });

  const external = Object.values(networkInterfaces())
    .flat()
    .find((i) => i !== undefined && i.family === 'IPv4' && !i.internal)?.address;

  it.skipIf(external === undefined)('refuses redirects from a non-loopback upstream to loopback and private addresses', async () => {
    const ownName = hostname();
    const resolved = await lookup(ownName, { all: true }).catch(() => []);
    const nameIsPrivate = resolved.length > 0 && resolved.every((a) => !isPublicAddress(a.address));
    const targets = [`${cdn.url}/cdn/${blobDigest}`, `http://localhost:${cdn.port}/cdn`, ...(nameIsPrivate ? [`http://${ownName}:${cdn.port}/cdn`] : [])];
    let next = 0;
    const upstreamServer = await listen(
      (_req, res) => {
        res.writeHead(307, { location: targets[next++ % targets.length] });
        res.end();
      },
      { host: external! },
    );
    servers.push(upstreamServer);
    const host = `${external}:${upstreamServer.port}`;
    const created = createRegistryClient({ upstreams: [{ host, insecure: true }], logger: silentLogger() });
    clients.push(created);
    const upstream = created.upstream(host);
    const before = cdn.seen.length;
    await expectError(
      upstream.getBlob('app', blobDigest),
      'PermissionDenied',
      `upstream ${host}: redirect to ${cdn.url}/cdn/${blobDigest} refused: 127.0.0.1 is a loopback, private or reserved address`,
    );
    await expectError(
      upstream.getBlob('app', blobDigest),
      'PermissionDenied',
      `upstream ${host}: redirect to http://localhost:${cdn.port}/cdn refused: localhost is a local host name`,
    );
    if (nameIsPrivate) {
      await expectError(
        upstream.getBlob('app', blobDigest),
        'PermissionDenied',
        new RegExp(`^upstream ${host.replaceAll('.', '\\.')}: redirect to http://${ownName.toLowerCase()}:${cdn.port}/cdn refused: ${ownName} resolves to .+, a loopback, private or reserved address$`),
      );
    }
    expect(cdn.seen.length).toBe(before);
  });

  it('refuses plain http to a non-loopback upstream without insecure', async () => {
    await expectError(
      () => createRegistryClient({ upstreams: [{ host: 'registry.example.com', endpoint: 'http://registry.example.com' }], logger: silentLogger() }),
      'InvalidArgument',
      'upstream registry.example.com: plain HTTP to registry.example.com refused; only loopback upstreams may use http:// without "insecure: true" in their configuration',
    );
  });
});
