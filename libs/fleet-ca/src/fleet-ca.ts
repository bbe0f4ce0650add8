import { X509Certificate, createPrivateKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import { appendFile, chmod, link, lstat, mkdir, mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { alreadyExists, failedPrecondition, invalidArgument, notFound } from '@strata/kit';
import { describeCertificate, parseCertificate, type CertificateInfo } from './certificate-info.js';
import { checkCaName, checkCommonName, checkDnsName, checkIpAddress } from './names.js';
import { runOpenssl } from './openssl.js';

/** File of the CA certificate in the CA directory (and beside every issued certificate). */
export const CA_CERT_FILE = 'ca.crt';
/** File of the CA's private key in the CA directory (mode 0600). */
export const CA_KEY_FILE = 'ca.key';
/** The record of issued certificates in the CA directory: one JSON object a line. */
export const ISSUED_FILE = 'issued.jsonl';

/** Validity of a new CA when none is asked for: ten years. */
export const DEFAULT_CA_DAYS = 3650;
/** Validity of a new node or client certificate when none is asked for: one year. */
export const DEFAULT_CERT_DAYS = 365;
/** Longest validity accepted: a hundred years. */
export const MAX_DAYS = 36_500;
/** Common name of a new CA when none is asked for. */
export const DEFAULT_CA_NAME = 'strata fleet CA';

/** Settings of {@link createFleetCa}. */
export interface FleetCaOptions {
  /** Directory of the CA: ca.key (0600), ca.crt, issued.jsonl; created 0700 by init(). */
  dir: string;
  /** The openssl command that signs; `openssl` from PATH by default. */
  openssl?: string;
}

/** What a certificate is issued for: a node serves and calls other nodes; a client only calls. */
export type CertificateKind = 'node' | 'client';

/** What {@link FleetCa.issue} issues. */
export interface IssueRequest {
  kind: CertificateKind;
  /** Node name (a DNS name; always a DNS subjectAltName too) or client name; the common name and file names. */
  name: string;
  /** More DNS subjectAltNames (nodes only). */
  dns?: readonly string[];
  /** IP subjectAltNames (nodes only). */
  ips?: readonly string[];
  /** Validity in days, never past the CA's own end; by default {@link DEFAULT_CERT_DAYS} or the whole days the CA has left, whichever is less. */
  days?: number;
  /** Directory of the files; `<ca dir>/<kind>s/<name>` by default; created 0700. */
  out?: string;
}

/** Where the files of an issued certificate are. */
export interface IssuedFiles {
  dir: string;
  /** `<name>.crt`. */
  cert: string;
  /** `<name>.key`, mode 0600. */
  key: string;
  /** `ca.crt`: the fleet CA, which verifies the other side. */
  ca: string;
}

/** A certificate {@link FleetCa.issue} made. */
export interface IssuedCertificate {
  kind: CertificateKind;
  name: string;
  files: IssuedFiles;
  info: CertificateInfo;
}

/** One line of {@link ISSUED_FILE}. */
export interface IssuedRecord {
  kind: CertificateKind;
  name: string;
  serial: string;
  fingerprint: string;
  notAfter: string;
  dnsNames: string[];
  ipAddresses: string[];
  /** The directory of the files. */
  dir: string;
  issuedAt: string;
}

/** What {@link FleetCa.show} reports. */
export interface CaSummary {
  dir: string;
  certificate: CertificateInfo;
  /** False when ca.key is not in the directory (kept offline): nothing can be issued then. */
  hasKey: boolean;
  /** Every certificate issued from this directory, oldest first. */
  issued: IssuedRecord[];
}

/** A small certificate authority for the mutual TLS of a fleet; see {@link createFleetCa}. */
export interface FleetCa {
  /** The CA directory, absolute. */
  readonly dir: string;
  /**
   * Creates the CA: an EC P-256 key (ca.key, 0600) and a self-signed CA
   * certificate (ca.crt) named name, valid for days, in a 0700 directory.
   * InvalidArgument for a bad name or days out of 1..{@link MAX_DAYS};
   * AlreadyExists when the directory has a CA already; FailedPrecondition
   * when openssl is not installed.
   */
  init(options?: { name?: string; days?: number }): Promise<CertificateInfo>;
  /**
   * Issues a certificate signed by the CA with a fresh EC P-256 key: for a
   * node, usable as TLS server and client, with the node name, `dns` and
   * `ips` as subjectAltNames; for a client, usable as TLS client only.
   * Writes `<name>.crt`, `<name>.key` (0600) and `ca.crt` into the out
   * directory and records the certificate in the CA's issued.jsonl.
   * InvalidArgument for a bad name, DNS name, IP address or days (also days
   * that outlast the CA); AlreadyExists when the out directory has a
   * certificate or key of that name; FailedPrecondition when there is no CA
   * (or no key, or a key other users can read, or an expired CA), when the
   * out directory's ca.crt is another CA's, or openssl is not installed.
   */
  issue(request: IssueRequest): Promise<IssuedCertificate>;
  /** The CA certificate and what was issued. NotFound when the directory has no CA certificate. */
  show(): Promise<CaSummary>;
}

const DAY_MS = 24 * 60 * 60 * 1000;

function checkDays(days: number): number {
  if (!Number.isSafeInteger(days) || days < 1 || days > MAX_DAYS) {
    throw invalidArgument(`validity must be a whole number of days from 1 to ${MAX_DAYS}, got ${days}`);
  }
  return days;
}

/** A random positive 127-bit serial number in OpenSSL's hex notation. */
function newSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x7f) | 0x10;
  return `0x${bytes.toString('hex')}`;
}

