import { describe, expect, it } from 'vitest';
import { errorKind } from '@strata/kit';
import { formatPublishedPort, parsePortMapping, portsCollide } from './ports.js';

describe('parsePortMapping', () => {
  it.each([
    ['80', { hostIp: '0.0.0.0', hostPort: 0, containerPort: 80, protocol: 'tcp' }],
    ['8080:80', { hostIp: '0.0.0.0', hostPort: 8080, containerPort: 80, protocol: 'tcp' }],
    ['0:80/udp', { hostIp: '0.0.0.0', hostPort: 0, containerPort: 80, protocol: 'udp' }],
    ['127.0.0.1:8080:80', { hostIp: '127.0.0.1', hostPort: 8080, containerPort: 80, protocol: 'tcp' }],
    ['127.0.0.1::53/udp', { hostIp: '127.0.0.1', hostPort: 0, containerPort: 53, protocol: 'udp' }],
    ['65535:1/tcp', { hostIp: '0.0.0.0', hostPort: 65535, containerPort: 1, protocol: 'tcp' }],
  ])('reads %s', (spec, want) => {
    expect(parsePortMapping(spec)).toEqual(want);
  });

  it.each([
    ['', 'invalid port mapping "": container port "" is not a port number (1-65535)'],
    ['0', 'invalid port mapping "0": container port "0" is not a port number (1-65535)'],
    ['8080:0', 'invalid port mapping "8080:0": container port "0" is not a port number (1-65535)'],
    ['70000:80', 'invalid port mapping "70000:80": host port "70000" is not a port number (1-65535, or 0 to pick one)'],
    ['http:80', 'invalid port mapping "http:80": host port "http" is not a port number (1-65535, or 0 to pick one)'],
    ['80/sctp', 'invalid port mapping "80/sctp": protocol must be tcp or udp, not "sctp"'],
    ['localhost:80:80', 'invalid port mapping "localhost:80:80": "localhost" is not an IPv4 address'],
    ['[::1]:80:80', 'invalid port mapping "[::1]:80:80": IPv6 host addresses are not supported'],
    ['8000-8010:80-90', 'invalid port mapping "8000-8010:80-90": port ranges are not supported'],
    ['1:2:3:4', 'invalid port mapping "1:2:3:4": expected [[IP:]HOST:]CONTAINER[/tcp|udp]'],
  ])('refuses %j', (spec, message) => {
    let err: unknown;
    try {
      parsePortMapping(spec);
    } catch (e) {
      err = e;
    }
    expect(errorKind(err)).toBe('InvalidArgument');
    expect((err as Error).message).toBe(message);
  });

  it('formats like docker ps', () => {
    expect(formatPublishedPort({ hostIp: '0.0.0.0', hostPort: 8080, containerPort: 80, protocol: 'tcp' })).toBe('0.0.0.0:8080->80/tcp');
  });

  it.each([
    ['0.0.0.0:80:1', '127.0.0.1:80:2', true],
    ['127.0.0.1:80:1', '127.0.0.1:80:2', true],
    ['127.0.0.1:80:1', '10.0.0.1:80:2', false],
    ['80:1/tcp', '80:1/udp', false],
    ['80:1', '81:1', false],
  ])('%s and %s collide: %s', (a, b, want) => {
    expect(portsCollide(parsePortMapping(a), parsePortMapping(b))).toBe(want);
  });
});
