// The consumer against a real nats-server: events published through the services' own sink, a redelivered
// event, live following, and a restarted consumer that rebuilds the table from the stream alone.
import { fileURLToPath } from 'node:url';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNatsEventSink, EVENTS_STREAM, type NatsEventSink, type StoredEvent } from '@strata/events-nats';
import { startNatsServer, type TestNatsServer } from '@strata/events-nats/testing';
import { silentLogger } from '@strata/kit';
import { startProcess, waitFor } from '@strata/kit/testing';
import { followContainerTable } from './follow-container-table.js';
import { renderTable } from './render-table.js';
import type { TableState } from './table-state.js';

const bin = fileURLToPath(new URL('../bin/container-table.mjs', import.meta.url));

const WEB = 'aaaaaaaaaaaa1111111111111111111111111111111111111111111111111111';
const DB = 'bbbbbbbbbbbb2222222222222222222222222222222222222222222222222222';
const JOB = 'cccccccccccc3333333333333333333333333333333333333333333333333333';
const CACHE = 'dddddddddddd4444444444444444444444444444444444444444444444444444';

/** A consumer run: its latest table and the events it read, until stop(). */
interface Consumer {
  latest(): TableState | undefined;
  read: StoredEvent[];
  stop(): Promise<TableState>;
}

