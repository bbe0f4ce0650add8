import { status as Code, type MethodDefinition, type ServiceDefinition } from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';
import { mkdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { createServer as createNetServer } from 'node:net';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ErrorKinds, StrataError, errorKind, silentLogger, type ErrorKind } from '@strata/kit';
import { tempDir } from '@strata/kit/testing';
import { checkHealth, createClient, waitForHealthy, type RpcClient } from './client.js';
import { serverStream, unary } from './handlers.js';
import { createServer, type Server } from './server.js';
import { INTERNAL_MESSAGE } from './status.js';

interface Req {
  kind?: ErrorKind | 'plain';
  message?: string;
  count?: number;
}
interface Res {
  n: number;
}

const json = <T>() => ({
  serialize: (v: T) => Buffer.from(JSON.stringify(v)),
  deserialize: (b: Buffer) => JSON.parse(b.toString('utf8')) as T,
});
const method = <Rq, Rs>(name: string, responseStream: boolean): MethodDefinition<Rq, Rs> => ({
  path: `/test.v1.Probe/${name}`,
  requestStream: false,
  responseStream,
  requestSerialize: json<Rq>().serialize,
  requestDeserialize: json<Rq>().deserialize,
  responseSerialize: json<Rs>().serialize,
  responseDeserialize: json<Rs>().deserialize,
});

/** A small real service for the tests: Fail throws what it is asked to, Count streams numbers. */
const ProbeService = {
  fail: method<Req, Res>('Fail', false),
  count: method<Req, Res>('Count', true),
} satisfies ServiceDefinition;

function probeImplementation(logger = silentLogger()) {
  return {
    fail: unary<Req, Res>(logger, async (req) => {
      if (req.kind === undefined) return { n: 1 };
      if (req.kind === 'plain') throw new Error(`secret detail: ${req.message}`);
      throw new StrataError(req.kind, req.message ?? '', { fields: { digest: 'sha256:abc', size: 3 } });
    }),
    count: serverStream<Req, Res>(logger, async function* (req) {
      for (let n = 0; n < (req.count ?? 0); n++) yield { n };
      if (req.kind !== undefined && req.kind !== 'plain') throw new StrataError(req.kind, req.message ?? '');
    }),
  };
}

