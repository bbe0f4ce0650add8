import { describe, expect, it } from 'vitest';
import { errorKind } from '@strata/kit';
import { formatIPv4, parseIPv4, parseSubnet, subnetsOverlap } from './subnet.js';

describe('subnets', () => {
  it('reads a CIDR with its gateway and broadcast', () => {
    const s = parseSubnet('10.88.0.0/16');
    expect([s.cidr, formatIPv4(s.gateway), formatIPv4(s.broadcast), s.prefixLength]).toEqual(['10.88.0.0/16', '10.88.0.1', '10.88.255.255', 16]);
    expect(parseIPv4('255.255.255.255')).toBe(0xffffffff);
  });

  it.each([
    ['10.88.0.0', 'invalid subnet "10.88.0.0": expected an IPv4 CIDR like 10.88.0.0/16'],
    ['10.88.0.1/16', 'invalid subnet "10.88.0.1/16": host bits are set; use 10.88.0.0/16'],
    ['10.88.0.0/31', 'invalid subnet "10.88.0.0/31": the prefix length must be between 8 and 30'],
    ['10.88.0.0/4', 'invalid subnet "10.88.0.0/4": the prefix length must be between 8 and 30'],
    ['10.288.0.0/16', 'invalid IPv4 address "10.288.0.0"'],
    ['10.08.0.0/16', 'invalid IPv4 address "10.08.0.0"'],
  ])('refuses %s', (cidr, message) => {
    let err: unknown;
    try {
      parseSubnet(cidr);
    } catch (e) {
      err = e;
    }
    expect(errorKind(err)).toBe('InvalidArgument');
    expect((err as Error).message).toBe(message);
  });

  it.each([
    ['10.88.0.0/16', '10.88.3.0/24', true],
    ['10.88.0.0/16', '10.89.0.0/16', false],
    ['172.17.0.0/16', '10.88.0.0/16', false],
    ['10.0.0.0/8', '10.250.1.0/24', true],
  ])('%s overlaps %s: %s', (a, b, want) => {
    expect(subnetsOverlap(parseSubnet(a), parseSubnet(b))).toBe(want);
  });
});
