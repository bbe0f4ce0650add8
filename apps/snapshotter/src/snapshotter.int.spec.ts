import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { mkdirSync, readdirSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect as natsConnect, type Msg } from '@nats-io/transport-node';
import { afterEach, describe, expect, it } from 'vitest';
import { startNatsServer } from '@strata/events-nats/testing';
import { waitForHealthy } from '@strata/grpc-kit';
import { silentLogger, type CloudEvent } from '@strata/kit';
import { startProcess, tempDir, waitFor, type TestProcess } from '@strata/kit/testing';
import type { Info, Snapshotter } from '@strata/snapshots';
import { createGrpcSnapshotter } from '@strata/snapshots-grpc';
import { createLocalSnapshotter, mountAll, mountPoints, overlaySupported, unmountAll } from '@strata/snapshots-local';
import { collect, raised } from '@strata/snapshots/testing';
import { digestOf } from '@strata/oci';
import { loadSnapshotterConfig } from './config.js';
import { startSnapshotter } from './snapshotter.js';

const bin = fileURLToPath(new URL('../bin/snapshotter.mjs', import.meta.url));
const logger = silentLogger();

const cleanups: Array<() => unknown> = [];
const later = <T>(value: T, cleanup: (v: T) => unknown): T => {
  cleanups.push(() => cleanup(value));
  return value;
};
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const dirs = () => {
  const d = later(tempDir('snapshotter-'), (t) => t.remove());
  const state = join(d.path, 'state');
  const run = join(d.path, 'run');
  return { base: d.path, state, run, root: join(state, 'snapshotter'), socket: join(run, 'snapshotter.sock') };
};
type Dirs = ReturnType<typeof dirs>;

const client = (socket: string): Snapshotter => later(createGrpcSnapshotter({ unixSocket: socket }, { logger }), (c) => c.close());

/** Mounts mounts on a fresh directory under base, runs fn there, and always unmounts and removes it. */
let mountCount = 0;
async function mounted<T>(base: string, mounts: Parameters<typeof mountAll>[0], fn: (root: string) => Promise<T>): Promise<T> {
  const target = join(base, `mnt-${mountCount++}`);
  mkdirSync(target);
  try {
    await mountAll(mounts, target);
    try {
      return await fn(target);
    } finally {
      await unmountAll(target);
    }
  } finally {
    rmdirSync(target);
  }
}

const mountsUnder = async (dir: string) => (await mountPoints()).filter((m) => m === dir || m.startsWith(`${dir}/`));

describe('startSnapshotter', () => {
  it('serves the snapshots of the chosen driver, holds the layer-store client, and stop() leaves no mounts and frees the root', async () => {
    const d = dirs();
    const layerStoreSocket = join(d.run, 'no-layer-store.sock');
    const config = loadSnapshotterConfig(['--state-dir', d.state, '--run-dir', d.run, '--nats-url', '', '--layer-store-socket', layerStoreSocket], {});
    const running = await startSnapshotter(config, logger);
    let stopped = false;
    cleanups.push(() => (stopped ? undefined : running.stop()));
    expect(running.driver).toBe((await overlaySupported()) ? 'overlay' : 'native');
    expect(running.socket).toBe(d.socket);
    expect((await stat(d.socket)).mode & 0o777).toBe(0o600);
    expect((await stat(d.root)).mode & 0o777).toBe(0o700);

    const sn = client(d.socket);
    await mounted(d.base, await sn.prepare('a'), (root) => writeFile(join(root, 'f'), 'through the service'));
    await sn.commit('base', 'a');
    await sn.view('v', 'base');
    expect(await running.snapshotter.directories('base')).toMatchObject({ kind: 'committed', layout: running.driver });
    const { kind, message } = await raised(() => running.store.info(digestOf(Buffer.from('no layer-store here'))));
    expect(kind).toBe('Unavailable');
    expect(message).toContain(`cannot reach unix:${layerStoreSocket}`);

    await mounted(d.base, await sn.mounts('v'), async (root) => expect(await readFile(join(root, 'f'), 'utf8')).toBe('through the service'));
    await running.stop();
    stopped = true;
    expect(await mountsUnder(d.base)).toEqual([]);
    await expect(stat(d.socket)).rejects.toThrow(/ENOENT/);
    const reopened = await createLocalSnapshotter({ root: d.root, driver: running.driver, logger });
    try {
      expect((await collect(reopened.list())).map((i) => i.name).sort()).toEqual(['base', 'v']);
    } finally {
      await reopened.close();
    }
  });
});

