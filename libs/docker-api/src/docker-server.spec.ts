import { connect } from 'node:net';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { invalidArgument, notFound, silentLogger } from '@strata/kit';
import { dockerError } from './docker-error.js';
import type { DockerRoute } from './docker-router.js';
import { startDockerApiServer, type DockerApiServer } from './docker-server.js';
import { dockerRequest, rawExchange } from './testing/docker-request.js';

const routes: DockerRoute[] = [
  {
    method: 'GET',
    path: '/echo/{id}',
    async handle(ctx) {
      ctx.json(200, { id: ctx.params['id'], version: ctx.apiVersion, q: ctx.query.get('q') });
    },
  },
  {
    method: 'POST',
    path: '/body',
    async handle(ctx) {
      ctx.json(201, await ctx.readJson());
    },
  },
  {
    method: 'GET',
    path: '/fail/{how}',
    async handle(ctx) {
      const how = ctx.params['how'];
      if (how === 'missing') throw notFound('No such container: x');
      if (how === 'bad') throw invalidArgument('invalid port');
      if (how === 'teapot') throw dockerError(418, 'short and stout');
      throw new Error('secret internals');
    },
  },
  {
    method: 'POST',
    path: '/raw',
    async handle(ctx) {
      const body = await ctx.readJson<{ greeting?: string }>();
      const stream = await ctx.hijack('application/vnd.docker.raw-stream');
      stream.write(`${body.greeting ?? 'none'}:`);
      stream.on('data', (chunk: Buffer) => stream.end(chunk.toString().toUpperCase()));
      if (!ctx.upgrade) stream.end('no-stdin');
    },
  },
];

