import { afterEach, describe, expect, it } from 'vitest';
import { SnapshotsService } from '@strata/api/snapshots/v1';
import { createClient } from '@strata/grpc-kit';
import { silentLogger, type ErrorKind } from '@strata/kit';
import { tempDir } from '@strata/kit/testing';
import type { LocalSnapshotter, Snapshotter } from '@strata/snapshots';
import { createLocalSnapshotter } from '@strata/snapshots-local';
import { collect, raised } from '@strata/snapshots/testing';
import { createGrpcSnapshotter } from './grpc-snapshotter.js';
import { LIST_BATCH } from './snapshots-service.js';
import { serveSnapshotter, type ServedSnapshotter } from './testing/index.js';

const logger = silentLogger();
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function served(): Promise<{ local: LocalSnapshotter; remote: ServedSnapshotter }> {
  const dir = tempDir('strata-snapshots-grpc-');
  cleanups.push(() => dir.remove());
  const local = await createLocalSnapshotter({ root: dir.path, driver: 'native', logger, syncOnCommit: false });
  cleanups.push(() => local.close());
  const remote = await serveSnapshotter(local, logger);
  cleanups.push(() => remote.stop());
  return { local, remote };
}

describe('the Snapshots service and its gRPC client', () => {
  it('streams a long list in batches and carries every field of Info', async () => {
    const { local, remote } = await served();
    await local.prepare('base-active', undefined, { labels: { tier: 'os' } });
    await local.commit('base', 'base-active');
    const count = LIST_BATCH + 7;
    for (let i = 0; i < count; i++) await local.view(`v${i}`, 'base', { labels: { n: String(i) } });
    const infos = await collect(remote.client.list());
    expect(infos).toHaveLength(count + 1);
    expect(infos.sort((a, b) => (a.name < b.name ? -1 : 1))).toEqual((await collect(local.list())).sort((a, b) => (a.name < b.name ? -1 : 1)));
    const v3 = infos.find((i) => i.name === 'v3');
    expect(v3).toEqual(await local.stat('v3'));
    expect(v3).toMatchObject({ kind: 'view', parent: 'base', labels: { n: '3' } });
    expect((await remote.client.stat('base')).parent).toBeUndefined();
    expect(await collect(remote.client.list(['labels.n==5']))).toEqual([await local.stat('v5')]);
  });

  it('returns the mounts the snapshotter returns, and its usage', async () => {
    const { local, remote } = await served();
    const mounts = await remote.client.prepare('a', undefined, { labels: { x: 'y' } });
    expect(mounts).toEqual(await local.mounts('a'));
    expect(await remote.client.usage('a')).toEqual(await local.usage('a'));
  });

  it('commits keeping the active labels, or replacing them (with none too)', async () => {
    const { remote } = await served();
    const sn = remote.client;
    for (const [name, labels, expected] of [
      ['kept', undefined, { from: 'active' }],
      ['replaced', { new: 'one' }, { new: 'one' }],
      ['emptied', {}, {}],
    ] as const) {
      await sn.prepare(`${name}-active`, undefined, { labels: { from: 'active' } });
      await sn.commit(name, `${name}-active`, labels === undefined ? {} : { labels });
      expect((await sn.stat(name)).labels).toEqual(expected);
    }
  });

  it.each<[string, (s: Snapshotter, socket: string) => Promise<unknown>, ErrorKind, string]>([
    [
      'an update without info',
      async (_, socket) => {
        const client = createClient({ unixSocket: socket });
        try {
          return await client.unary(SnapshotsService.update, { info: undefined, updateMask: [] });
        } finally {
          client.close();
        }
      },
      'InvalidArgument',
      'update needs info with the snapshot name and its new labels',
    ],
    [
      'a call after close',
      async (s) => {
        await s.close();
        return s.stat('a');
      },
      'Unavailable',
      'the snapshotter is closed',
    ],
    [
      'a list after close',
      async (s) => {
        await s.close();
        return collect(s.list());
      },
      'Unavailable',
      'the snapshotter is closed',
    ],
  ])('raises for %s', async (_, action, kind, message) => {
    const { remote } = await served();
    expect(await raised(() => action(remote.client, remote.socket))).toEqual({ kind, message });
  });

  it('raises Unavailable naming the socket when no service listens there', async () => {
    const dir = tempDir('strata-snapshots-grpc-');
    cleanups.push(() => dir.remove());
    const socket = `${dir.path}/none.sock`;
    const client = createGrpcSnapshotter({ unixSocket: socket }, { logger });
    cleanups.push(() => client.close());
    const { kind, message } = await raised(() => client.stat('a'));
    expect(kind).toBe('Unavailable');
    expect(message).toMatch(new RegExp(`^cannot reach unix:${socket}: .*; check that the service is running and the address is right$`));
  });
});