describe('createServer on a unix socket', () => {
  let dir: { path: string; remove: () => void };
  let servers: Server[];
  let clients: RpcClient[];
  const start = async (socket: string, logger = silentLogger()) => {
    const server = createServer({ logger, services: [{ definition: ProbeService, implementation: probeImplementation(logger) }], unixSocket: socket });
    servers.push(server);
    await server.start();
    return server;
  };
  const client = (socket: string) => {
    const c = createClient({ unixSocket: socket });
    clients.push(c);
    return c;
  };

  beforeEach(() => {
    dir = tempDir('grpc-kit-');
    servers = [];
    clients = [];
  });
  afterEach(async () => {
    for (const c of clients) c.close();
    await Promise.all(servers.map((s) => s.shutdown(100)));
    dir.remove();
  });

  it('creates the socket 0600 in a new directory 0700 and removes it on shutdown', async () => {
    const socket = join(dir.path, 'run', 'strata', 'probe.sock');
    const server = await start(socket);
    expect(statSync(socket).isSocket()).toBe(true);
    expect(statSync(socket).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir.path, 'run', 'strata')).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir.path, 'run')).mode & 0o777).toBe(0o700);
    await server.shutdown();
    expect(() => statSync(socket)).toThrow(/ENOENT/);
  });

  it('reports SERVING for the server and each service, SERVICE_UNKNOWN for others', async () => {
    const socket = join(dir.path, 'probe.sock');
    await start(socket);
    await expect(checkHealth({ unixSocket: socket })).resolves.toBe('SERVING');
    await expect(checkHealth({ unixSocket: socket }, 'test.v1.Probe')).resolves.toBe('SERVING');
    await expect(checkHealth({ unixSocket: socket }, 'test.v1.Nope')).resolves.toBe('SERVICE_UNKNOWN');
    await expect(waitForHealthy({ unixSocket: socket }, { timeoutMs: 2_000 })).resolves.toBeUndefined();
  });

  it('reports NOT_SERVING to a watcher when it shuts down', async () => {
    const socket = join(dir.path, 'probe.sock');
    const server = await start(socket);
    const watch = healthService['Watch'] as MethodDefinition<{ service: string }, { status: string }>;
    const seen: string[] = [];
    const watching = (async () => {
      try {
        for await (const m of client(socket).serverStream(watch, { service: '' })) seen.push(m.status);
      } catch {
        /* the server cancels the watch at the end of the grace period */
      }
    })();
    await expect.poll(() => seen).toEqual(['SERVING']);
    await server.shutdown(300);
    await watching;
    expect(seen).toEqual(['SERVING', 'NOT_SERVING']);
  });

  it.each(ErrorKinds)('carries a %s error to the client with its kind, message and fields', async (kind) => {
    const socket = join(dir.path, 'probe.sock');
    await start(socket);
    const message = `the ${kind} sentence: what was wrong and what to do`;
    const err = await client(socket).unary(ProbeService.fail, { kind, message }).catch((e: unknown) => e);
    expect(errorKind(err)).toBe(kind);
    expect((err as StrataError).message).toBe(message);
    expect((err as StrataError).fields).toEqual({ digest: 'sha256:abc', size: 3 });
  });

  it('ends a server stream with the translated error after the messages sent', async () => {
    const socket = join(dir.path, 'probe.sock');
    await start(socket);
    const got: number[] = [];
    const err = await (async () => {
      for await (const m of client(socket).serverStream(ProbeService.count, { count: 3, kind: 'NotFound', message: 'gone' })) got.push(m.n);
    })().catch((e: unknown) => e);
    expect(got).toEqual([0, 1, 2]);
    expect(errorKind(err)).toBe('NotFound');
    expect((err as Error).message).toBe('gone');
  });

  it('sends INTERNAL with a generic message for an unforeseen error, and logs the cause', async () => {
    const socket = join(dir.path, 'probe.sock');
    let log = '';
    const logger = pino({ level: 'error' }, new Writable({ write: (chunk, _e, cb) => ((log += String(chunk)), cb()) }));
    await start(socket, logger);
    const err = await client(socket).unary(ProbeService.fail, { kind: 'plain', message: 'db password' }).catch((e: unknown) => e);
    expect(errorKind(err)).toBe('Internal');
    expect((err as Error).message).toBe(INTERNAL_MESSAGE);
    expect((err as Error).message).not.toContain('secret');
    expect(log).toContain('secret detail: db password');
    expect(log).toContain('/test.v1.Probe/Fail');
  });

  it('removes a stale socket left by a dead server', async () => {
    const socket = join(dir.path, 'probe.sock');
    const dead = createNetServer();
    await new Promise<void>((r) => dead.listen(join(dir.path, 'tmp.sock'), r));
    renameSync(join(dir.path, 'tmp.sock'), socket);
    await new Promise<void>((r) => dead.close(() => r()));
    expect(statSync(socket).isSocket()).toBe(true);
    await start(socket);
    await expect(client(socket).unary(ProbeService.fail, {})).resolves.toEqual({ n: 1 });
  });

  it('refuses a socket another live server answers on, and leaves that server alone', async () => {
    const socket = join(dir.path, 'probe.sock');
    await start(socket);
    const err = await start(socket).catch((e: unknown) => e);
    expect(errorKind(err)).toBe('FailedPrecondition');
    expect((err as Error).message).toBe(`unix socket ${socket} is already in use by another server; stop it or choose another socket path`);
    await expect(checkHealth({ unixSocket: socket })).resolves.toBe('SERVING');
  });

  it.each([
    {
      name: 'a path that is not a socket',
      options: (d: string) => {
        writeFileSync(join(d, 'file'), 'x');
        return { unixSocket: join(d, 'file') };
      },
      kind: 'FailedPrecondition',
      message: (d: string) => `${join(d, 'file')} exists and is not a unix socket; remove it or choose another socket path`,
    },
    {
      name: 'nothing to listen on',
      options: () => ({}),
      kind: 'InvalidArgument',
      message: () => 'nothing to listen on: give a unix socket path or a TCP address with TLS',
    },
    {
      name: 'TCP without TLS',
      options: () => ({ tcp: { host: '127.0.0.1', port: 0, tls: { cert: Buffer.alloc(0), key: Buffer.alloc(0), ca: Buffer.alloc(0) } } }),
      kind: 'InvalidArgument',
      message: () => 'refusing to listen on TCP without mutual TLS: give a certificate, its key and the CA of clients',
    },
    {
      name: 'a socket path too long for the kernel',
      options: (d: string) => {
        const long = join(d, 'x'.repeat(100));
        mkdirSync(long);
        return { unixSocket: join(long, 'probe.sock') };
      },
      kind: 'InvalidArgument',
      message: (d: string) => `unix socket path ${join(d, 'x'.repeat(100), 'probe.sock')} is too long: at most 96 bytes; choose a shorter run dir`,
    },
  ])('refuses to start with $name', async ({ options, kind, message }) => {
    const server = createServer({ logger: silentLogger(), services: [], ...options(dir.path) });
    servers.push(server);
    const err = await server.start().catch((e: unknown) => e);
    expect(errorKind(err)).toBe(kind);
    expect((err as Error).message).toBe(message(dir.path));
  });

  it('says which target cannot be reached', async () => {
    const socket = join(dir.path, 'nobody.sock');
    const err = await client(socket).unary(ProbeService.fail, {}).catch((e: unknown) => e);
    expect(errorKind(err)).toBe('Unavailable');
    expect((err as Error).message).toMatch(new RegExp(`^cannot reach unix:${socket}: .*; check that the service is running and the address is right$`));
    expect(((err as StrataError).cause as { code: number }).code).toBe(Code.UNAVAILABLE);
  });

  it('gives up waiting for health with a sentence naming the target', async () => {
    const socket = join(dir.path, 'nobody.sock');
    const err = await waitForHealthy({ unixSocket: socket }, { timeoutMs: 300 }).catch((e: unknown) => e);
    expect(errorKind(err)).toBe('Unavailable');
    expect((err as Error).message).toMatch(new RegExp(`^unix:${socket} did not become healthy within 300 ms \\(last: cannot reach`));
  });
});
