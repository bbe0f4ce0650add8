import { describe, expect, it } from 'vitest';
import { checkLayerUrl, isPublicAddress, layerUrlsAllowed } from './foreign-layers.js';
import { errorOf } from './testing/error-of.js';

const allowList = ['mcr.microsoft.com', '*.blob.core.windows.net', 'layers.example.com:8443', '8.8.8.8', '[2606:4700::1111]', '10.1.2.3'];

describe('isPublicAddress', () => {
  it.each([
    ['8.8.8.8', true],
    ['1.1.1.1', true],
    ['2606:4700::1111', true],
    ['2a00:1450:4001:80b::200e', true],
    ['::ffff:8.8.8.8', true],
    ['64:ff9b::808:808', true],
    ['127.0.0.1', false],
    ['127.255.0.9', false],
    ['0.0.0.0', false],
    ['10.0.0.1', false],
    ['172.16.5.4', false],
    ['172.31.255.255', false],
    ['192.168.1.1', false],
    ['169.254.169.254', false],
    ['100.64.0.1', false],
    ['192.0.2.1', false],
    ['198.18.0.1', false],
    ['224.0.0.1', false],
    ['255.255.255.255', false],
    ['::', false],
    ['::1', false],
    ['::127.0.0.1', false],
    ['::ffff:127.0.0.1', false],
    ['::ffff:7f00:1', false],
    ['::ffff:a9fe:a9fe', false],
    ['64:ff9b::a00:1', false],
    ['64:ff9b::10.0.0.1', false],
    ['fe80::1', false],
    ['fc00::1', false],
    ['fd12:3456::1', false],
    ['fec0::1', false],
    ['ff02::1', false],
    ['2001:db8::1', false],
    ['2001::1', false],
    ['2002:7f00:1::1', false],
    ['100::1', false],
    ['localhost', false],
    ['example.com', false],
    ['', false],
    ['1.2.3', false],
  ])('isPublicAddress(%j) is %s', (address, expected) => {
    expect(isPublicAddress(address)).toBe(expected);
  });
});

describe('checkLayerUrl', () => {
  it.each([
    ['https://mcr.microsoft.com/v2/windows/servercore/blobs/sha256:abc', 'mcr.microsoft.com'],
    ['https://MCR.Microsoft.COM:443/x', 'mcr.microsoft.com'],
    ['https://foo.blob.core.windows.net/layer', 'foo.blob.core.windows.net'],
    ['https://a.b.blob.core.windows.net/layer', 'a.b.blob.core.windows.net'],
    ['https://layers.example.com:8443/l', 'layers.example.com'],
    ['https://8.8.8.8/l', '8.8.8.8'],
    ['https://[2606:4700::1111]/l', '[2606:4700::1111]'],
  ])('allows %s', (url, hostname) => {
    expect(checkLayerUrl(url, allowList).hostname).toBe(hostname);
  });

  const refused = (url: string, reason: string) => `foreign layer URL ${JSON.stringify(url)} refused: ${reason}`;
  it.each([
    ['http://mcr.microsoft.com/x', 'only https URLs are followed'],
    ['ftp://mcr.microsoft.com/x', 'only https URLs are followed'],
    ['file:///etc/passwd', 'only https URLs are followed'],
    ['not a url', 'not a valid URL'],
    ['https://user:secret@mcr.microsoft.com/x', 'it carries credentials'],
    ['https://token@mcr.microsoft.com/x', 'it carries credentials'],
    ['https://127.0.0.1/x', '127.0.0.1 is a loopback, private, link-local or reserved address'],
    ['https://0x7f.1/x', '127.0.0.1 is a loopback, private, link-local or reserved address'],
    ['https://2130706433/x', '127.0.0.1 is a loopback, private, link-local or reserved address'],
    ['https://10.1.2.3/x', '10.1.2.3 is a loopback, private, link-local or reserved address'],
    ['https://169.254.169.254/latest/meta-data', '169.254.169.254 is a loopback, private, link-local or reserved address'],
    ['https://[::1]/x', '::1 is a loopback, private, link-local or reserved address'],
    ['https://[::ffff:192.168.0.1]/x', '::ffff:c0a8:1 is a loopback, private, link-local or reserved address'],
    ['https://[fe80::1]/x', 'fe80::1 is a loopback, private, link-local or reserved address'],
    ['https://localhost/x', 'localhost is a local host name'],
    ['https://registry.localhost/x', 'registry.localhost is a local host name'],
    ['https://printer.local/x', 'printer.local is a local host name'],
    ['https://evil.example.com/x', 'host evil.example.com is not in the allow-list of foreign layer hosts'],
    ['https://mcr.microsoft.com.evil.com/x', 'host mcr.microsoft.com.evil.com is not in the allow-list of foreign layer hosts'],
    ['https://blob.core.windows.net/x', 'host blob.core.windows.net is not in the allow-list of foreign layer hosts'],
    ['https://xblob.core.windows.net/x', 'host xblob.core.windows.net is not in the allow-list of foreign layer hosts'],
    ['https://mcr.microsoft.com:8443/x', 'host mcr.microsoft.com:8443 is not in the allow-list of foreign layer hosts'],
    ['https://layers.example.com/x', 'host layers.example.com is not in the allow-list of foreign layer hosts'],
  ])('refuses %s', (url, reason) => {
    expect(errorOf(() => checkLayerUrl(url, allowList))).toEqual({ kind: 'PermissionDenied', message: refused(url, reason) });
  });

  it('refuses every URL with an empty allow-list', () => {
    expect(errorOf(() => checkLayerUrl('https://mcr.microsoft.com/x', []))).toEqual({
      kind: 'PermissionDenied',
      message: refused('https://mcr.microsoft.com/x', 'host mcr.microsoft.com is not in the allow-list of foreign layer hosts'),
    });
  });
});

describe('layerUrlsAllowed', () => {
  it.each([
    [{ urls: ['https://mcr.microsoft.com/a', 'https://x.blob.core.windows.net/b'] }, allowList, true],
    [{ urls: ['https://mcr.microsoft.com/a', 'http://mcr.microsoft.com/a'] }, allowList, false],
    [{ urls: ['https://mcr.microsoft.com/a', 'https://169.254.169.254/'] }, allowList, false],
    [{ urls: ['https://mcr.microsoft.com/a'] }, [], false],
    [{ urls: [] }, allowList, false],
    [{}, allowList, false],
  ])('layerUrlsAllowed(%j) is %s', (descriptor, list, expected) => {
    expect(layerUrlsAllowed(descriptor, list)).toBe(expected);
  });
});
