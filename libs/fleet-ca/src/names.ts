import { isIP } from 'node:net';
import { invalidArgument } from '@strata/kit';

const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const COMMON_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const CA_NAME = /^[A-Za-z0-9]([A-Za-z0-9 ._-]{0,62}[A-Za-z0-9])?$/;

/**
 * Checks a DNS name for a certificate's subjectAltName and returns it in
 * lower case: labels of letters, digits and inner hyphens, at most 253
 * characters, optionally `*.` in front. InvalidArgument, naming what, for
 * anything else.
 */
export function checkDnsName(name: string, what = 'DNS name'): string {
  const lower = name.toLowerCase();
  const plain = lower.startsWith('*.') ? lower.slice(2) : lower;
  if (plain === '' || plain.length > 253 || !plain.split('.').every((label) => LABEL.test(label))) {
    throw invalidArgument(`${what} ${JSON.stringify(name)} is not a DNS name: use letters, digits, hyphens and dots, like node-1.example.com`, {
      fields: { name },
    });
  }
  return lower;
}

/** Checks an IPv4 or IPv6 address for a subjectAltName. InvalidArgument for anything else. */
export function checkIpAddress(address: string): string {
  if (isIP(address) === 0) {
    throw invalidArgument(`IP address ${JSON.stringify(address)} is not an IPv4 or IPv6 address, like 10.0.0.5 or fd00::5`, {
      fields: { address },
    });
  }
  return address;
}

/**
 * Checks the name of a client certificate (its common name and file names):
 * 1 to 64 letters, digits, dots, underscores and hyphens, starting with a
 * letter or digit. InvalidArgument for anything else.
 */
export function checkCommonName(name: string, what = 'name'): string {
  if (!COMMON_NAME.test(name)) {
    throw invalidArgument(
      `${what} ${JSON.stringify(name)} is not allowed: use 1 to 64 letters, digits, dots, underscores and hyphens, starting with a letter or digit`,
      { fields: { name } },
    );
  }
  return name;
}

/** Checks the common name of a CA: like {@link checkCommonName}, inner spaces allowed. InvalidArgument for anything else. */
export function checkCaName(name: string): string {
  if (!CA_NAME.test(name)) {
    throw invalidArgument(
      `CA name ${JSON.stringify(name)} is not allowed: use 1 to 64 letters, digits, spaces, dots, underscores and hyphens, starting and ending with a letter or digit`,
      { fields: { name } },
    );
  }
  return name;
}
