import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ANONYMOUS_VOLUME_LABEL } from '@strata/containers';
import { errorKind, silentLogger } from '@strata/kit';
import { createRecordingEventSink, tempDir } from '@strata/kit/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createVolumes, type Volumes } from './volumes.js';

let dir: ReturnType<typeof tempDir>;
let volumes: Volumes;
let events: ReturnType<typeof createRecordingEventSink>;
const inUse = new Map<string, string[]>();

const failure = async (p: Promise<unknown>) => p.then(() => undefined, (err: unknown) => ({ kind: errorKind(err), message: (err as Error).message }));

beforeEach(() => {
  dir = tempDir('strata-volumes-');
  events = createRecordingEventSink();
  inUse.clear();
  volumes = createVolumes({ dir: join(dir.path, 'volumes'), users: (n) => inUse.get(n) ?? [], events, node: 'n1', logger: silentLogger() });
});

afterEach(() => dir.remove());

describe('volumes', () => {
  it('creates a volume once, with its data directory, record and event; a second create returns it as it is', async () => {
    const { volume } = await volumes.create('data', { labels: { team: 'a' } });
    expect(volume).toEqual({ name: 'data', driver: 'local', createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/), labels: { team: 'a' } });
    expect(statSync(volumes.pathOf('data')).isDirectory()).toBe(true);
    expect(statSync(join(dir.path, 'volumes')).mode & 0o777).toBe(0o700);
    expect((await volumes.create('data', { labels: { other: 'b' } })).volume).toEqual(volume);
    expect(events.of('volume.created')).toEqual([{ type: 'volume.created', subject: 'data', data: { name: 'data', driver: 'local', node: 'n1' } }]);
  });

  it('names an anonymous volume with 64 hex digits and labels it', async () => {
    const { volume } = await volumes.create(undefined);
    expect(volume.name).toMatch(/^[0-9a-f]{64}$/);
    expect(volume.labels).toEqual({ [ANONYMOUS_VOLUME_LABEL]: '' });
  });

  it('lists by name with filters, and says who uses a volume', async () => {
    for (const name of ['b-vol', 'a-vol', 'c-other']) await volumes.create(name, name === 'c-other' ? { labels: { k: 'v' } } : {});
    inUse.set('a-vol', ['c1']);
    expect((await volumes.list()).map((u) => [u.volume.name, u.usedBy])).toEqual([['a-vol', ['c1']], ['b-vol', []], ['c-other', []]]);
    expect((await volumes.list(['dangling=true'])).map((u) => u.volume.name)).toEqual(['b-vol', 'c-other']);
    expect((await volumes.list(['name=vol', 'label=k'])).map((u) => u.volume.name)).toEqual([]);
    expect((await volumes.list(['label=k=v'])).map((u) => u.volume.name)).toEqual(['c-other']);
  });

  it('removes a volume with its data, but not one in use, as Docker', async () => {
    await volumes.create('data');
    writeFileSync(join(volumes.pathOf('data'), 'f'), 'x');
    inUse.set('data', ['c1', 'c2']);
    expect(await failure(volumes.remove('data', true))).toEqual({ kind: 'FailedPrecondition', message: 'remove data: volume is in use - [c1, c2]' });
    inUse.clear();
    await volumes.remove('data');
    expect(existsSync(join(dir.path, 'volumes/data'))).toBe(false);
    expect(readdirSync(join(dir.path, 'volumes'))).toEqual([]);
    expect(events.of('volume.deleted').map((e) => e.data)).toEqual([{ name: 'data', node: 'n1' }]);
    expect(await failure(volumes.remove('data'))).toEqual({ kind: 'NotFound', message: 'get data: no such volume' });
    await volumes.remove('data', true);
  });

  it('prunes unused anonymous volumes, and named ones with all', async () => {
    const anon = (await volumes.create(undefined)).volume.name;
    const used = (await volumes.create(undefined)).volume.name;
    await volumes.create('named');
    writeFileSync(join(volumes.pathOf(anon), 'f'), '12345');
    inUse.set(used, ['c1']);
    expect(await volumes.prune({})).toEqual({ deleted: [anon], spaceReclaimed: 5 });
    expect(await volumes.prune({ all: true })).toEqual({ deleted: ['named'], spaceReclaimed: 0 });
    expect((await volumes.list()).map((u) => u.volume.name)).toEqual([used]);
  });

  it.each([
    ['a name with a $', () => volumes.create('a$'), 'create a$: "a$" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path'],
    ['a one-character name', () => volumes.create('a'), 'create a: "a" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path'],
    ['another driver', () => volumes.create('ok', { driver: 'nfs' }), 'error looking up volume plugin nfs: plugin "nfs" not found'],
    ['an unknown filter', () => volumes.list(['colour=red']), "invalid filter 'colour'"],
  ])('refuses %s', async (_what, call, message) => {
    expect(await failure(call())).toEqual({ kind: 'InvalidArgument', message });
  });

  it('never looks outside its directory for a name like ../x', async () => {
    expect(await failure(volumes.inspect('../containers'))).toEqual({ kind: 'NotFound', message: 'get ../containers: no such volume' });
    expect(await failure(volumes.remove('..'))).toEqual({ kind: 'NotFound', message: 'get ..: no such volume' });
  });
});