function newKeyPem(): string {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
}

function isMissing(err: unknown): boolean {
  return (err as NodeJS.ErrnoException).code === 'ENOENT';
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (err) {
    if (isMissing(err)) return false;
    throw err;
  }
}

/** Creates dir (and missing parents) with mode 0700. */
async function makePrivateDir(dir: string): Promise<void> {
  const created = await mkdir(dir, { recursive: true, mode: 0o700 });
  if (created === undefined) return;
  for (let d = dir; d.startsWith(created); d = dirname(d)) await chmod(d, 0o700);
}

/** Hard-links each staged file to its place; none is replaced, and none is left when one already exists. */
async function placeFiles(pairs: ReadonlyArray<readonly [from: string, to: string]>, taken: (path: string) => Error): Promise<void> {
  const placed: string[] = [];
  try {
    for (const [from, to] of pairs) {
      try {
        await link(from, to);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw taken(to);
        throw err;
      }
      placed.push(to);
    }
  } catch (err) {
    await Promise.all(placed.map((p) => unlink(p).catch(() => undefined)));
    throw err;
  }
}

function opensslConfig(commonName: string, section: string, extensions: readonly string[]): string {
  return ['[req]', 'prompt = no', 'distinguished_name = dn', '[dn]', `CN = ${commonName}`, 'O = Strata fleet', `[${section}]`, ...extensions, ''].join('\n');
}

function subjectAltNames(dns: readonly string[], ips: readonly string[]): string {
  return [...dns.map((d) => `DNS:${d}`), ...ips.map((a) => `IP:${a}`)].join(', ');
}

/**
 * Opens the CA directory dir (nothing is touched until a method is called).
 * Keys are made by Node's crypto and written 0600; certificates are signed
 * by the `openssl` command, run without a shell, on names checked here.
 */
