import { describe, expect, it } from 'vitest';
import { errorKind } from '@strata/kit';
import { checkCaName, checkCommonName, checkDnsName, checkIpAddress } from './names.js';

function failure(fn: () => unknown): { kind: string; message: string } {
  try {
    fn();
  } catch (err) {
    return { kind: errorKind(err), message: (err as Error).message };
  }
  throw new Error('expected a failure');
}

describe('certificate names', () => {
  it.each([
    ['node-1', 'node-1'],
    ['Node-1.Fleet.Example', 'node-1.fleet.example'],
    ['*.fleet.example', '*.fleet.example'],
    ['a', 'a'],
  ])('takes the DNS name %s as %s', (name, expected) => {
    expect(checkDnsName(name)).toBe(expected);
  });

  it.each(['', '-a', 'a-', 'a..b', 'a_b', 'a b', 'a/b', 'x\nDNS:evil', '*', 'a.*.b', `${'a'.repeat(64)}.example`, `${'a.'.repeat(127)}a`])(
    'refuses the DNS name %j',
    (name) => {
      expect(failure(() => checkDnsName(name))).toEqual({
        kind: 'InvalidArgument',
        message: `DNS name ${JSON.stringify(name)} is not a DNS name: use letters, digits, hyphens and dots, like node-1.example.com`,
      });
    },
  );

  it.each(['10.0.0.1', '::1', 'fd00::5'])('takes the IP address %s', (address) => {
    expect(checkIpAddress(address)).toBe(address);
  });

  it.each(['10.0.0.256', '10.0.0', 'localhost', '::g', '1.2.3.4,IP:5.6.7.8'])('refuses the IP address %j', (address) => {
    expect(failure(() => checkIpAddress(address))).toEqual({
      kind: 'InvalidArgument',
      message: `IP address ${JSON.stringify(address)} is not an IPv4 or IPv6 address, like 10.0.0.5 or fd00::5`,
    });
  });

  it.each(['admin', 'ops_admin', 'ci.deploy-1', 'A'])('takes the client name %s', (name) => {
    expect(checkCommonName(name)).toBe(name);
  });

  it.each(['', '.hidden', '-x', 'a/b', '../x', 'a b', 'a=b', 'a\nb', 'x'.repeat(65)])('refuses the client name %j', (name) => {
    expect(failure(() => checkCommonName(name, 'client name'))).toEqual({
      kind: 'InvalidArgument',
      message: `client name ${JSON.stringify(name)} is not allowed: use 1 to 64 letters, digits, dots, underscores and hyphens, starting with a letter or digit`,
    });
  });

  it.each(['strata fleet CA', 'prod-eu', 'X'])('takes the CA name %j', (name) => {
    expect(checkCaName(name)).toBe(name);
  });

  it.each(['', ' lead', 'trail ', 'a$b', 'a/b', 'a\nb', 'x'.repeat(65)])('refuses the CA name %j', (name) => {
    expect(failure(() => checkCaName(name))).toEqual({
      kind: 'InvalidArgument',
      message: `CA name ${JSON.stringify(name)} is not allowed: use 1 to 64 letters, digits, spaces, dots, underscores and hyphens, starting and ending with a letter or digit`,
    });
  });
});
