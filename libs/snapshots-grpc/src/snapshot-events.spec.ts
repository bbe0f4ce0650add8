import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger, type ErrorKind } from '@strata/kit';
import { createRecordingEventSink, tempDir } from '@strata/kit/testing';
import type { LocalSnapshotter } from '@strata/snapshots';
import { createLocalSnapshotter } from '@strata/snapshots-local';
import { raised } from '@strata/snapshots/testing';
import { withSnapshotEvents } from './snapshot-events.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup() {
  const dir = tempDir('strata-snapshot-events-');
  cleanups.push(() => dir.remove());
  const local = await createLocalSnapshotter({ root: dir.path, driver: 'native', logger: silentLogger(), syncOnCommit: false });
  cleanups.push(() => local.close());
  const sink = createRecordingEventSink();
  const snapshotter: LocalSnapshotter = withSnapshotEvents(local, sink, { node: 'host-1' });
  return { local, sink, snapshotter };
}

describe('withSnapshotEvents', () => {
  it('publishes snapshot.committed with the parent and the key after a commit', async () => {
    const { sink, snapshotter } = await setup();
    await snapshotter.prepare('base-active');
    await snapshotter.commit('base', 'base-active');
    await snapshotter.prepare('top-active', 'base');
    await snapshotter.commit('top', 'top-active', { labels: { a: 'b' } });
    expect(sink.events).toEqual([
      { type: 'snapshot.committed', subject: 'base', data: { name: 'base', key: 'base-active', node: 'host-1' } },
      { type: 'snapshot.committed', subject: 'top', data: { name: 'top', parent: 'base', key: 'top-active', node: 'host-1' } },
    ]);
    expect((await snapshotter.stat('top')).labels).toEqual({ a: 'b' });
  });

  it('publishes snapshot.removed with the kind the snapshot had', async () => {
    const { sink, snapshotter } = await setup();
    await snapshotter.prepare('base-active');
    await snapshotter.commit('base', 'base-active');
    await snapshotter.prepare('ctr', 'base');
    await snapshotter.view('look', 'base');
    sink.clear();
    for (const key of ['ctr', 'look', 'base']) await snapshotter.remove(key);
    expect(sink.of('snapshot.removed')).toEqual([
      { type: 'snapshot.removed', subject: 'ctr', data: { key: 'ctr', kind: 'active', node: 'host-1' } },
      { type: 'snapshot.removed', subject: 'look', data: { key: 'look', kind: 'view', node: 'host-1' } },
      { type: 'snapshot.removed', subject: 'base', data: { key: 'base', kind: 'committed', node: 'host-1' } },
    ]);
    expect(sink.events).toHaveLength(3);
  });

  it.each<[string, (s: LocalSnapshotter) => Promise<unknown>, ErrorKind, string]>([
    ['a commit of an unknown key', (s) => s.commit('x', 'nope'), 'NotFound', 'snapshot "nope" not found'],
    ['a commit to a taken name', (s) => s.commit('base', 'act'), 'AlreadyExists', 'snapshot "base" already exists'],
    ['a commit of a view', (s) => s.commit('x', 'look'), 'FailedPrecondition', 'snapshot "look" is view: only an active snapshot can be committed'],
    ['a commit under an empty name', (s) => s.commit('', 'act'), 'InvalidArgument', 'invalid snapshot name: empty'],
    ['a remove of an unknown key', (s) => s.remove('nope'), 'NotFound', 'snapshot "nope" not found'],
    ['a remove of a parent', (s) => s.remove('base'), 'FailedPrecondition', 'snapshot "base" is the parent of 2 snapshots: remove them first'],
  ])('publishes nothing and raises what the snapshotter raises for %s', async (_, action, kind, message) => {
    const { sink, snapshotter } = await setup();
    await snapshotter.prepare('base-active');
    await snapshotter.commit('base', 'base-active');
    await snapshotter.prepare('act', 'base');
    await snapshotter.view('look', 'base');
    sink.clear();
    expect(await raised(() => action(snapshotter))).toEqual({ kind, message });
    expect(sink.events).toEqual([]);
  });

  it('keeps the rest of the snapshotter, directories included', async () => {
    const { local, sink, snapshotter } = await setup();
    await snapshotter.prepare('a', undefined, { labels: { x: '1' } });
    expect(await snapshotter.directories('a')).toEqual(await local.directories('a'));
    expect(await snapshotter.update('a', { x: '2' })).toEqual(await local.stat('a'));
    expect(sink.events).toEqual([]);
  });
});
