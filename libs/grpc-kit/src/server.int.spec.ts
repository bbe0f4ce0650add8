import { Client, credentials, type MethodDefinition } from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorKind, silentLogger } from '@strata/kit';
import { tempDir } from '@strata/kit/testing';
import { checkHealth } from './client.js';
import { createServer, type Server } from './server.js';
import { fromGrpcError } from './status.js';
import { makeTestCertificates, type TestCertificates } from './testing/certificates.js';

const check = healthService['Check'] as MethodDefinition<{ service: string }, { status: string }>;

function rawCheck(address: string, creds: ReturnType<typeof credentials.createSsl>): Promise<unknown> {
  const client = new Client(address, creds, { 'grpc.use_local_subchannel_pool': 1 });
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(check.path, check.requestSerialize, check.responseDeserialize, { service: '' }, { deadline: Date.now() + 3_000 }, (err, res) => {
      client.close();
      if (err) reject(fromGrpcError(err, address));
      else resolve(res);
    });
  });
}

describe('createServer on TCP with mutual TLS', () => {
  const dir = tempDir('grpc-kit-tls-');
  let certs: TestCertificates;
  let server: Server;
  let address: string;

  beforeAll(async () => {
    certs = makeTestCertificates(dir.path);
    server = createServer({ logger: silentLogger(), services: [], tcp: { host: '127.0.0.1', port: 0, tls: certs.server } });
    const { tcpPort } = await server.start();
    address = `localhost:${tcpPort}`;
  });
  afterAll(async () => {
    await server?.shutdown(100);
    dir.remove();
  });

  it('answers a client that presents a certificate signed by the CA', async () => {
    await expect(checkHealth({ address, tls: certs.client })).resolves.toBe('SERVING');
  });

  it.each([
    { name: 'no client certificate', creds: () => credentials.createSsl(certs.client.ca) },
    { name: 'a certificate from another CA', creds: () => credentials.createSsl(certs.client.ca, certs.stranger.key, certs.stranger.cert) },
  ])('refuses a client with $name', async ({ creds }) => {
    const err = await rawCheck(address, creds()).catch((e: unknown) => e);
    expect(errorKind(err)).toBe('Unavailable');
    expect((err as Error).message).toMatch(new RegExp(`^cannot reach ${address}: `));
  });

  it('is not reachable without TLS', async () => {
    const err = await rawCheck(address, credentials.createInsecure()).catch((e: unknown) => e);
    expect(errorKind(err)).toBe('Unavailable');
    expect((err as Error).message).toMatch(new RegExp(`^cannot reach ${address}: `));
  });
});
