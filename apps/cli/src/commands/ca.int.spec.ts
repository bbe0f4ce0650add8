// strata ca with the real openssl, and a real layer-store process serving TCP on the certificates it issued.
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readBlob, writeBlob } from '@strata/content/testing';
import { createGrpcStore } from '@strata/content-grpc';
import { readTlsFiles } from '@strata/fleet-ca';
import { checkHealth, waitForHealthy, type TlsMaterial } from '@strata/grpc-kit';
import { errorKind, silentLogger } from '@strata/kit';
import { freePort, startProcess, tempDir, type TestProcess } from '@strata/kit/testing';
import { runCaptured, type CapturedRun } from '../testing/run-captured.js';

const layerStoreBin = fileURLToPath(new URL('../../../layer-store/bin/layer-store.mjs', import.meta.url));

async function cli(...argv: string[]): Promise<CapturedRun> {
  return runCaptured(argv);
}

const mode = (path: string) => statSync(path).mode & 0o777;

describe('strata ca', () => {
  const tmp = tempDir('strata-ca-');
  const caDir = join(tmp.path, 'ca');
  const nodeDir = join(tmp.path, 'node-1');
  let layerStore: TestProcess | undefined;
  let port: number;
  let clientTls: TlsMaterial;
  let strangerTls: TlsMaterial;

  beforeAll(async () => {
    expect(await cli('ca', 'init', '--dir', caDir, '--name', 'test fleet', '--days', '30')).toMatchObject({ code: 0, err: '' });
    expect(await cli('ca', 'issue', 'node', 'node-1', '--dir', caDir, '--ip', '127.0.0.1', '--dns', 'node-1.fleet.test', '--out', nodeDir, '--days', '2')).toMatchObject({
      code: 0,
      err: '',
    });
    expect(await cli('ca', 'issue', 'client', 'admin', '--dir', caDir, '--days', '2')).toMatchObject({ code: 0, err: '' });
    expect(await cli('ca', 'init', '--dir', join(tmp.path, 'other'))).toMatchObject({ code: 0 });
    expect(await cli('ca', 'issue', 'client', 'admin', '--dir', join(tmp.path, 'other'), '--days', '2')).toMatchObject({ code: 0 });
    clientTls = await readTlsFiles({ cert: join(caDir, 'clients/admin/admin.crt'), key: join(caDir, 'clients/admin/admin.key'), ca: join(caDir, 'clients/admin/ca.crt') });
    strangerTls = await readTlsFiles({
      cert: join(tmp.path, 'other/clients/admin/admin.crt'),
      key: join(tmp.path, 'other/clients/admin/admin.key'),
      ca: join(tmp.path, 'other/clients/admin/ca.crt'),
    });

    port = await freePort();
    const run = join(tmp.path, 'run');
    layerStore = startProcess(process.execPath, [
      layerStoreBin,
      '--state-dir',
      join(tmp.path, 'state'),
      '--run-dir',
      run,
      '--nats-url',
      '',
      '--tcp-listen',
      `127.0.0.1:${port}`,
      '--tls-cert',
      join(nodeDir, 'node-1.crt'),
      '--tls-key',
      join(nodeDir, 'node-1.key'),
      '--tls-ca',
      join(nodeDir, 'ca.crt'),
    ]);
    const proc = layerStore;
    await Promise.race([
      waitForHealthy({ unixSocket: join(run, 'layer-store.sock') }, { timeoutMs: 20_000 }),
      proc.exited.then((code) => {
        throw new Error(`layer-store exited (${code}) before it was healthy:\n${proc.output()}`);
      }),
    ]);
  });
  afterAll(async () => {
    await layerStore?.stop();
    tmp.remove();
  });

  it('writes private keys 0600 in 0700 directories', () => {
    expect(mode(caDir)).toBe(0o700);
    expect(mode(join(caDir, 'ca.key'))).toBe(0o600);
    expect(mode(nodeDir)).toBe(0o700);
    expect(mode(join(nodeDir, 'node-1.key'))).toBe(0o600);
    expect(mode(join(caDir, 'clients/admin/admin.key'))).toBe(0o600);
  });

  it('shows the CA and what it issued, for people and as JSON', async () => {
    const table = await cli('ca', 'show', '--dir', caDir);
    expect(table.code).toBe(0);
    expect(table.out).toContain('CA:          test fleet\n');
    expect(table.out).toContain(`Key:         ${caDir}/ca.key\n`);
    expect(table.out).toContain('Algorithm:   EC prime256v1\n');
    expect(table.out).toMatch(/^KIND +NAME +SERIAL +EXPIRES +NAMES +DIRECTORY$/m);
    expect(table.out).toMatch(new RegExp(`^node +node-1 +[0-9A-F]+ +\\d{4}-\\d\\d-\\d\\d  DNS:node-1, DNS:node-1.fleet.test, IP:127.0.0.1  ${nodeDir}$`, 'm'));
    expect(table.out).toMatch(new RegExp(`^client +admin +[0-9A-F]+ +\\d{4}-\\d\\d-\\d\\d +${caDir}/clients/admin$`, 'm'));

    const json = await cli('ca', 'show', '--dir', caDir, '--format', 'json');
    const summary = JSON.parse(json.out) as { hasKey: boolean; certificate: { commonName: string; isCa: boolean }; issued: Array<{ kind: string; name: string; dnsNames: string[] }> };
    expect(summary.hasKey).toBe(true);
    expect(summary.certificate).toMatchObject({ commonName: 'test fleet', isCa: true });
    expect(summary.issued.map((r) => [r.kind, r.name, r.dnsNames])).toEqual([
      ['node', 'node-1', ['node-1', 'node-1.fleet.test']],
      ['client', 'admin', []],
    ]);
  });

  it('prints where an issued certificate is and how a service serves with it', async () => {
    const result = await cli('ca', 'issue', 'node', 'node-2', '--dir', caDir, '--ip', '10.0.0.2', '--days', '2');
    const out = join(caDir, 'nodes', 'node-2');
    expect(result.code).toBe(0);
    expect(result.out).toMatch(/^Issued node certificate node-2 \(serial [0-9A-F]+\), valid until \d{4}-\d\d-\d\d\n/);
    expect(result.out).toContain(`  key          ${out}/node-2.key (mode 0600)\n`);
    expect(result.out).toContain('  usage        serverAuth, clientAuth\n');
    expect(result.out).toContain('  names        DNS:node-2, IP:10.0.0.2\n');
    expect(result.out).toContain(`Serve gRPC on TCP with: --tcp-listen HOST:PORT --tls-cert ${out}/node-2.crt --tls-key ${out}/node-2.key --tls-ca ${out}/ca.crt\n`);
  });

  it('lets a layer-store serve a fleet client over TCP with mutual TLS', async () => {
    const target = { address: `127.0.0.1:${port}`, tls: clientTls };
    await expect(checkHealth(target, 'strata.content.v1.Content')).resolves.toBe('SERVING');
    const store = createGrpcStore({ ...target, tls: { ...clientTls, serverName: 'node-1.fleet.test' } }, { logger: silentLogger() });
    try {
      const info = await writeBlob(store, Buffer.from('over fleet mTLS'));
      expect((await readBlob(store, info.digest)).toString()).toBe('over fleet mTLS');
    } finally {
      await store.close();
    }
  });

  it.each([
    { name: 'a client certificate of another CA', address: () => `127.0.0.1:${port}`, tls: () => ({ ...strangerTls, ca: clientTls.ca }) },
    { name: 'a server name not in the node certificate', address: () => `localhost:${port}`, tls: () => clientTls },
  ])('refuses $name', async ({ address, tls }) => {
    const err = await checkHealth({ address: address(), tls: tls() }).then(
      () => new Error('expected a refusal'),
      (e: unknown) => e,
    );
    expect(errorKind(err)).toBe('Unavailable');
    expect((err as Error).message).toMatch(new RegExp(`^cannot reach ${address()}: `));
  });

  it.each([
    {
      name: 'a second CA in the same directory',
      argv: () => ['ca', 'init', '--dir', caDir],
      code: 1,
      err: () => `strata: a fleet CA already exists in ${caDir}; use it, or give another directory\n`,
    },
    {
      name: 'a node name that is not a DNS name',
      argv: () => ['ca', 'issue', 'node', 'node_3', '--dir', caDir],
      code: 1,
      err: () => 'strata: node name "node_3" is not a DNS name: use letters, digits, hyphens and dots, like node-1.example.com\n',
    },
    {
      name: 'a bad IP address',
      argv: () => ['ca', 'issue', 'node', 'node-3', '--dir', caDir, '--ip', '10.0.0.999'],
      code: 1,
      err: () => 'strata: IP address "10.0.0.999" is not an IPv4 or IPv6 address, like 10.0.0.5 or fd00::5\n',
    },
    {
      name: 'the same certificate twice',
      argv: () => ['ca', 'issue', 'client', 'admin', '--dir', caDir],
      code: 1,
      err: () => `strata: ${caDir}/clients/admin/admin.crt already exists; remove the old certificate and key of admin first, or give another output directory\n`,
    },
    {
      name: 'a node without a name',
      argv: () => ['ca', 'issue', 'node', '--dir', caDir],
      code: 2,
      err: () => `strata: "ca issue node" needs NAME; see 'strata ca issue node --help'\n`,
    },
    {
      name: 'DNS names on a client',
      argv: () => ['ca', 'issue', 'client', 'c', '--dns', 'x', '--dir', caDir],
      code: 2,
      err: () => `strata: unknown flag --dns; see 'strata ca issue client --help'\n`,
    },
    {
      name: 'zero days',
      argv: () => ['ca', 'issue', 'client', 'c', '--days', '0', '--dir', caDir],
      code: 2,
      err: () => `strata: flag --days needs a whole number of days from 1 to 36500, got "0"; see 'strata ca issue client --help'\n`,
    },
    {
      name: 'a directory without a CA',
      argv: () => ['ca', 'show', '--dir', join(tmp.path, 'none')],
      code: 1,
      err: () => `strata: no fleet CA in ${join(tmp.path, 'none')}: create one with \`strata ca init --dir ${join(tmp.path, 'none')}\`\n`,
    },
  ])('refuses $name', async ({ argv, code, err }) => {
    expect(await cli(...argv())).toEqual({ code, out: '', err: err() });
  });
});
