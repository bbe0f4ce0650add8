import { jetstream } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { startNatsServer, type TestNatsServer } from '@strata/events-nats/testing';
import { isStrataError, silentLogger, type ErrorKind } from '@strata/kit';
import { freePort, waitFor } from '@strata/kit/testing';
import type { NodeView } from '@strata/nodes';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createNatsNodeDirectory, type NatsNodeDirectory, type NatsNodeDirectoryOptions } from './nats-node-directory.js';

let server: TestNatsServer;
let nc: NatsConnection;
let buckets = 0;
const directories: NatsNodeDirectory[] = [];

beforeAll(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
});
afterAll(async () => {
  await nc?.close();
  await server?.stop();
});
afterEach(async () => {
  await Promise.all(directories.splice(0).map((d) => d.close()));
});

function newDirectory(overrides: Partial<NatsNodeDirectoryOptions> = {}): NatsNodeDirectory {
  const directory = createNatsNodeDirectory({ servers: server.url, logger: silentLogger(), connectWaitMs: 5000, ...overrides });
  directories.push(directory);
  return directory;
}

async function bucket(name: string): Promise<KV> {
  return new Kvm(jetstream(nc)).create(name, { history: 1 });
}

function status(name: string, ageMs: number, intervalSeconds = 5, extra: Record<string, unknown> = {}) {
  return {
    name,
    address: `10.0.0.${name.length}:7443`,
    cpus: 2,
    memoryBytes: 2048,
    allocatableCpus: 1.5,
    allocatableMemoryBytes: 1024,
    runningContainers: 1,
    containers: 2,
    labels: { zone: 'a' },
    cgroupVersion: 1,
    runtime: 'runc 1.1.5',
    kernel: '6.1.0',
    heartbeatAt: new Date(Date.now() - ageMs).toISOString(),
    heartbeatIntervalSeconds: intervalSeconds,
    version: '0.1.0',
    ...extra,
  };
}

async function raised(action: () => Promise<unknown>): Promise<{ kind: ErrorKind; message: string }> {
  try {
    await action();
  } catch (err) {
    if (!isStrataError(err)) throw new Error(`expected a Strata error, got ${String(err)}`, { cause: err });
    return { kind: err.kind, message: err.message };
  }
  throw new Error('expected a Strata error, but the call succeeded');
}

