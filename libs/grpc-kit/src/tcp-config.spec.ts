import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { errorKind } from '@strata/kit';
import { tempDir } from '@strata/kit/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { formatHostPort, parseHostPort, readTcpListener, type TcpListenerSettings } from './tcp-config.js';

const dir = tempDir('strata-tcp-config-');
afterAll(() => dir.remove());
const pem = (name: string) => {
  const path = join(dir.path, name);
  writeFileSync(path, `-----BEGIN ${name}-----\n`);
  return path;
};
const cert = pem('cert');
const key = pem('key');
const ca = pem('ca');

function failure(action: () => unknown): { kind: string; message: string } {
  try {
    action();
  } catch (err) {
    return { kind: errorKind(err), message: (err as Error).message };
  }
  throw new Error('expected an error');
}

describe('parseHostPort', () => {
  it.each([
    ['0.0.0.0:7443', { host: '0.0.0.0', port: 7443 }, '0.0.0.0:7443'],
    ['[::]:1', { host: '::', port: 1 }, '[::]:1'],
    [' node-1.example:65535 ', { host: 'node-1.example', port: 65535 }, 'node-1.example:65535'],
  ])('reads %j', (raw, parsed, formatted) => {
    expect(parseHostPort(raw, 'x')).toEqual(parsed);
    expect(formatHostPort(parsed)).toBe(formatted);
  });

  it.each([['0.0.0.0:99999'], ['host'], [':80'], ['a b:80'], [7443]])('refuses %j', (raw) => {
    expect(failure(() => parseHostPort(raw, 'advertise-address'))).toEqual({
      kind: 'InvalidArgument',
      message: `config advertise-address: expected host:port (e.g. 0.0.0.0:7443 or [::]:7443), got ${JSON.stringify(raw)}`,
    });
  });
});

describe('readTcpListener', () => {
  it('reads the three PEM files of a TCP listener', () => {
    expect(readTcpListener({ tcpListen: { host: '127.0.0.1', port: 7443 }, tlsCert: cert, tlsKey: key, tlsCa: ca })).toEqual({
      host: '127.0.0.1',
      port: 7443,
      tls: { cert: Buffer.from('-----BEGIN cert-----\n'), key: Buffer.from('-----BEGIN key-----\n'), ca: Buffer.from('-----BEGIN ca-----\n') },
    });
    expect(readTcpListener({})).toBeUndefined();
  });

  it.each<[string, TcpListenerSettings, string]>([
    ['TLS files missing', { tcpListen: { host: 'h', port: 1 }, tlsCert: cert }, 'config tcp-listen (TCP is served only with mutual TLS) needs --tls-key, --tls-ca'],
    ['TLS without TCP', { tlsCa: ca }, 'config tls-cert, tls-key and tls-ca are only used with --tcp-listen; set it or remove them'],
    [
      'an unreadable file',
      { tcpListen: { host: 'h', port: 1 }, tlsCert: cert, tlsKey: join(dir.path, 'missing'), tlsCa: ca },
      `config tls-key: cannot read ${join(dir.path, 'missing')}: ENOENT: no such file or directory, open '${join(dir.path, 'missing')}'`,
    ],
  ])('refuses %s', (_what, settings, message) => {
    expect(failure(() => readTcpListener(settings))).toEqual({ kind: 'InvalidArgument', message });
  });
});
