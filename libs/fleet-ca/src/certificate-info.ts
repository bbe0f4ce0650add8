import { X509Certificate } from 'node:crypto';
import { invalidArgument } from '@strata/kit';

/** What a certificate is for, from its extended key usage. */
export type CertificateUsage = 'serverAuth' | 'clientAuth';

/** The facts of one X.509 certificate that `strata ca` shows and checks. */
export interface CertificateInfo {
  /** The subject's common name. */
  commonName: string;
  /** The issuer's common name (the same as commonName for a self-signed CA). */
  issuer: string;
  /** Serial number, upper-case hex as OpenSSL prints it. */
  serial: string;
  notBefore: Date;
  notAfter: Date;
  /** SHA-256 fingerprint, colon-separated upper-case hex. */
  fingerprint: string;
  /** subjectAltName DNS names. */
  dnsNames: string[];
  /** subjectAltName IP addresses. */
  ipAddresses: string[];
  /** serverAuth and/or clientAuth from the extended key usage. */
  usages: CertificateUsage[];
  /** True for a CA certificate (basicConstraints CA:TRUE). */
  isCa: boolean;
  /** Key algorithm, e.g. `EC prime256v1`. */
  key: string;
}

const USAGE_OIDS: Record<string, CertificateUsage> = { '1.3.6.1.5.5.7.3.1': 'serverAuth', '1.3.6.1.5.5.7.3.2': 'clientAuth' };

function commonNameOf(dn: string): string {
  const line = dn.split('\n').find((l) => l.startsWith('CN='));
  return line === undefined ? '' : line.slice(3);
}

/** Parses a PEM certificate. InvalidArgument, naming what, when it is not one. */
export function parseCertificate(pem: Buffer | string, what = 'certificate'): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch (cause) {
    throw invalidArgument(`${what} is not a PEM X.509 certificate: ${(cause as Error).message}`, { cause });
  }
}

/** The {@link CertificateInfo} of a PEM certificate. InvalidArgument, naming what, when it is not one. */
export function describeCertificate(pem: Buffer | string, what = 'certificate'): CertificateInfo {
  const cert = parseCertificate(pem, what);
  const names = (cert.subjectAltName ?? '').split(', ').filter((n) => n !== '');
  const details = cert.publicKey.asymmetricKeyDetails;
  return {
    commonName: commonNameOf(cert.subject),
    issuer: commonNameOf(cert.issuer),
    serial: cert.serialNumber,
    notBefore: new Date(cert.validFrom),
    notAfter: new Date(cert.validTo),
    fingerprint: cert.fingerprint256,
    dnsNames: names.filter((n) => n.startsWith('DNS:')).map((n) => n.slice(4)),
    ipAddresses: names.filter((n) => n.startsWith('IP Address:')).map((n) => n.slice(11)),
    usages: (cert.keyUsage ?? []).map((oid) => USAGE_OIDS[oid]).filter((u): u is CertificateUsage => u !== undefined),
    isCa: cert.ca,
    key: [cert.publicKey.asymmetricKeyType?.toUpperCase(), details?.namedCurve ?? (details?.modulusLength ? `${details.modulusLength} bits` : undefined)]
      .filter((p) => p !== undefined)
      .join(' '),
  };
}
