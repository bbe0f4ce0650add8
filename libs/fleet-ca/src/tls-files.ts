import { createPrivateKey } from 'node:crypto';
import { lstat, readFile } from 'node:fs/promises';
import { failedPrecondition, invalidArgument } from '@strata/kit';
import type { TlsMaterial } from '@strata/grpc-kit';
import { parseCertificate } from './certificate-info.js';

/** Paths of one side's TLS files, as `strata ca issue` writes them. */
export interface TlsFiles {
  cert: string;
  key: string;
  ca: string;
}

async function read(path: string, what: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (cause) {
    throw failedPrecondition(`cannot read the ${what} ${path}: ${(cause as Error).message}`, { cause, fields: { path } });
  }
}

/**
 * Reads a certificate, its key and the CA certificate for grpc-kit's
 * mutual TLS (ServerOptions.tcp.tls, or a client Target's tls).
 * FailedPrecondition when a file cannot be read or the key can be read by
 * other users (group or world bits set); InvalidArgument when a file is not
 * PEM of its kind or the key is not the certificate's.
 */
export async function readTlsFiles(files: TlsFiles): Promise<TlsMaterial> {
  let mode: number;
  try {
    mode = (await lstat(files.key)).mode;
  } catch (cause) {
    throw failedPrecondition(`cannot read the private key ${files.key}: ${(cause as Error).message}`, { cause, fields: { path: files.key } });
  }
  if ((mode & 0o077) !== 0) {
    throw failedPrecondition(`${files.key} can be read by other users (mode 0${(mode & 0o777).toString(8)}); make it private with chmod 600`, {
      fields: { path: files.key },
    });
  }
  const [cert, key, ca] = await Promise.all([read(files.cert, 'certificate'), read(files.key, 'private key'), read(files.ca, 'CA certificate')]);
  const parsed = parseCertificate(cert, files.cert);
  parseCertificate(ca, files.ca);
  let matches: boolean;
  try {
    matches = parsed.checkPrivateKey(createPrivateKey(key));
  } catch (cause) {
    throw invalidArgument(`${files.key} is not a PEM private key: ${(cause as Error).message}`, { cause, fields: { path: files.key } });
  }
  if (!matches) throw invalidArgument(`${files.key} is not the key of ${files.cert}`, { fields: { path: files.key } });
  return { cert, key, ca };
}
