import { describe, expect, it } from 'vitest';
import { digestOf, parseDigest } from '@strata/oci';
import { createLeaseManager } from './leases.js';
import type { MetadataStore } from './store.js';
import { expectError, messageOf } from './testing/expect-error.js';
import { createMemoryMetadataStore } from './testing/memory-metadata-store.js';

const leaseIdRule = 'use 1 to 128 of A-Z a-z 0-9 . _ -, starting with a letter or digit';
const d1 = digestOf('one');
const d2 = digestOf('two');

describe('createLeaseManager', () => {
  const setup = () => {
    const meta = createMemoryMetadataStore();
    return { meta, leases: createLeaseManager(meta) };
  };

  it('creates leases under leases/<id> and lists them', async () => {
    const { meta, leases } = setup();
    const before = Date.now();
    const lease = await leases.create({ id: 'pull-1', labels: { owner: 'mirror' } });
    expect(lease).toEqual({ id: 'pull-1', createdAt: expect.any(Date), labels: { owner: 'mirror' } });
    expect(lease.createdAt.getTime()).toBeGreaterThanOrEqual(before);
    expect(await meta.list('leases/')).toEqual(['leases/pull-1']);
    expect(await leases.list()).toEqual([lease]);
  });

  it.each([undefined, ''])('generates an id when given %j', async (id) => {
    const { leases } = setup();
    const a = await leases.create(id === undefined ? {} : { id });
    const b = await leases.create(id === undefined ? {} : { id });
    expect(a.id).toMatch(/^lease-[0-9a-f]{16}$/);
    expect(b.id).not.toBe(a.id);
  });

  it('gives a lease with a ttl an expiry', async () => {
    const { leases } = setup();
    const lease = await leases.create({ id: 'short', ttlSeconds: 90 });
    expect(lease.expiresAt!.getTime() - lease.createdAt.getTime()).toBe(90_000);
    expect((await leases.create({ id: 'none', ttlSeconds: 0 })).expiresAt).toBeUndefined();
  });

  it('refuses a taken id with AlreadyExists', async () => {
    const { leases } = setup();
    await leases.create({ id: 'taken' });
    const err = await expectError(leases.create({ id: 'taken' }), 'AlreadyExists', 'lease taken already exists');
    expect(err.fields.lease).toBe('taken');
  });

  it('creates a lease once when asked twice at once', async () => {
    const { leases } = setup();
    const results = await Promise.allSettled([leases.create({ id: 'race' }), leases.create({ id: 'race' })]);
    expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
  });

  it.each(['../x', '.hidden', 'a/b', 'sp ace', 'x'.repeat(129), '-x'])('refuses the lease id %j', async (id) => {
    const { leases } = setup();
    const message = `invalid lease id ${JSON.stringify(id)}: ${leaseIdRule}`;
    await expectError(leases.create({ id }), 'InvalidArgument', message);
    await expectError(leases.delete(id), 'InvalidArgument', message);
    await expectError(leases.addResource(id, d1), 'InvalidArgument', message);
    await expectError(leases.deleteResource(id, d1), 'InvalidArgument', message);
  });

  it.each([-1, Number.NaN, Number.POSITIVE_INFINITY])('refuses the ttl %s', async (ttlSeconds) => {
    const { leases } = setup();
    await expectError(
      leases.create({ id: 'ttl', ttlSeconds }),
      'InvalidArgument',
      `invalid lease ttl ${ttlSeconds}: must be 0 (none) or a positive number of seconds`,
    );
    expect(await leases.list()).toEqual([]);
  });

  it('refuses labels over the limits', async () => {
    const { leases } = setup();
    await expectError(leases.create({ id: 'labels', labels: { '': 'x' } }), 'InvalidArgument', 'invalid label: empty key');
  });

  it('deletes a lease; NotFound when absent', async () => {
    const { leases } = setup();
    await leases.create({ id: 'gone' });
    await leases.delete('gone');
    expect(await leases.list()).toEqual([]);
    await expectError(leases.delete('gone'), 'NotFound', 'lease gone not found');
  });

  it('holds the digests added to unexpired leases, each once', async () => {
    const { leases } = setup();
    await leases.create({ id: 'a' });
    const short = await leases.create({ id: 'b', ttlSeconds: 60 });
    await leases.addResource('a', d1);
    await leases.addResource('a', d1);
    await leases.addResource('b', d2);
    expect([...(await leases.held())].sort()).toEqual([d1, d2].sort());
    const later = new Date(short.expiresAt!.getTime() + 1);
    expect([...(await leases.held(later))]).toEqual([d1]);
    await leases.deleteResource('a', d1);
    await leases.deleteResource('a', d1);
    expect([...(await leases.held(later))]).toEqual([]);
  });

  it('holds every digest added at once to one lease', async () => {
    const { leases } = setup();
    await leases.create({ id: 'busy' });
    const digests = Array.from({ length: 20 }, (_, i) => digestOf(`blob ${i}`));
    await Promise.all(digests.map((d) => leases.addResource('busy', d)));
    expect([...(await leases.held())].sort()).toEqual([...digests].sort());
  });

  it('holds every digest of addResources with one write of the lease, none when nothing is new', async () => {
    const memory = createMemoryMetadataStore();
    const puts: string[] = [];
    const counting: MetadataStore = {
      ...memory,
      put: async (key, value) => {
        puts.push(key);
        await memory.put(key, value);
      },
    };
    const leases = createLeaseManager(counting);
    await leases.create({ id: 'batch' });
    await leases.addResource('batch', d1);
    puts.length = 0;
    const more = Array.from({ length: 5 }, (_, i) => digestOf(`batch ${i}`));
    await leases.addResources('batch', [d1, ...more, more[0]!]);
    expect(puts).toEqual(['leases/batch']);
    expect([...(await leases.held())].sort()).toEqual([d1, ...more].sort());
    await leases.addResources('batch', [d1, more[1]!]);
    await leases.addResources('batch', []);
    expect(puts).toEqual(['leases/batch']);
  });

  it.each([
    ['a malformed digest', 'present', [d1, 'sha256:../../etc'], 'InvalidArgument', messageOf(() => parseDigest('sha256:../../etc'))],
    ['an absent lease', 'absent', [d1, d2], 'NotFound', 'lease absent not found'],
  ] as const)('adds none of addResources for %s', async (_case, id, digests, kind, message) => {
    const { leases } = setup();
    await leases.create({ id: 'present' });
    await expectError(leases.addResources(id, digests as unknown as ReturnType<typeof digestOf>[]), kind, message);
    expect([...(await leases.held())]).toEqual([]);
  });

  it('raises NotFound for resources of an absent lease, InvalidArgument for a malformed digest', async () => {
    const { leases } = setup();
    await expectError(leases.addResource('absent', d1), 'NotFound', 'lease absent not found');
    await expectError(leases.deleteResource('absent', d1), 'NotFound', 'lease absent not found');
    await leases.create({ id: 'present' });
    const bad = 'sha256:../../etc' as typeof d1;
    await expectError(leases.addResource('present', bad), 'InvalidArgument', messageOf(() => parseDigest(bad)));
  });

  it('expires only leases past their expiry, and says how many', async () => {
    const { leases } = setup();
    const short = await leases.create({ id: 'short', ttlSeconds: 10 });
    await leases.create({ id: 'long', ttlSeconds: 1000 });
    await leases.create({ id: 'forever' });
    expect(await leases.expire()).toBe(0);
    expect(await leases.expire(new Date(short.expiresAt!.getTime() + 1))).toBe(1);
    expect((await leases.list()).map((l) => l.id).sort()).toEqual(['forever', 'long']);
  });

  it('does not bring back a lease that expired while a resource was being added', async () => {
    const memory = createMemoryMetadataStore();
    const slowWrites: MetadataStore = {
      ...memory,
      put: async (key, value) => {
        await new Promise((resolve) => setTimeout(resolve, 20));
        await memory.put(key, value);
      },
    };
    const leases = createLeaseManager(slowWrites);
    const lease = await leases.create({ id: 'expiring', ttlSeconds: 1 });
    const later = new Date(lease.expiresAt!.getTime() + 1);
    const [expired, added] = await Promise.allSettled([leases.expire(later), leases.addResource('expiring', d1)]);
    expect(expired).toEqual({ status: 'fulfilled', value: 1 });
    expect(added.status).toBe('fulfilled');
    expect(await leases.list()).toEqual([]);
  });
});
