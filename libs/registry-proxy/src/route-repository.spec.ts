import { describe, expect, it } from 'vitest';
import { expectError } from '@strata/content/testing';
import { routeRepository, type RouteOptions } from './route-repository.js';

const configured: Record<string, string> = {
  'docker.io': 'docker.io',
  'index.docker.io': 'docker.io',
  'ghcr.io': 'ghcr.io',
  'quay.io': 'quay.io',
};
const upstreamHost = (host: string) => configured[host];
const withDefault: RouteOptions = { upstreamHost, hosts: ['docker.io', 'ghcr.io', 'quay.io'], defaultUpstream: 'docker.io' };
const withoutDefault: RouteOptions = { upstreamHost, hosts: ['ghcr.io', 'quay.io'] };

describe('routeRepository', () => {
  it.each([
    ['local/ prefix beats everything', 'local/team/app', 'ghcr.io', withDefault, { kind: 'local', name: 'local/team/app' }],
    ['ns names the upstream; the whole name is its repository', 'org/app', 'ghcr.io', withDefault, { kind: 'upstream', host: 'ghcr.io', repository: 'org/app' }],
    ['ns docker.io adds library/ to a single segment', 'busybox', 'docker.io', withDefault, { kind: 'upstream', host: 'docker.io', repository: 'library/busybox' }],
    ['ns alias resolves to the canonical host', 'busybox', 'index.docker.io', withDefault, { kind: 'upstream', host: 'docker.io', repository: 'library/busybox' }],
    ['ns wins over a host prefix', 'quay.io/org/app', 'ghcr.io', withDefault, { kind: 'upstream', host: 'ghcr.io', repository: 'quay.io/org/app' }],
    ['host prefix names the upstream', 'quay.io/org/app', undefined, withDefault, { kind: 'upstream', host: 'quay.io', repository: 'org/app' }],
    ['docker.io prefix with a single segment', 'docker.io/busybox', undefined, withDefault, { kind: 'upstream', host: 'docker.io', repository: 'library/busybox' }],
    ['unconfigured prefix goes to the default upstream whole', 'example.com/app', undefined, withDefault, { kind: 'upstream', host: 'docker.io', repository: 'example.com/app' }],
    ['default upstream with library/', 'busybox', undefined, withDefault, { kind: 'upstream', host: 'docker.io', repository: 'library/busybox' }],
    ['default upstream keeps a path', 'team/app', undefined, withDefault, { kind: 'upstream', host: 'docker.io', repository: 'team/app' }],
    ['no default: unclaimed names are local', 'team/app', undefined, withoutDefault, { kind: 'local', name: 'team/app' }],
    ['a repository named local alone is not the local prefix', 'local', undefined, withDefault, { kind: 'upstream', host: 'docker.io', repository: 'library/local' }],
  ])('%s', (_, name, ns, options, expected) => {
    expect(routeRepository(name, ns, options)).toEqual(expected);
  });

  it.each([
    ['an unconfigured ns', 'busybox', 'registry.example.com', withDefault, 'repository busybox not known: ns=registry.example.com is not an upstream of this mirror (configured: docker.io, ghcr.io, quay.io)'],
    ['any ns with no upstreams', 'busybox', 'docker.io', { upstreamHost: () => undefined, hosts: [] }, 'repository busybox not known: ns=docker.io is not an upstream of this mirror (configured: none)'],
  ])('refuses %s with NAME_UNKNOWN', async (_, name, ns, options, message) => {
    const err = await expectError(() => routeRepository(name, ns, options), 'NotFound', message);
    expect(err.fields.registryCode).toBe('NAME_UNKNOWN');
  });
});
