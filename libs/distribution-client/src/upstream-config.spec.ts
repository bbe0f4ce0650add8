import { describe, expect, it } from 'vitest';
import { expectError } from '@strata/content/testing';
import { isLoopbackHost, resolveUpstream, type UpstreamConfig } from './upstream-config.js';

describe('resolveUpstream', () => {
  it.each<[string, UpstreamConfig, string, boolean]>([
    ['Docker Hub by its reference domain', { host: 'docker.io' }, 'https://registry-1.docker.io', false],
    ['a public host', { host: 'ghcr.io' }, 'https://ghcr.io', false],
    ['a loopback address with a port, over plain http', { host: '127.0.0.1:5000' }, 'http://127.0.0.1:5000', true],
    ['localhost, over plain http', { host: 'localhost:5000' }, 'http://localhost:5000', true],
    ['IPv6 loopback', { host: '[::1]:5000' }, 'http://[::1]:5000', true],
    ['an insecure private registry', { host: 'registry.lan:5000', insecure: true }, 'http://registry.lan:5000', false],
    ['an https endpoint for a loopback host', { host: '127.0.0.1:5000', endpoint: 'https://127.0.0.1:5000' }, 'https://127.0.0.1:5000', true],
    ['an endpoint override', { host: 'docker.io', endpoint: 'https://mirror.example.com/' }, 'https://mirror.example.com', false],
  ])('%s', (_, config, baseUrl, loopback) => {
    const resolved = resolveUpstream(config);
    expect(resolved.baseUrl.origin).toBe(baseUrl);
    expect(resolved.loopback).toBe(loopback);
    expect(resolved.allowPrivateHosts).toBe(loopback);
  });

  it.each<[string, UpstreamConfig, string]>([
    [
      'plain http to a non-loopback host without insecure',
      { host: 'registry.example.com', endpoint: 'http://registry.example.com' },
      'upstream registry.example.com: plain HTTP to registry.example.com refused; only loopback upstreams may use http:// without "insecure: true" in their configuration',
    ],
    ['a host with a path', { host: 'example.com/v2' }, 'upstream host "example.com/v2" is not a host name or address with an optional port'],
    ['an empty host', { host: '' }, 'upstream host "" is not a host name or address with an optional port'],
    ['an endpoint that is no URL', { host: 'example.com', endpoint: 'not a url' }, 'upstream example.com: endpoint "not a url" is not a URL'],
    ['an ftp endpoint', { host: 'example.com', endpoint: 'ftp://example.com' }, 'upstream example.com: endpoint "ftp://example.com" must be an http or https URL'],
    [
      'an endpoint with credentials',
      { host: 'example.com', endpoint: 'https://u:p@example.com' },
      'upstream example.com: endpoint "https://u:p@example.com" must not carry credentials; set credentials instead',
    ],
    [
      'an endpoint with a path',
      { host: 'example.com', endpoint: 'https://example.com/registry' },
      'upstream example.com: endpoint "https://example.com/registry" must be an origin (scheme, host and port) without a path or query',
    ],
    ['empty credentials', { host: 'example.com', credentials: { username: '', password: 'x' } }, 'upstream example.com: credentials need a user name or a token'],
  ])('refuses %s', async (_, config, message) => {
    await expectError(() => resolveUpstream(config), 'InvalidArgument', message);
  });
});

describe('isLoopbackHost', () => {
  it.each([
    ['127.0.0.1', true],
    ['127.8.9.10', true],
    ['localhost', true],
    ['[::1]', true],
    ['::ffff:127.0.0.1', true],
    ['10.0.0.1', false],
    ['128.0.0.1', false],
    ['localhost.example.com', false],
    ['example.com', false],
  ])('%s → %s', (host, expected) => {
    expect(isLoopbackHost(host)).toBe(expected);
  });
});
