import { describe, expect, it } from 'vitest';
import { expectError } from '@strata/content/testing';
import { parseReference } from '@strata/oci';
import { locate, parseImageRef, repositoryName, requestedPlatform } from './image-names.js';

const naming = { localDomains: ['127.0.0.1:5050', 'localhost:5050'] };
const host = { os: 'linux', architecture: 'amd64' };

describe('image names', () => {
  it.each([
    ['busybox', { domain: 'docker.io', repository: 'library/busybox', backendName: 'library/busybox', ns: 'docker.io' }],
    ['ghcr.io/org/app:1', { domain: 'ghcr.io', repository: 'org/app', backendName: 'org/app', ns: 'ghcr.io' }],
    ['127.0.0.1:5050/local/app:v1', { domain: 'local', repository: 'local/app', backendName: 'local/app' }],
    ['localhost:5050/local/app:v1', { domain: 'local', repository: 'local/app', backendName: 'local/app' }],
    ['127.0.0.1:5050/app:v1', { domain: '127.0.0.1:5050', repository: 'app', backendName: 'app', ns: '127.0.0.1:5050' }],
  ])('locates %s', (text, expected) => {
    expect(locate(parseReference(text), naming)).toEqual(expected);
  });

  it('shows local repositories under the mirror address', () => {
    expect(repositoryName('local', 'local/app', naming)).toBe('127.0.0.1:5050/local/app');
    expect(repositoryName('docker.io', 'library/busybox', naming)).toBe('docker.io/library/busybox');
  });

  it.each([
    [`sha256:${'a'.repeat(64)}`, { idPrefix: 'a'.repeat(64) }],
    ['a'.repeat(64), { idPrefix: 'a'.repeat(64) }],
    ['sha256:0123456789ab', { idPrefix: '0123456789ab' }],
  ])('reads %s as an image id', (text, expected) => {
    expect(parseImageRef(text)).toEqual(expected);
  });

  it('reads 12 hex characters as a name first, then as an id prefix', () => {
    const parsed = parseImageRef('0123456789ab');
    expect(parsed.ref?.toString()).toBe('docker.io/library/0123456789ab:latest');
    expect(parsed.idPrefix).toBe('0123456789ab');
  });

  it.each([
    ['Busybox', 'invalid reference format: repository name must be lowercase'],
    ['', 'repository name must have at least one component'],
    ['busybox:-x', 'invalid reference format'],
  ])('refuses %j with Docker\'s text', async (text, message) => {
    await expectError(() => parseImageRef(text), 'InvalidArgument', message);
  });

  it.each([
    [undefined, { platform: host, explicit: false }],
    [{ os: '', architecture: '', variant: '' }, { platform: host, explicit: false }],
    [{ os: 'linux', architecture: 'arm64', variant: 'v8' }, { platform: { os: 'linux', architecture: 'arm64' }, explicit: true }],
    [{ os: '', architecture: 'arm', variant: '' }, { platform: { os: 'linux', architecture: 'arm', variant: 'v7' }, explicit: true }],
  ])('takes platform %j', (requested, expected) => {
    expect(requestedPlatform(requested, host)).toEqual(expected);
  });

  it.each([
    [{ os: 'linux', architecture: 'AMD 64', variant: '' }, 'invalid platform "linux/AMD 64": expected os[/arch[/variant]], e.g. linux/arm64'],
    [{ os: 'linux', architecture: '', variant: 'v7' }, 'invalid platform: variant "v7" needs an architecture, e.g. linux/arm/v7'],
  ])('refuses platform %j', async (requested, message) => {
    await expectError(() => requestedPlatform(requested, host), 'InvalidArgument', message);
  });
});