describe('createNatsNodeDirectory', () => {
  it('lists every node of the bucket by name with its state, skipping values that are not heartbeats', async () => {
    const name = `nodes_${++buckets}`;
    const directory = newDirectory({ bucket: name });
    expect(await directory.list()).toEqual([]);
    const kv = await bucket(name);
    await kv.put('node-b', JSON.stringify(status('node-b', 0)));
    await kv.put('node-a', JSON.stringify(status('node-a', 20_000)));
    await kv.put('garbage', 'not json');
    await kv.put('node-c', JSON.stringify(status('someone-else', 0)));
    const nodes = await directory.list();
    expect(nodes.map((n) => [n.name, n.state])).toEqual([
      ['node-a', 'down'],
      ['node-b', 'ready'],
    ]);
    expect(nodes[1]).toMatchObject({ address: '10.0.0.6:7443', cpus: 2, allocatableCpus: 1.5, labels: { zone: 'a' }, containers: 2 });
    expect((await directory.get('node-b'))?.state).toBe('ready');
    expect((await directory.get('node-a'))?.state).toBe('down');
    expect(await directory.get('nobody')).toBeUndefined();
    expect(await directory.get('garbage')).toBeUndefined();
    await kv.delete('node-b');
    expect((await directory.list()).map((n) => n.name)).toEqual(['node-a']);
  });

  it('reports heartbeats to watchers, and a node that goes silent as down after three intervals', async () => {
    const name = `nodes_${++buckets}`;
    const kv = await bucket(name);
    await kv.put('quiet', JSON.stringify(status('quiet', 1500, 1)));
    const directory = newDirectory({ bucket: name });
    const seen: NodeView[] = [];
    const stop = directory.watch((v) => seen.push(v));
    await waitFor(() => seen.some((v) => v.name === 'quiet'), () => 'the watcher to report the first node');
    expect(seen[0]?.state).toBe('ready');
    await kv.put('busy', JSON.stringify(status('busy', 0, 5)));
    await waitFor(() => seen.some((v) => v.name === 'busy'), () => 'the watcher to report a new heartbeat');
    await waitFor(() => seen.some((v) => v.name === 'quiet' && v.state === 'down'), () => 'the silent node to be reported down');
    const quiet = seen.filter((v) => v.name === 'quiet');
    expect(quiet.map((v) => v.state)).toEqual(['ready', 'down']);
    expect(Date.now() - quiet[1]!.heartbeatAt.getTime()).toBeGreaterThan(3000);

    const late: NodeView[] = [];
    const stopLate = directory.watch((v) => late.push(v));
    expect(late.map((v) => [v.name, v.state]).sort()).toEqual([
      ['busy', 'ready'],
      ['quiet', 'down'],
    ]);
    stopLate();
    await kv.put('quiet', JSON.stringify(status('quiet', 0, 1)));
    await waitFor(() => seen.filter((v) => v.name === 'quiet').length === 3, () => 'the node to heartbeat again');
    expect(seen.filter((v) => v.name === 'quiet').at(-1)?.state).toBe('ready');
    expect(late).toHaveLength(2);
    stop();
  });

  it('keeps watching across a NATS restart', { timeout: 30_000 }, async () => {
    const name = `nodes_${++buckets}`;
    const directory = newDirectory({ bucket: name });
    const seen: NodeView[] = [];
    directory.watch((v) => seen.push(v));
    const kv = await bucket(name);
    await kv.put('n1', JSON.stringify(status('n1', 0)));
    await waitFor(() => seen.length === 1, () => 'the first heartbeat');
    await server.restart();
    await waitFor(async () => {
      try {
        await kv.put('n1', JSON.stringify(status('n1', 0, 5, { containers: 7 })));
        return true;
      } catch {
        return false;
      }
    }, () => 'a heartbeat after the restart');
    await waitFor(() => seen.some((v) => v.containers === 7), () => 'the watcher to see the heartbeat written after the restart');
    expect(seen.every((v) => v.state === 'ready')).toBe(true);
  });

  it.each([
    [
      'NATS is unreachable',
      async () => {
        const port = await freePort();
        const d = newDirectory({ servers: `nats://127.0.0.1:${port}`, connectWaitMs: 200 });
        return raised(() => d.list());
      },
      {
        kind: 'Unavailable',
        message: 'the node directory (NATS KV bucket "strata_nodes") is unavailable: NATS at nats://127.0.0.1:PORT is not reachable; check that nats-server is running with JetStream',
      },
    ],
    [
      'the directory was closed',
      async () => {
        const d = newDirectory();
        await d.close();
        return raised(() => d.get('x'));
      },
      { kind: 'FailedPrecondition', message: 'the node directory (NATS KV bucket "strata_nodes") was closed' },
    ],
    [
      'the bucket name is invalid',
      async () => {
        try {
          createNatsNodeDirectory({ servers: server.url, logger: silentLogger(), bucket: 'a.b' });
        } catch (err) {
          return { kind: (err as { kind: ErrorKind }).kind, message: (err as Error).message };
        }
        throw new Error('expected an error');
      },
      { kind: 'InvalidArgument', message: 'invalid KV bucket name "a.b": use letters, digits, "-" and "_"' },
    ],
  ] as const)('raises when %s', async (_what, act, expected) => {
    const got = await act();
    expect({ ...got, message: got.message.replace(/127\.0\.0\.1:\d+/, '127.0.0.1:PORT') }).toEqual(expected);
  });
});
