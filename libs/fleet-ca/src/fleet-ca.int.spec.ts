// Runs the real openssl command: issues a CA and certificates and checks what they say.
import { X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorKind } from '@strata/kit';
import { tempDir } from '@strata/kit/testing';
import { createFleetCa, type FleetCa, type IssueRequest } from './fleet-ca.js';
import { readTlsFiles } from './tls-files.js';

const mode = (path: string) => statSync(path).mode & 0o777;

async function failure(promise: Promise<unknown>): Promise<{ kind: string; message: string }> {
  try {
    await promise;
  } catch (err) {
    return { kind: errorKind(err), message: (err as Error).message };
  }
  throw new Error('expected a failure');
}

describe('createFleetCa', () => {
  const tmp = tempDir('fleet-ca-');
  let ca: FleetCa;

  beforeAll(async () => {
    ca = createFleetCa({ dir: join(tmp.path, 'ca') });
    await ca.init({ name: 'test fleet', days: 400 });
  });
  afterAll(() => tmp.remove());

  it('makes a self-signed EC P-256 CA with a private key and a private directory', () => {
    expect(mode(ca.dir)).toBe(0o700);
    expect(mode(join(ca.dir, 'ca.key'))).toBe(0o600);
    expect(mode(join(ca.dir, 'ca.crt'))).toBe(0o644);
    const cert = new X509Certificate(readFileSync(join(ca.dir, 'ca.crt')));
    expect(cert.ca).toBe(true);
    expect(cert.subject).toContain('CN=test fleet');
    expect(cert.checkIssued(cert)).toBe(true);
    expect(cert.verify(cert.publicKey)).toBe(true);
    expect(cert.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    const days = (Date.parse(cert.validTo) - Date.parse(cert.validFrom)) / 86_400_000;
    expect(days).toBe(400);
  });

  it('issues a node certificate for server and client use, with its names, signed by the CA', async () => {
    const out = join(tmp.path, 'node-1');
    const issued = await ca.issue({ kind: 'node', name: 'Node-1', dns: ['node-1.fleet.test', 'localhost'], ips: ['127.0.0.1', '::1'], out, days: 7 });
    expect(issued.name).toBe('node-1');
    expect(issued.files).toEqual({ dir: out, cert: join(out, 'node-1.crt'), key: join(out, 'node-1.key'), ca: join(out, 'ca.crt') });
    expect(mode(out)).toBe(0o700);
    expect(mode(issued.files.key)).toBe(0o600);
    expect(readFileSync(issued.files.ca)).toEqual(readFileSync(join(ca.dir, 'ca.crt')));
    const cert = new X509Certificate(readFileSync(issued.files.cert));
    const caCert = new X509Certificate(readFileSync(join(ca.dir, 'ca.crt')));
    expect(cert.verify(caCert.publicKey)).toBe(true);
    expect(cert.ca).toBe(false);
    expect(cert.subject).toContain('CN=node-1');
    expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']);
    expect(cert.checkHost('node-1.fleet.test')).toBe('node-1.fleet.test');
    expect(cert.checkHost('node-2.fleet.test')).toBeUndefined();
    expect(cert.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(issued.info).toMatchObject({
      commonName: 'node-1',
      issuer: 'test fleet',
      dnsNames: ['node-1', 'node-1.fleet.test', 'localhost'],
      ipAddresses: ['127.0.0.1', '0:0:0:0:0:0:0:1'],
      usages: ['serverAuth', 'clientAuth'],
      isCa: false,
      key: 'EC prime256v1',
    });
    expect(Math.round((issued.info.notAfter.getTime() - issued.info.notBefore.getTime()) / 86_400_000)).toBe(7);
    await expect(readTlsFiles(issued.files)).resolves.toMatchObject({ cert: readFileSync(issued.files.cert) });
  });

  it('issues a client certificate for client use only, under the CA directory by default', async () => {
    const issued = await ca.issue({ kind: 'client', name: 'ops_admin' });
    expect(issued.files.dir).toBe(join(ca.dir, 'clients', 'ops_admin'));
    expect(mode(issued.files.key)).toBe(0o600);
    expect(issued.info).toMatchObject({ commonName: 'ops_admin', usages: ['clientAuth'], dnsNames: [], ipAddresses: [] });
    expect(Math.round((issued.info.notAfter.getTime() - issued.info.notBefore.getTime()) / 86_400_000)).toBe(365);
  });

  it('issues for what is left of a short-lived CA when no validity is asked for', async () => {
    const short = createFleetCa({ dir: join(tmp.path, 'short-ca') });
    const caInfo = await short.init({ days: 10 });
    const issued = await short.issue({ kind: 'client', name: 'c' });
    expect(issued.info.notAfter.getTime()).toBeLessThanOrEqual(caInfo.notAfter.getTime());
    expect(Math.round((issued.info.notAfter.getTime() - issued.info.notBefore.getTime()) / 86_400_000)).toBe(9);
  });

  it('gives every certificate its own random serial and records what it issued', async () => {
    const summary = await ca.show();
    expect(summary.hasKey).toBe(true);
    expect(summary.certificate).toMatchObject({ commonName: 'test fleet', isCa: true });
    expect(summary.issued.map((r) => [r.kind, r.name])).toEqual([
      ['node', 'node-1'],
      ['client', 'ops_admin'],
    ]);
    const serials = new Set([summary.certificate.serial, ...summary.issued.map((r) => r.serial)]);
    expect(serials.size).toBe(3);
    expect(mode(join(ca.dir, 'issued.jsonl'))).toBe(0o600);
  });

  const cases: Array<{ name: string; request: () => IssueRequest; kind: string; message: () => string }> = [
    {
      name: 'a node name that is not a DNS name',
      request: () => ({ kind: 'node', name: 'node_1' }),
      kind: 'InvalidArgument',
      message: () => 'node name "node_1" is not a DNS name: use letters, digits, hyphens and dots, like node-1.example.com',
    },
    {
      name: 'a name with a slash',
      request: () => ({ kind: 'client', name: 'a/b' }),
      kind: 'InvalidArgument',
      message: () => 'client name "a/b" is not allowed: use 1 to 64 letters, digits, dots, underscores and hyphens, starting with a letter or digit',
    },
    {
      name: 'a DNS name with a newline (config injection)',
      request: () => ({ kind: 'node', name: 'n2', dns: ['x\nCA:TRUE'] }),
      kind: 'InvalidArgument',
      message: () => 'DNS name "x\\nCA:TRUE" is not a DNS name: use letters, digits, hyphens and dots, like node-1.example.com',
    },
    {
      name: 'an IP address that is not one',
      request: () => ({ kind: 'node', name: 'n2', ips: ['10.0.0.300'] }),
      kind: 'InvalidArgument',
      message: () => 'IP address "10.0.0.300" is not an IPv4 or IPv6 address, like 10.0.0.5 or fd00::5',
    },
    {
      name: 'names on a client certificate',
      request: () => ({ kind: 'client', name: 'c2', ips: ['10.0.0.1'] }),
      kind: 'InvalidArgument',
      message: () => 'client certificates carry no DNS names or IP addresses; issue a node certificate for a host that serves',
    },
    {
      name: 'zero days',
      request: () => ({ kind: 'client', name: 'c2', days: 0 }),
      kind: 'InvalidArgument',
      message: () => 'validity must be a whole number of days from 1 to 36500, got 0',
    },
    {
      name: 'a validity past the CA',
      request: () => ({ kind: 'client', name: 'c2', days: 401 }),
      kind: 'InvalidArgument',
      message: () => expect.stringMatching(/^a certificate valid for 401 days would outlast the fleet CA, which expires on \S+; ask for fewer days or create a new CA$/) as unknown as string,
    },
    {
      name: 'a name issued into the same directory twice',
      request: () => ({ kind: 'node', name: 'node-1', out: join(tmp.path, 'node-1') }),
      kind: 'AlreadyExists',
      message: () => `${join(tmp.path, 'node-1', 'node-1.crt')} already exists; remove the old certificate and key of node-1 first, or give another output directory`,
    },
  ];

  it.each(cases)('refuses $name', async ({ request, kind, message }) => {
    expect(await failure(ca.issue(request()))).toEqual({ kind, message: message() });
  });

  it('refuses a second CA in the same directory and leaves the first alone', async () => {
    const before = readFileSync(join(ca.dir, 'ca.key'));
    expect(await failure(ca.init())).toEqual({ kind: 'AlreadyExists', message: `a fleet CA already exists in ${ca.dir}; use it, or give another directory` });
    expect(readFileSync(join(ca.dir, 'ca.key'))).toEqual(before);
  });

  it('refuses to issue into a directory that holds another CA', async () => {
    const other = createFleetCa({ dir: join(tmp.path, 'other-ca') });
    await other.init();
    expect(await failure(other.issue({ kind: 'node', name: 'node-9', out: join(tmp.path, 'node-1') }))).toEqual({
      kind: 'FailedPrecondition',
      message: `${join(tmp.path, 'node-1', 'ca.crt')} is the certificate of another CA; give an output directory of this fleet`,
    });
    expect(existsSync(join(tmp.path, 'node-1', 'node-9.key'))).toBe(false);
  });

  it('refuses to sign with a CA key that other users can read', async () => {
    const loose = createFleetCa({ dir: join(tmp.path, 'loose-ca') });
    await loose.init();
    chmodSync(join(loose.dir, 'ca.key'), 0o644);
    expect(await failure(loose.issue({ kind: 'client', name: 'c' }))).toEqual({
      kind: 'FailedPrecondition',
      message: `${join(loose.dir, 'ca.key')} can be read by other users (mode 0644); make it private with chmod 600 before issuing`,
    });
  });

  it('says how to create a CA when there is none', async () => {
    const none = createFleetCa({ dir: join(tmp.path, 'none') });
    const hint = `no fleet CA in ${none.dir}: create one with \`strata ca init --dir ${none.dir}\``;
    expect(await failure(none.show())).toEqual({ kind: 'NotFound', message: hint });
    expect(await failure(none.issue({ kind: 'client', name: 'c' }))).toEqual({ kind: 'FailedPrecondition', message: hint });
  });

  it('says so when openssl is not installed', async () => {
    const noOpenssl = createFleetCa({ dir: join(tmp.path, 'no-openssl'), openssl: join(tmp.path, 'missing-openssl') });
    expect(await failure(noOpenssl.init())).toEqual({
      kind: 'FailedPrecondition',
      message: `the ${join(tmp.path, 'missing-openssl')} command is not installed; install the Debian package openssl (tools/scripts/setup.sh does)`,
    });
    expect(existsSync(join(noOpenssl.dir, 'ca.key'))).toBe(false);
  });

  it.each([
    { name: 'a CA name with a newline', options: { name: 'a\nb' }, message: 'CA name "a\\nb" is not allowed: use 1 to 64 letters, digits, spaces, dots, underscores and hyphens, starting and ending with a letter or digit' },
    { name: 'too many days', options: { days: 36_501 }, message: 'validity must be a whole number of days from 1 to 36500, got 36501' },
  ])('refuses to init with $name', async ({ options, message }) => {
    const fresh = createFleetCa({ dir: join(tmp.path, 'fresh') });
    expect(await failure(fresh.init(options))).toEqual({ kind: 'InvalidArgument', message });
    expect(existsSync(join(fresh.dir, 'ca.key'))).toBe(false);
  });

  it('reads TLS files only with a private key that matches the certificate', async () => {
    const issued = await ca.issue({ kind: 'client', name: 'reader', out: join(tmp.path, 'reader') });
    const other = await ca.issue({ kind: 'client', name: 'other', out: join(tmp.path, 'reader') });
    expect(await failure(readTlsFiles({ ...issued.files, key: other.files.key }))).toEqual({
      kind: 'InvalidArgument',
      message: `${other.files.key} is not the key of ${issued.files.cert}`,
    });
    const garbage = join(tmp.path, 'reader', 'garbage.key');
    writeFileSync(garbage, 'not a key', { mode: 0o600 });
    expect((await failure(readTlsFiles({ ...issued.files, key: garbage }))).kind).toBe('InvalidArgument');
    chmodSync(issued.files.key, 0o640);
    expect(await failure(readTlsFiles(issued.files))).toEqual({
      kind: 'FailedPrecondition',
      message: `${issued.files.key} can be read by other users (mode 0640); make it private with chmod 600`,
    });
  });
});