describe('snapshotter process', () => {
  const run = (args: string[]): TestProcess => later(startProcess(process.execPath, [bin, ...args]), (p) => p.stop('SIGKILL'));
  const start = async (d: Dirs, extra: string[] = ['--nats-url', '']): Promise<TestProcess> => {
    const p = run(['--state-dir', d.state, '--run-dir', d.run, ...extra]);
    await Promise.race([
      waitForHealthy({ unixSocket: d.socket }, { timeoutMs: 20_000 }),
      p.exited.then((code) => {
        throw new Error(`snapshotter exited (${code}) before it was healthy:\n${p.output()}`);
      }),
    ]);
    return p;
  };

  it('serves prepare, commit, list and remove, publishes snapshot events on NATS, and on SIGTERM exits 0 and removes its socket', async () => {
    const nats = later(await startNatsServer(), (n) => n.stop());
    const d = dirs();
    const nc = later(await natsConnect({ servers: nats.url }), (c) => c.close());
    const seen: CloudEvent[] = [];
    const sub = nc.subscribe('strata.events.snapshot.>');
    void (async () => {
      for await (const m of sub as AsyncIterable<Msg>) seen.push(m.json<CloudEvent>());
    })();
    await nc.flush();
    const p = await start(d, ['--nats-url', nats.url, '--node', 'test-node']);
    expect((await stat(d.socket)).mode & 0o777).toBe(0o600);
    expect((await stat(d.run)).mode & 0o777).toBe(0o700);

    const sn = client(d.socket);
    await mounted(d.base, await sn.prepare('layer-1-active', undefined, { labels: { step: '1' } }), (root) => writeFile(join(root, 'one'), '1'));
    await sn.commit('layer-1', 'layer-1-active');
    await sn.prepare('ctr', 'layer-1');
    await mounted(d.base, await sn.mounts('ctr'), async (root) => expect(await readFile(join(root, 'one'), 'utf8')).toBe('1'));
    expect((await collect(sn.list())).map((i) => [i.name, i.kind]).sort()).toEqual([
      ['ctr', 'active'],
      ['layer-1', 'committed'],
    ]);
    expect(await sn.stat('layer-1')).toMatchObject({ kind: 'committed', labels: { step: '1' } });
    await sn.remove('ctr');
    expect((await collect(sn.list())).map((i) => i.name)).toEqual(['layer-1']);

    await waitFor(() => seen.length >= 2, () => `two snapshot events on NATS, got ${JSON.stringify(seen)}`, 10_000);
    expect(seen).toMatchObject([
      {
        type: 'io.strata.snapshot.committed',
        source: 'strata/snapshotter/test-node',
        subject: 'layer-1',
        data: { name: 'layer-1', key: 'layer-1-active', node: 'test-node' },
      },
      {
        type: 'io.strata.snapshot.removed',
        source: 'strata/snapshotter/test-node',
        subject: 'ctr',
        data: { key: 'ctr', kind: 'active', node: 'test-node' },
      },
    ]);

    process.kill(p.pid, 'SIGTERM');
    expect(await p.exited).toBe(0);
    expect(p.output()).toBe('');
    await expect(stat(d.socket)).rejects.toThrow(/ENOENT/);
    await expect(stat(join(d.root, 'lock'))).rejects.toThrow(/ENOENT/);
    expect(await mountsUnder(d.base)).toEqual([]);
  });

  it('refuses to start, in one line, on a root another snapshotter holds', async () => {
    const d = dirs();
    const first = await start(d);
    const second = run(['--state-dir', d.state, '--run-dir', join(d.base, 'run-2'), '--nats-url', '']);
    expect(await second.exited).toBe(1);
    expect(second.output()).toContain(
      `\nsnapshotter: cannot start: snapshot root ${d.root} is in use by process ${first.pid}; stop it or choose another root\n`,
    );
    await expect(stat(join(d.base, 'run-2', 'snapshotter.sock'))).rejects.toThrow(/ENOENT/);
    expect((await collect(client(d.socket).list())).length).toBe(0);
  });

  it('restarts after a SIGKILL in the middle of commits: takes the lock over and leaves only whole snapshots', async () => {
    const d = dirs();
    const FILES = 10;
    let p = await start(d);
    let sn = client(d.socket);
    let parent: string | undefined;
    const layers = 6;
    let pending: Promise<unknown> | undefined;
    for (let n = 0; n < layers; n++) {
      const key = `active-${n}`;
      await mounted(d.base, await sn.prepare(key, parent), async (root) => {
        for (let f = 0; f < FILES; f++) await writeFile(join(root, `f-${n}-${f}`), `${n}:${f}:${'x'.repeat(4096)}`);
        await writeFile(join(root, `complete-${n}`), String(FILES));
      });
      if (n === layers - 1) {
        // The last commit and a remove race the kill.
        pending = Promise.allSettled([sn.commit(`layer-${n}`, key), sn.prepare('doomed', parent), sn.remove('spare')]);
        process.kill(p.pid, 'SIGKILL');
        break;
      }
      await sn.commit(`layer-${n}`, key);
      if (n === 1) await sn.view('spare', `layer-${n}`);
      parent = `layer-${n}`;
    }
    await pending;
    expect(await p.exited).toBe('SIGKILL');
    expect(await readFile(join(d.root, 'lock'), 'utf8')).toBe(`${p.pid}\n`);

    p = await start(d);
    expect(await readFile(join(d.root, 'lock'), 'utf8')).toBe(`${p.pid}\n`);
    sn = client(d.socket);
    const infos: Info[] = await collect(sn.list());
    const names = new Set(infos.map((i) => i.name));
    const last = layers - 1;
    expect(names.has(`layer-${last}`) !== names.has(`active-${last}`)).toBe(true);
    for (let n = 0; n < last; n++) expect(names.has(`layer-${n}`)).toBe(true);
    for (const info of infos.filter((i) => i.kind === 'committed')) {
      const n = Number(/^layer-(\d+)$/.exec(info.name)![1]);
      expect(info.parent).toBe(n === 0 ? undefined : `layer-${n - 1}`);
      await mounted(d.base, await sn.view(`check-${n}`, info.name), async (root) => {
        for (let m = 0; m <= n; m++) expect(await readFile(join(root, `complete-${m}`), 'utf8')).toBe(String(FILES));
        expect((await readdir(root)).length).toBe((n + 1) * (FILES + 1));
      });
      await sn.remove(`check-${n}`);
    }
    const after = await collect(sn.list());
    await waitFor(
      async () => (await readdir(join(d.root, 'snapshots'))).length === after.length,
      () => `one directory per snapshot (${after.length}): ${readdirSync(join(d.root, 'snapshots')).join(' ')}`,
      10_000,
    );
    expect((await readdir(join(d.root, 'metadata'))).length).toBe(after.length);

    process.kill(p.pid, 'SIGTERM');
    expect(await p.exited).toBe(0);
    expect(await mountsUnder(d.base)).toEqual([]);
  });
});
