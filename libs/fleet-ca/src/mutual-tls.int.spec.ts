// A real gRPC server (grpc-kit, TCP with mutual TLS) on certificates of a fleet CA made with openssl.
import { Client, credentials, type ChannelCredentials, type MethodDefinition } from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkHealth, createServer, fromGrpcError, type Server, type TlsMaterial } from '@strata/grpc-kit';
import { errorKind, silentLogger } from '@strata/kit';
import { tempDir } from '@strata/kit/testing';
import { createFleetCa, type IssuedCertificate } from './fleet-ca.js';
import { readTlsFiles } from './tls-files.js';

const check = healthService['Check'] as MethodDefinition<{ service: string }, { status: string }>;

/** A health check with credentials built by hand, for clients grpc-kit does not make (no certificate, no TLS). */
function rawCheck(address: string, creds: ChannelCredentials): Promise<unknown> {
  const client = new Client(address, creds, { 'grpc.use_local_subchannel_pool': 1 });
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(check.path, check.requestSerialize, check.responseDeserialize, { service: '' }, { deadline: Date.now() + 3_000 }, (err, res) => {
      client.close();
      if (err) reject(fromGrpcError(err, address));
      else resolve(res);
    });
  });
}

async function refusal(promise: Promise<unknown>): Promise<{ kind: string; message: string }> {
  const err = await promise.then(
    () => new Error('expected the call to be refused'),
    (e: unknown) => e,
  );
  return { kind: errorKind(err), message: (err as Error).message };
}

describe('mutual TLS with fleet CA certificates', () => {
  const tmp = tempDir('fleet-mtls-');
  const fleet = createFleetCa({ dir: join(tmp.path, 'fleet') });
  const otherFleet = createFleetCa({ dir: join(tmp.path, 'other-fleet') });
  let node: IssuedCertificate;
  let peer: TlsMaterial;
  let client: TlsMaterial;
  let stranger: TlsMaterial;
  let server: Server;
  let port: number;

  beforeAll(async () => {
    await fleet.init();
    await otherFleet.init();
    node = await fleet.issue({ kind: 'node', name: 'node-1', dns: ['node-1.fleet.test'], ips: ['127.0.0.1'], out: join(tmp.path, 'node-1') });
    peer = await readTlsFiles((await fleet.issue({ kind: 'node', name: 'node-2', out: join(tmp.path, 'node-2') })).files);
    client = await readTlsFiles((await fleet.issue({ kind: 'client', name: 'admin', out: join(tmp.path, 'admin') })).files);
    stranger = await readTlsFiles((await otherFleet.issue({ kind: 'client', name: 'admin', out: join(tmp.path, 'stranger') })).files);
    server = createServer({ logger: silentLogger(), services: [], tcp: { host: '127.0.0.1', port: 0, tls: await readTlsFiles(node.files) } });
    port = (await server.start()).tcpPort!;
  });
  afterAll(async () => {
    await server?.shutdown(100);
    tmp.remove();
  });

  it('keeps every private key private (0600)', () => {
    for (const key of [join(fleet.dir, 'ca.key'), node.files.key, join(tmp.path, 'admin', 'admin.key'), join(tmp.path, 'node-2', 'node-2.key')]) {
      expect({ key, mode: statSync(key).mode & 0o777 }).toEqual({ key, mode: 0o600 });
    }
  });

  it('serves a client with a fleet client certificate, at the IP and the DNS name in the node certificate', async () => {
    await expect(checkHealth({ address: `127.0.0.1:${port}`, tls: client })).resolves.toBe('SERVING');
    await expect(checkHealth({ address: `127.0.0.1:${port}`, tls: { ...client, serverName: 'node-1.fleet.test' } })).resolves.toBe('SERVING');
    await expect(checkHealth({ address: `127.0.0.1:${port}`, tls: { ...client, serverName: 'node-1' } })).resolves.toBe('SERVING');
  });

  it('serves another node of the fleet, whose certificate is also a client certificate', async () => {
    await expect(checkHealth({ address: `127.0.0.1:${port}`, tls: peer })).resolves.toBe('SERVING');
  });

  it.each([
    { name: 'a host name the node certificate does not carry', address: () => `localhost:${port}`, tls: () => client },
    { name: 'the name of another node', address: () => `127.0.0.1:${port}`, tls: () => ({ ...client, serverName: 'node-2' }) },
    { name: 'a CA other than the fleet CA to check the server', address: () => `127.0.0.1:${port}`, tls: () => ({ ...client, ca: stranger.ca }) },
  ])('is refused by a client that expects $name', async ({ address, tls }) => {
    const { kind, message } = await refusal(checkHealth({ address: address(), tls: tls() }));
    expect(kind).toBe('Unavailable');
    expect(message).toMatch(new RegExp(`^cannot reach ${address()}: `));
  });

  it.each([
    { name: 'no client certificate', creds: () => credentials.createSsl(client.ca) },
    { name: 'a client certificate of another CA', creds: () => credentials.createSsl(client.ca, stranger.key, stranger.cert) },
    { name: 'no TLS at all', creds: () => credentials.createInsecure() },
  ])('refuses a client with $name', async ({ creds }) => {
    const address = `127.0.0.1:${port}`;
    const { kind, message } = await refusal(rawCheck(address, creds()));
    expect(kind).toBe('Unavailable');
    expect(message).toMatch(new RegExp(`^cannot reach ${address}: `));
  });

  it('does not let a client certificate serve: clients refuse a server without serverAuth', async () => {
    const impostor = createServer({ logger: silentLogger(), services: [], tcp: { host: '127.0.0.1', port: 0, tls: client } });
    try {
      const address = `127.0.0.1:${(await impostor.start()).tcpPort!}`;
      const { kind, message } = await refusal(checkHealth({ address, tls: { ...peer, serverName: 'admin' } }));
      expect(kind).toBe('Unavailable');
      expect(message).toMatch(/unsuitable certificate purpose/);
    } finally {
      await impostor.shutdown(100);
    }
  });

  it('never listens on TCP without TLS', async () => {
    const bare = createServer({
      logger: silentLogger(),
      services: [],
      tcp: { host: '127.0.0.1', port: 0, tls: { cert: Buffer.alloc(0), key: Buffer.alloc(0), ca: Buffer.alloc(0) } },
    });
    expect(await refusal(bare.start())).toEqual({
      kind: 'InvalidArgument',
      message: 'refusing to listen on TCP without mutual TLS: give a certificate, its key and the CA of clients',
    });
  });
});