export function createFleetCa(options: FleetCaOptions): FleetCa {
  const dir = resolve(options.dir);
  const openssl = options.openssl ?? 'openssl';
  const caCertPath = join(dir, CA_CERT_FILE);
  const caKeyPath = join(dir, CA_KEY_FILE);

  const noCa = () => `no fleet CA in ${dir}: create one with \`strata ca init --dir ${dir}\``;

  const loadSigner = async (): Promise<{ pem: Buffer; cert: X509Certificate }> => {
    let pem: Buffer;
    let keyPem: Buffer;
    try {
      pem = await readFile(caCertPath);
    } catch (err) {
      if (isMissing(err)) throw failedPrecondition(noCa(), { fields: { dir } });
      throw err;
    }
    try {
      const info = await lstat(caKeyPath);
      if ((info.mode & 0o077) !== 0) {
        throw failedPrecondition(
          `${caKeyPath} can be read by other users (mode 0${(info.mode & 0o777).toString(8)}); make it private with chmod 600 before issuing`,
          { fields: { path: caKeyPath } },
        );
      }
      keyPem = await readFile(caKeyPath);
    } catch (err) {
      if (isMissing(err)) throw failedPrecondition(`the fleet CA in ${dir} has no key (${CA_KEY_FILE}); issue where the key is kept`, { fields: { dir } });
      throw err;
    }
    const cert = parseCertificate(pem, caCertPath);
    if (!cert.checkPrivateKey(createPrivateKey(keyPem))) {
      throw failedPrecondition(`${caKeyPath} is not the key of ${caCertPath}; restore the CA's own key`, { fields: { dir } });
    }
    if (new Date(cert.validTo).getTime() <= Date.now()) {
      throw failedPrecondition(`the fleet CA in ${dir} expired on ${new Date(cert.validTo).toISOString()}; create a new CA`, { fields: { dir } });
    }
    return { pem, cert };
  };

  return {
    dir,

    async init(initOptions = {}) {
      const name = checkCaName(initOptions.name ?? DEFAULT_CA_NAME);
      const days = checkDays(initOptions.days ?? DEFAULT_CA_DAYS);
      const taken = () =>
        alreadyExists(`a fleet CA already exists in ${dir}; use it, or give another directory`, { fields: { dir } });
      await makePrivateDir(dir);
      if ((await exists(caCertPath)) || (await exists(caKeyPath))) throw taken();
      const staging = await mkdtemp(join(dir, '.init-'));
      try {
        await writeFile(join(staging, CA_KEY_FILE), newKeyPem(), { mode: 0o600, flag: 'wx' });
        await writeFile(
          join(staging, 'openssl.cnf'),
          opensslConfig(name, 'ca_ext', [
            'basicConstraints = critical, CA:TRUE, pathlen:0',
            'keyUsage = critical, keyCertSign, cRLSign',
            'subjectKeyIdentifier = hash',
          ]),
        );
        await runOpenssl(
          openssl,
          ['req', '-new', '-x509', '-config', 'openssl.cnf', '-extensions', 'ca_ext', '-key', CA_KEY_FILE, '-sha256', '-days', String(days), '-set_serial', newSerial(), '-out', CA_CERT_FILE],
          staging,
        );
        await chmod(join(staging, CA_CERT_FILE), 0o644);
        await placeFiles(
          [
            [join(staging, CA_KEY_FILE), caKeyPath],
            [join(staging, CA_CERT_FILE), caCertPath],
          ],
          taken,
        );
      } finally {
        await rm(staging, { recursive: true, force: true });
      }
      return describeCertificate(await readFile(caCertPath), caCertPath);
    },

    async issue(request) {
      const { kind } = request;
      if (kind !== 'node' && kind !== 'client') throw invalidArgument(`certificate kind must be node or client, got ${JSON.stringify(kind)}`);
      let name = checkCommonName(request.name, `${kind} name`);
      if (kind === 'node') name = checkDnsName(name, 'node name');
      const dns = [...new Set([...(kind === 'node' ? [name] : []), ...(request.dns ?? []).map((d) => checkDnsName(d))])];
      const ips = [...new Set((request.ips ?? []).map((a) => checkIpAddress(a)))];
      if (kind === 'client' && dns.length + ips.length > 0) {
        throw invalidArgument('client certificates carry no DNS names or IP addresses; issue a node certificate for a host that serves');
      }
      if (request.days !== undefined) checkDays(request.days);
      const signer = await loadSigner();
      const caEnd = new Date(signer.cert.validTo);
      const days = request.days ?? Math.max(1, Math.min(DEFAULT_CERT_DAYS, Math.floor((caEnd.getTime() - Date.now()) / DAY_MS)));
      if (Date.now() + days * DAY_MS > caEnd.getTime()) {
        throw invalidArgument(
          `a certificate valid for ${days} days would outlast the fleet CA, which expires on ${caEnd.toISOString()}; ask for fewer days or create a new CA`,
          { fields: { days } },
        );
      }

      const out = resolve(request.out ?? join(dir, `${kind}s`, name));
      const files: IssuedFiles = { dir: out, cert: join(out, `${name}.crt`), key: join(out, `${name}.key`), ca: join(out, CA_CERT_FILE) };
      const taken = (path: string) =>
        alreadyExists(`${path} already exists; remove the old certificate and key of ${name} first, or give another output directory`, {
          fields: { path },
        });
      await makePrivateDir(out);
      for (const path of [files.cert, files.key]) if (await exists(path)) throw taken(path);
      let caCopy: Buffer | undefined;
      try {
        caCopy = await readFile(files.ca);
      } catch (err) {
        if (!isMissing(err)) throw err;
      }
      if (caCopy !== undefined && !caCopy.equals(signer.pem)) {
        throw failedPrecondition(`${files.ca} is the certificate of another CA; give an output directory of this fleet`, {
          fields: { path: files.ca },
        });
      }

      const extensions = [
        'basicConstraints = critical, CA:FALSE',
        'keyUsage = critical, digitalSignature',
        `extendedKeyUsage = ${kind === 'node' ? 'serverAuth, clientAuth' : 'clientAuth'}`,
        ...(kind === 'node' ? [`subjectAltName = ${subjectAltNames(dns, ips)}`] : []),
        'subjectKeyIdentifier = hash',
        'authorityKeyIdentifier = keyid:always',
      ];
      const staging = await mkdtemp(join(out, '.issue-'));
      try {
        await writeFile(join(staging, 'cert.key'), newKeyPem(), { mode: 0o600, flag: 'wx' });
        await writeFile(join(staging, 'openssl.cnf'), opensslConfig(name, 'leaf_ext', extensions));
        await runOpenssl(
          openssl,
          ['req', '-new', '-config', 'openssl.cnf', '-extensions', 'leaf_ext', '-key', 'cert.key', '-CA', caCertPath, '-CAkey', caKeyPath, '-sha256', '-days', String(days), '-set_serial', newSerial(), '-out', 'cert.crt'],
          staging,
        );
        await chmod(join(staging, 'cert.crt'), 0o644);
        await placeFiles(
          [
            [join(staging, 'cert.key'), files.key],
            [join(staging, 'cert.crt'), files.cert],
          ],
          taken,
        );
      } finally {
        await rm(staging, { recursive: true, force: true });
      }
      if (caCopy === undefined) {
        await writeFile(files.ca, signer.pem, { mode: 0o644, flag: 'wx' }).catch((err: NodeJS.ErrnoException) => {
          if (err.code !== 'EEXIST') throw err;
        });
      }

      const info = describeCertificate(await readFile(files.cert), files.cert);
      const record: IssuedRecord = {
        kind,
        name,
        serial: info.serial,
        fingerprint: info.fingerprint,
        notAfter: info.notAfter.toISOString(),
        dnsNames: info.dnsNames,
        ipAddresses: info.ipAddresses,
        dir: out,
        issuedAt: new Date().toISOString(),
      };
      await appendFile(join(dir, ISSUED_FILE), `${JSON.stringify(record)}\n`, { mode: 0o600 });
      return { kind, name, files, info };
    },

    async show() {
      let pem: Buffer;
      try {
        pem = await readFile(caCertPath);
      } catch (err) {
        if (isMissing(err)) throw notFound(noCa(), { fields: { dir } });
        throw err;
      }
      const certificate = describeCertificate(pem, caCertPath);
      let text = '';
      try {
        text = await readFile(join(dir, ISSUED_FILE), 'utf8');
      } catch (err) {
        if (!isMissing(err)) throw err;
      }
      const issued: IssuedRecord[] = [];
      for (const line of text.split('\n')) {
        if (line.trim() === '') continue;
        try {
          issued.push(JSON.parse(line) as IssuedRecord);
        } catch {
          continue;
        }
      }
      return { dir, certificate, hasKey: await exists(caKeyPath), issued };
    },
  };
}
