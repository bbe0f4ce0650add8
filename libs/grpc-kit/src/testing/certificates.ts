import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TlsMaterial } from '../server.js';

/** PEM material of a throwaway PKI: a CA, a server certificate and a client certificate. */
export interface TestCertificates {
  /** For the server: its certificate (localhost, 127.0.0.1, ::1) and key, and the CA that signs clients. */
  server: TlsMaterial;
  /** For a client: its certificate and key, and the CA that signs the server. */
  client: TlsMaterial;
  /** A client certificate from an unrelated CA, which the server must refuse. */
  stranger: TlsMaterial;
  /** Files written into dir (`ca.crt`, `server.crt`, `server.key`, `client.crt`, `client.key`). */
  files: Record<'ca' | 'serverCert' | 'serverKey' | 'clientCert' | 'clientKey', string>;
}

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

function newCa(dir: string, name: string): void {
  openssl(dir, ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.crt`, '-subj', `/CN=${name}`, '-days', '2']);
}

function issue(dir: string, ca: string, name: string, ext: string): void {
  writeFileSync(join(dir, `${name}.ext`), ext);
  openssl(dir, ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`]);
  openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-out', `${name}.crt`, '-days', '2', '-extfile', `${name}.ext`]);
}

/**
 * Makes a CA and certificates with the `openssl` command in dir (which the
 * caller creates and removes). For tests of mutual TLS only.
 */
export function makeTestCertificates(dir: string): TestCertificates {
  newCa(dir, 'ca');
  newCa(dir, 'other-ca');
  issue(dir, 'ca', 'server', 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\nextendedKeyUsage=serverAuth\n');
  issue(dir, 'ca', 'client', 'extendedKeyUsage=clientAuth\n');
  issue(dir, 'other-ca', 'stranger', 'extendedKeyUsage=clientAuth\n');
  const read = (name: string) => readFileSync(join(dir, name));
  const ca = read('ca.crt');
  return {
    server: { cert: read('server.crt'), key: read('server.key'), ca },
    client: { cert: read('client.crt'), key: read('client.key'), ca },
    stranger: { cert: read('stranger.crt'), key: read('stranger.key'), ca },
    files: {
      ca: join(dir, 'ca.crt'),
      serverCert: join(dir, 'server.crt'),
      serverKey: join(dir, 'server.key'),
      clientCert: join(dir, 'client.crt'),
      clientKey: join(dir, 'client.key'),
    },
  };
}