describe('container-table against NATS', () => {
  let server: TestNatsServer;
  let node1: NatsEventSink;
  let node2: NatsEventSink;
  let nc: NatsConnection;
  const consumers: Consumer[] = [];
  let sent = { node1: 0, node2: 0 };

  const startConsumer = (): Consumer => {
    const abort = new AbortController();
    let latest: TableState | undefined;
    const read: StoredEvent[] = [];
    const done = followContainerTable({
      nc,
      logger: silentLogger(),
      signal: abort.signal,
      onEvent: (state, stored) => {
        latest = state;
        read.push(stored);
      },
    });
    const consumer: Consumer = {
      latest: () => latest,
      read,
      stop: async () => {
        abort.abort();
        return done;
      },
    };
    consumers.push(consumer);
    return consumer;
  };

  const table = (c: Consumer) => (c.latest() === undefined ? '' : renderTable(c.latest()!));
  const shows = (c: Consumer, expected: string) => waitFor(() => table(c) === expected, () => `the table\n${expected}\nbut it is\n${table(c)}`);

  const publish = (sink: 'node1' | 'node2', type: string, data: Record<string, unknown>) => {
    (sink === 'node1' ? node1 : node2).publish(type, String(data.id), data);
    sent = { ...sent, [sink]: sent[sink] + 1 };
  };
  const published = () =>
    waitFor(
      () => node1.stats().published === sent.node1 && node2.stats().published === sent.node2,
      () => `every event acknowledged (${JSON.stringify([node1.stats(), node2.stats(), sent])})`,
    );

  beforeAll(async () => {
    server = await startNatsServer();
    node1 = createNatsEventSink({ servers: server.url, source: 'strata/node-agent/node-1', logger: silentLogger() });
    node2 = createNatsEventSink({ servers: server.url, source: 'strata/node-agent/node-2', logger: silentLogger() });
    await Promise.all([node1.ready(), node2.ready()]);
    nc = await connect({ servers: server.url });
  });
  afterAll(async () => {
    await Promise.all(consumers.map((c) => c.stop().catch(() => undefined)));
    await nc?.close();
    await Promise.all([node1?.close(), node2?.close()]);
    await server?.stop();
  });

  it('replays, follows, ignores a redelivered event, and rebuilds the same table after a restart', async () => {
    publish('node1', 'container.created', { id: WEB, name: 'web', image: 'docker.io/library/nginx:1.27', imageId: 'sha256:aa', node: 'node-1' });
    publish('node1', 'container.started', { id: WEB, name: 'web', pid: 1001, node: 'node-1' });
    publish('node2', 'container.created', { id: DB, name: 'db', image: 'postgres:16', imageId: 'sha256:bb', node: 'node-2' });
    publish('node2', 'container.started', { id: DB, name: 'db', pid: 2001, node: 'node-2' });
    publish('node1', 'container.created', { id: JOB, name: 'job', image: 'busybox', imageId: 'sha256:cc', node: 'node-1' });
    publish('node1', 'container.started', { id: JOB, name: 'job', pid: 1002, node: 'node-1' });
    publish('node1', 'container.exited', { id: JOB, name: 'job', exitCode: 0, oomKilled: false, finishedAt: new Date().toISOString(), node: 'node-1' });
    await published();

    // Replay of what is stored.
    const first = startConsumer();
    await shows(
      first,
      [
        'NODE    CONTAINER     NAME  IMAGE                         STATUS',
        'node-1  cccccccccccc  job   busybox                       Exited (0)',
        'node-1  aaaaaaaaaaaa  web   docker.io/library/nginx:1.27  Up',
        'node-2  bbbbbbbbbbbb  db    postgres:16                   Up',
        '',
      ].join('\n'),
    );

    // Live events, as they are stored.
    publish('node2', 'container.oom', { id: DB, name: 'db', node: 'node-2' });
    publish('node2', 'container.exited', { id: DB, name: 'db', exitCode: 137, oomKilled: true, finishedAt: new Date().toISOString(), node: 'node-2' });
    publish('node1', 'container.deleted', { id: JOB, name: 'job', node: 'node-1' });
    await published();
    const live = [
      'NODE    CONTAINER     NAME  IMAGE                         STATUS',
      'node-1  aaaaaaaaaaaa  web   docker.io/library/nginx:1.27  Up',
      'node-2  bbbbbbbbbbbb  db    postgres:16                   Exited (137, OOM-killed)',
      '',
    ].join('\n');
    await shows(first, live);
    expect(first.latest()).toMatchObject({ applied: 10, ignored: 0 });

    // An at-least-once redelivery: the same CloudEvent (same id) stored a second time, as a
    // publisher that retried after its duplicate window would store it.
    const redelivered = first.read.find((s) => s.event.type === 'io.strata.container.started' && s.event.subject === WEB)!;
    const jsm = await jetstreamManager(nc);
    const lastSeq = (await jsm.streams.info(EVENTS_STREAM)).state.last_seq;
    await jetstream(nc).publish(redelivered.subject, JSON.stringify(redelivered.event));
    expect((await jsm.streams.info(EVENTS_STREAM)).state.last_seq).toBe(lastSeq + 1);
    await waitFor(() => first.latest()?.ignored === 1, () => `the redelivered event read (${JSON.stringify(first.latest() && { applied: first.latest()!.applied, ignored: first.latest()!.ignored })})`);
    expect(table(first)).toBe(live);
    expect(first.read.filter((s) => s.event.id === redelivered.event.id).map((s) => s.seq)).toEqual([redelivered.seq, lastSeq + 1]);

    // The consumer stops; events go on while it is down; a new one rebuilds everything from the stream.
    const stoppedAt = await first.stop();
    expect(renderTable(stoppedAt)).toBe(live);
    publish('node1', 'container.exited', { id: WEB, name: 'web', exitCode: 143, oomKilled: false, finishedAt: new Date().toISOString(), node: 'node-1' });
    publish('node2', 'container.created', { id: CACHE, name: 'cache', image: 'redis:7', imageId: 'sha256:dd', node: 'node-2' });
    publish('node2', 'container.started', { id: CACHE, name: 'cache', pid: 2002, node: 'node-2' });
    await published();

    const restarted = startConsumer();
    const final = [
      'NODE    CONTAINER     NAME   IMAGE                         STATUS',
      'node-1  aaaaaaaaaaaa  web    docker.io/library/nginx:1.27  Exited (143)',
      'node-2  dddddddddddd  cache  redis:7                       Up',
      'node-2  bbbbbbbbbbbb  db     postgres:16                   Exited (137, OOM-killed)',
      '',
    ].join('\n');
    await shows(restarted, final);
    await waitFor(() => restarted.latest()?.applied === 13 && restarted.latest()?.ignored === 1, () => 'the whole stream read');
    expect(restarted.read.map((s) => s.seq)).toEqual([...restarted.read.map((s) => s.seq)].sort((a, b) => a - b));

    // The program itself, once: the same table from the same stream.
    const program = startProcess(process.execPath, [bin, '--nats-url', server.url, '--once']);
    try {
      expect(await program.exited).toBe(0);
      expect(program.output()).toBe(`${final}\n`);
    } finally {
      await program.stop();
    }
  });
});
