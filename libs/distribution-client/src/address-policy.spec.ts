import { describe, it } from 'vitest';
import { expectError } from '@strata/content/testing';
import { checkTarget, type AddressPolicy } from './address-policy.js';

const publicOnly: AddressPolicy = { upstream: 'registry.example.com', secure: true, allowPrivateHosts: false };

describe('checkTarget', () => {
  it.each([
    ['https://cdn.example.net/blob', publicOnly],
    ['https://93.184.216.34/blob', publicOnly],
    ['http://127.0.0.1:9000/blob', { ...publicOnly, secure: false, allowPrivateHosts: true }],
    ['https://10.1.2.3/blob', { ...publicOnly, allowPrivateHosts: true }],
  ])('lets %s through', (url, policy) => {
    checkTarget(policy, 'redirect', new URL(url));
  });

  it.each([
    ['http://cdn.example.net/blob', publicOnly, 'an https upstream may not send the client to plain http'],
    ['http://127.0.0.1:9000/blob', { ...publicOnly, allowPrivateHosts: true }, 'an https upstream may not send the client to plain http'],
    ['https://127.0.0.1/blob', publicOnly, '127.0.0.1 is a loopback, private or reserved address'],
    ['https://169.254.169.254/latest/meta-data', publicOnly, '169.254.169.254 is a loopback, private or reserved address'],
    ['https://[::ffff:10.0.0.1]/x', publicOnly, '::ffff:a00:1 is a loopback, private or reserved address'],
    ['https://localhost/x', publicOnly, 'localhost is a local host name'],
    ['https://printer.local/x', publicOnly, 'printer.local is a local host name'],
    ['https://user:pw@cdn.example.net/x', publicOnly, 'the URL carries credentials'],
    ['file:///etc/passwd', publicOnly, 'only http and https URLs are followed'],
  ])('refuses %s', async (url, policy, reason) => {
    await expectError(
      () => checkTarget(policy, 'redirect', new URL(url)),
      'PermissionDenied',
      `upstream registry.example.com: redirect to ${new URL(url).href} refused: ${reason}`,
    );
  });
});
