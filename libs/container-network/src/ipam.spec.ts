import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { errorKind } from '@strata/kit';
import { tempDir } from '@strata/kit/testing';
import { Ipam, type AttachmentRecord } from './ipam.js';
import { parseSubnet } from './subnet.js';

function rec(id: string, ip?: string): AttachmentRecord {
  return { id, mode: 'bridge', hostname: id, ports: [], ...(ip === undefined ? {} : { ip }) };
}

async function failure(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a failure');
}

describe('Ipam', () => {
  const dirs: { remove: () => void }[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) d.remove();
  });
  function dir(): string {
    const d = tempDir();
    dirs.push(d);
    return d.path;
  }

  it('hands out distinct addresses to concurrent callers, skipping network, gateway and broadcast', async () => {
    const ipam = new Ipam(join(dir(), 'net.json'), parseSubnet('10.9.0.0/28'));
    const records = await Promise.all(
      Array.from({ length: 13 }, (_, i) => ipam.add(`c${i}`, async ({ allocateIp }) => rec(`c${i}`, allocateIp()))),
    );
    const ips = records.map((r) => r.ip);
    expect(new Set(ips).size).toBe(13);
    expect(ips).not.toContain('10.9.0.0');
    expect(ips).not.toContain('10.9.0.1');
    expect(ips).not.toContain('10.9.0.15');
    const err = await failure(ipam.add('full', async ({ allocateIp }) => rec('full', allocateIp())));
    expect(errorKind(err)).toBe('ResourceExhausted');
    expect((err as Error).message).toBe('no free address left in subnet 10.9.0.0/28: remove containers or use a larger subnet');
  });

  it('keeps allocations across a restart and does not reuse a released address at once', async () => {
    const file = join(dir(), 'net.json');
    const subnet = parseSubnet('10.9.0.0/24');
    const first = new Ipam(file, subnet);
    await first.add('a', async ({ allocateIp }) => rec('a', allocateIp()));
    await first.add('b', async ({ allocateIp }) => rec('b', allocateIp()));
    await first.remove('a');
    const second = new Ipam(file, subnet);
    expect((await second.get('b'))?.ip).toBe('10.9.0.3');
    expect(await second.get('a')).toBeUndefined();
    const c = await second.add('c', async ({ allocateIp }) => rec('c', allocateIp()));
    expect(c.ip).toBe('10.9.0.4');
    expect((await readdir(join(file, '..'))).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });

  it('records nothing when the builder fails, and refuses a second record for an id', async () => {
    const ipam = new Ipam(join(dir(), 'net.json'), parseSubnet('10.9.0.0/24'));
    await expect(ipam.add('a', () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await ipam.list()).toEqual([]);
    await ipam.add('a', async ({ allocateIp }) => rec('a', allocateIp()));
    const err = await failure(ipam.add('a', async () => rec('a')));
    expect(errorKind(err)).toBe('AlreadyExists');
    expect((err as Error).message).toBe('container a already has a network attachment');
  });

  it('updates a record with the others in view, saved after it is in effect, and changes nothing when the change fails or there is no record', async () => {
    const file = join(dir(), 'net.json');
    const subnet = parseSubnet('10.9.0.0/24');
    const ipam = new Ipam(file, subnet);
    await ipam.add('a', async ({ allocateIp }) => ({ ...rec('a', allocateIp()), spare: true }));
    await ipam.add('b', async ({ allocateIp }) => rec('b', allocateIp()));
    const seen: string[] = [];
    const { record, saved } = await ipam.update('a', async ({ spare: _spare, ...r }, others) => {
      seen.push(...others.map((o) => o.id));
      return { ...r, hostname: 'web' };
    });
    expect(seen).toEqual(['b']);
    expect(record.hostname).toBe('web');
    // In effect before it is on disk: the next operations see it, and write after it.
    expect((await ipam.get('a'))?.hostname).toBe('web');
    await saved;
    expect(await new Ipam(file, subnet).get('a')).toEqual({ id: 'a', mode: 'bridge', hostname: 'web', ip: '10.9.0.2', ports: [] });
    await expect(ipam.update('a', () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect((await ipam.get('a'))?.hostname).toBe('web');
    const err = await failure(ipam.update('c', async (r) => r));
    expect(errorKind(err)).toBe('NotFound');
    expect((err as Error).message).toBe('container c has no network attachment');
  });

  it('reads the file again when an update cannot be saved, and rejects saved', async () => {
    const root = dir();
    const file = join(root, 'state', 'net.json');
    const subnet = parseSubnet('10.9.0.0/24');
    const ipam = new Ipam(file, subnet);
    await ipam.add('a', async ({ allocateIp }) => ({ ...rec('a', allocateIp()), spare: true }));
    // The state directory replaced by a file: the temp file cannot be made.
    await rm(join(root, 'state'), { recursive: true });
    await writeFile(join(root, 'state'), 'not a directory');
    const { saved } = await ipam.update('a', async ({ spare: _spare, ...r }) => ({ ...r, hostname: 'web' }));
    await expect(saved).rejects.toThrow();
    await rm(join(root, 'state'));
    await mkdir(join(root, 'state'));
    expect(await ipam.get('a')).toBeUndefined();
  });

  it('reports an unreadable state file', async () => {
    const file = join(dir(), 'net.json');
    await writeFile(file, '{not json');
    const err = await failure(new Ipam(file, parseSubnet('10.9.0.0/24')).list());
    expect(errorKind(err)).toBe('Internal');
    expect((err as Error).message).toMatch(/^network state file .*net\.json is unreadable: .*; move it away to start afresh$/);
  });
});