describe('startDockerApiServer', () => {
  let dir: string;
  let server: DockerApiServer;
  let socketPath: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'docker-api-'));
    socketPath = join(dir, 'docker.sock');
    server = await startDockerApiServer({ socketPath, routes, logger: silentLogger(), maxHeaderBytes: 4096, maxBodyBytes: 1024 });
  });
  afterAll(async () => {
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('serves the socket with mode 0660', async () => {
    expect((await stat(socketPath)).mode & 0o777).toBe(0o660);
  });

  it.each([
    ['/echo/abc?q=1', { id: 'abc', version: '1.44', q: '1' }],
    ['/v1.41/echo/abc', { id: 'abc', version: '1.41', q: null }],
    ['/v1.24/echo/a%20b', { id: 'a b', version: '1.24', q: null }],
  ])('routes %s', async (path, body) => {
    const res = await dockerRequest(socketPath, 'GET', path);
    expect(res.status).toBe(200);
    expect(res.json()).toEqual(body);
    expect(res.headers['api-version']).toBe('1.44');
    expect(res.headers['ostype']).toBe('linux');
  });

  it.each([
    ['GET', '/nope', 404, 'page not found'],
    ['DELETE', '/echo/abc', 404, 'page not found'],
    ['GET', '/v1.99/echo/abc', 400, 'client version 1.99 is too new. Maximum supported API version is 1.44'],
    [
      'GET',
      '/v1.12/echo/abc',
      400,
      'client version 1.12 is too old. Minimum supported API version is 1.24, please upgrade your client to a newer version',
    ],
    ['GET', '/echo/%E0%A4%A', 400, 'malformed percent-encoding in request path segment "%E0%A4%A"'],
    ['GET', '/fail/missing', 404, 'No such container: x'],
    ['GET', '/fail/bad', 400, 'invalid port'],
    ['GET', '/fail/teapot', 418, 'short and stout'],
    ['GET', '/fail/crash', 500, 'internal error in the Docker API server; see the node-agent log'],
  ])('answers %s %s with %i {"message": %j}', async (method, path, status, message) => {
    const res = await dockerRequest(socketPath, method, path);
    expect(res.status).toBe(status);
    expect(res.headers['content-type']).toBe('application/json');
    expect(res.json()).toEqual({ message });
  });

  it('reads JSON bodies', async () => {
    const res = await dockerRequest(socketPath, 'POST', '/body', JSON.stringify({ Image: 'busybox' }));
    expect(res.status).toBe(201);
    expect(res.json()).toEqual({ Image: 'busybox' });
    expect((await dockerRequest(socketPath, 'POST', '/body')).json()).toEqual({});
  });

  it.each([
    ['{"Image": ', 400, /^invalid JSON in request body: /],
    ['[1, 2]', 400, /^invalid JSON in request body: expected an object$/],
    ['"text"', 400, /^invalid JSON in request body: expected an object$/],
    [`{"a":"${'x'.repeat(2000)}"}`, 413, /^request body too large: at most 1024 bytes$/],
  ])('refuses the body %#', async (body, status, message) => {
    const res = await dockerRequest(socketPath, 'POST', '/body', body);
    expect(res.status).toBe(status);
    expect((res.json() as { message: string }).message).toMatch(message);
  });

  it('refuses a chunked body over the cap', async () => {
    const head = 'POST /body HTTP/1.1\r\nHost: docker\r\nTransfer-Encoding: chunked\r\n\r\n';
    const chunk = 'x'.repeat(600);
    const text = await rawExchange(socketPath, `${head}258\r\n${chunk}\r\n258\r\n${chunk}\r\n0\r\n\r\n`);
    expect(text).toMatch(/^HTTP\/1\.1 413 /);
    expect(text).toContain('{"message":"request body too large: at most 1024 bytes"}');
  });

  it('answers huge headers with 431 and malformed requests with 400, and keeps serving', async () => {
    const huge = await rawExchange(socketPath, `GET /echo/a HTTP/1.1\r\nHost: docker\r\nX-Big: ${'a'.repeat(8000)}\r\n\r\n`);
    expect(huge).toMatch(/^HTTP\/1\.1 431 /);
    expect(huge).toContain('{"message":"request headers too large: at most 4096 bytes"}');
    const garbage = await rawExchange(socketPath, 'THIS IS NOT HTTP\r\n\r\n');
    expect(garbage).toMatch(/^HTTP\/1\.1 400 /);
    expect(garbage).toContain('"message":"malformed HTTP request: ');
    expect((await dockerRequest(socketPath, 'GET', '/echo/after')).status).toBe(200);
  });

  it('takes an upgrade connection over with 101 UPGRADED, after its body', async () => {
    const body = '{"greeting":"hi"}';
    const text = await rawExchange(
      socketPath,
      `POST /v1.43/raw HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${body.length}\r\n\r\n${body}stdin`,
    );
    expect(text).toMatch(/^HTTP\/1\.1 101 UPGRADED\r\n/);
    expect(text).toContain('Content-Type: application/vnd.docker.raw-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n');
    expect(text.endsWith('\r\n\r\nhi:STDIN')).toBe(true);
  });

  it('answers an upgrade request it does not take over with a JSON error, then closes', async () => {
    const text = await rawExchange(socketPath, 'POST /v1.43/containers/x/attach HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n');
    expect(text).toMatch(/^HTTP\/1\.1 404 Not Found\r\n/);
    expect(text).toContain('Connection: close\r\n');
    expect(text).toContain('{"message":"page not found"}');
  });

  it('streams a raw response without upgrade', async () => {
    const res = await dockerRequest(socketPath, 'POST', '/raw', '{"greeting":"yo"}');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/vnd.docker.raw-stream');
    expect(res.body.toString()).toBe('yo:no-stdin');
  });

  it('refuses a socket held by a live server', async () => {
    await expect(startDockerApiServer({ socketPath, routes, logger: silentLogger() })).rejects.toThrow(
      `unix socket ${socketPath} is already in use by another server; stop it or choose another socket path`,
    );
    expect((await dockerRequest(socketPath, 'GET', '/echo/still')).status).toBe(200);
  });

  it('ends taken-over connections and removes its socket on close', async () => {
    const other = join(dir, 'other.sock');
    const second = await startDockerApiServer({ socketPath: other, routes, logger: silentLogger() });
    const open = connect(other);
    open.on('error', () => undefined);
    const closed = new Promise((resolve) => open.once('close', resolve));
    open.write('POST /raw HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n');
    await new Promise((resolve) => open.once('data', resolve));
    await second.close();
    await closed;
    await expect(stat(other)).rejects.toThrow(/ENOENT/);
  });
});
