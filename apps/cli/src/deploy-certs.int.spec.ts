// The certificates of deploy/kubernetes/make-certs.sh against a real
// layer-store started with the TCP flags its Deployment uses: the client
// certificate gets in under the Service's name; a client certificate of
// another CA is refused by the server, and a client trusting another CA
// refuses the server.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { checkHealth, waitForHealthy, type Target } from '@strata/grpc-kit';
import { freePort, startProcess, tempDir, type TestProcess } from '@strata/kit/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const run = promisify(execFile);

describe.skipIf(!existsSync('/usr/bin/openssl'))('deploy/kubernetes/make-certs.sh with the layer-store', () => {
  const dir = tempDir('strata-certs-');
  const other = tempDir('strata-other-ca-');
  let store: TestProcess | undefined;
  let address = '';
  const pem = (base: string, name: string) => readFileSync(join(base, name));
  const target = (tls: Partial<{ cert: Buffer; key: Buffer }>, ca = pem(join(dir.path, 'tls'), 'ca.crt')): Target => ({
    address,
    tls: { ca, cert: tls.cert ?? Buffer.alloc(0), key: tls.key ?? Buffer.alloc(0), serverName: 'strata-layer-store.strata.svc.cluster.local' },
  });

  beforeAll(async () => {
    const script = join(root, 'deploy/kubernetes/make-certs.sh');
    await run('bash', [script, join(dir.path, 'tls')]);
    await run('bash', [script, join(other.path, 'tls')]);
    const port = await freePort();
    address = `127.0.0.1:${port}`;
    const tls = join(dir.path, 'tls');
    store = startProcess(process.execPath, [
      join(root, 'apps/layer-store/bin/layer-store.mjs'),
      ...['--state-dir', join(dir.path, 'state'), '--run-dir', join(dir.path, 'run'), '--nats-url', ''],
      ...['--tcp-listen', address, '--tls-cert', join(tls, 'layer-store.crt'), '--tls-key', join(tls, 'layer-store.key'), '--tls-ca', join(tls, 'ca.crt')],
    ]);
    await waitForHealthy({ unixSocket: join(dir.path, 'run/layer-store.sock') }, { timeoutMs: 20_000 }).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}\n${store?.output()}`);
    });
  });

  afterAll(async () => {
    await store?.stop();
    dir.remove();
    other.remove();
  });

  it('lets in a client with the client certificate, checking the server by its Service name', async () => {
    const tls = join(dir.path, 'tls');
    expect(await checkHealth(target({ cert: pem(tls, 'client.crt'), key: pem(tls, 'client.key') }))).toBe('SERVING');
  });

  it('keeps out a client whose certificate another CA signed', async () => {
    const tls = join(dir.path, 'tls');
    const foreign = join(other.path, 'tls');
    await expect(checkHealth(target({ cert: pem(foreign, 'client.crt'), key: pem(foreign, 'client.key') }, pem(tls, 'ca.crt')), '', { timeoutMs: 3_000 })).rejects.toThrow(
      /^cannot reach 127\.0\.0\.1:\d+: (Failed to connect|read ECONNRESET)/,
    );
  });

  it('keeps out a client that trusts another CA (the server is not whom it claims)', async () => {
    const foreign = join(other.path, 'tls');
    await expect(checkHealth(target({ cert: pem(foreign, 'client.crt'), key: pem(foreign, 'client.key') }, pem(foreign, 'ca.crt')), '', { timeoutMs: 3_000 })).rejects.toThrow(
      /^cannot reach 127\.0\.0\.1:\d+: .*self-signed certificate in certificate chain/,
    );
  });
});
