import { existsSync } from 'node:fs';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { silentLogger, type CloudEvent } from '@strata/kit';
import { freePort, waitFor } from '@strata/kit/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { EVENTS_STREAM } from './events-stream.js';
import { createNatsEventSink, type NatsEventSink, type NatsEventSinkOptions } from './nats-event-sink.js';
import { natsAnswers, startNatsServer, type TestNatsServer } from './testing/nats-server.js';

const SOURCE = 'strata/layer-store/test-node';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

let server: TestNatsServer;
const sinks: NatsEventSink[] = [];

function newSink(overrides: Partial<NatsEventSinkOptions> = {}): NatsEventSink {
  const sink = createNatsEventSink({ servers: server.url, source: SOURCE, logger: silentLogger(), ...overrides });
  sinks.push(sink);
  return sink;
}

/** Runs fn with a fresh connection (a connection that is still reconnecting may lose requests). */
async function withClient<T>(fn: (client: NatsConnection) => Promise<T>, url = server.url): Promise<T> {
  const client = await connect({ servers: url });
  try {
    return await fn(client);
  } finally {
    await client.close();
  }
}

/** Every event in STRATA_EVENTS from the first, with its Nats-Msg-Id header. */
const replay = () => withClient(replayWith);

async function replayWith(client: NatsConnection): Promise<Array<{ subject: string; msgId: string | undefined; event: CloudEvent }>> {
  const jsm = await jetstreamManager(client);
  const { state } = await jsm.streams.info(EVENTS_STREAM);
  const consumer = await jetstream(client).consumers.get(EVENTS_STREAM);
  const out: Array<{ subject: string; msgId: string | undefined; event: CloudEvent }> = [];
  if (state.messages === 0) return out;
  const messages = await consumer.fetch({ max_messages: state.messages, expires: 5000 });
  for await (const m of messages) {
    out.push({ subject: m.subject, msgId: m.headers?.get('Nats-Msg-Id'), event: m.json<CloudEvent>() });
    if (out.length === state.messages) break;
  }
  return out;
}

async function purge(): Promise<void> {
  await withClient(async (client) => {
    const jsm = await jetstreamManager(client);
    await jsm.streams.purge(EVENTS_STREAM).catch(() => undefined);
  });
}

async function drained(sink: NatsEventSink, published: number): Promise<void> {
  await waitFor(
    () => sink.stats().buffered === 0 && sink.stats().published === published,
    () => `the sink to publish ${published} events (${JSON.stringify(sink.stats())})`,
  );
}

beforeAll(async () => {
  server = await startNatsServer();
});

afterEach(async () => {
  await Promise.all(sinks.splice(0).map((s) => s.close()));
  await purge();
});

afterAll(async () => {
  await server?.stop();
});

describe('createNatsEventSink', () => {
  it('keeps one copy of an event that two sinks publish under the same chosen id', async () => {
    const one = newSink();
    const two = newSink({ source: 'strata/node-agent/other' });
    one.publish('node.down', 'n1', { node: 'n1' }, { id: 'node.down:n1:2024-05-01T10:00:00.000Z' });
    two.publish('node.down', 'n1', { node: 'n1' }, { id: 'node.down:n1:2024-05-01T10:00:00.000Z' });
    one.publish('node.up', 'n1', { node: 'n1' });
    await drained(one, 2);
    await drained(two, 1);
    const events = await replay();
    expect(events.map((e) => [e.subject, e.msgId === e.event.id])).toEqual([
      ['strata.events.node.down', true],
      ['strata.events.node.up', true],
    ]);
    expect(events[0]?.event.id).toBe('node.down:n1:2024-05-01T10:00:00.000Z');
    expect(events[1]?.event.id).toMatch(UUID);
  });

  it('publishes CloudEvents 1.0 JSON on strata.events.<type>', async () => {
    const client = await connect({ servers: server.url });
    onTestFinished(() => client.close());
    const sub = client.subscribe('strata.events.>', { max: 1 });
    await client.flush();
    const sink = newSink();
    await sink.ready();
    const data = { digest: `sha256:${'a'.repeat(64)}`, size: '3', labels: { x: 'y' } };
    const before = Date.now();
    sink.publish('blob.stored', data.digest, data);

    let received: { subject: string; event: CloudEvent } | undefined;
    for await (const m of sub) received = { subject: m.subject, event: m.json<CloudEvent>() };
    expect(received?.subject).toBe('strata.events.blob.stored');
    const ev = received!.event;
    expect(ev).toEqual({
      specversion: '1.0',
      id: expect.stringMatching(UUID),
      source: SOURCE,
      type: 'io.strata.blob.stored',
      subject: data.digest,
      time: expect.any(String),
      datacontenttype: 'application/json',
      data,
    });
    expect(Date.parse(ev.time)).toBeGreaterThanOrEqual(before - 1000);
    expect(new Date(ev.time).toISOString()).toBe(ev.time);
    await drained(sink, 1);
  });

  it('captures events in STRATA_EVENTS, replayable from the start, with Nats-Msg-Id = event id', async () => {
    const sink = newSink();
    await sink.ready();
    for (let i = 0; i < 5; i++) sink.publish('blob.deleted', `sha256:${String(i).repeat(64)}`, { reason: 'gc', n: i });
    await drained(sink, 5);

    const info = await withClient(async (client) => (await jetstreamManager(client)).streams.info(EVENTS_STREAM));
    expect(info.config.subjects).toEqual(['strata.events.>']);
    expect(info.config.storage).toBe('file');

    const events = await replay();
    expect(events.map((e) => (e.event.data as { n: number }).n)).toEqual([0, 1, 2, 3, 4]);
    for (const e of events) {
      expect(e.subject).toBe('strata.events.blob.deleted');
      expect(e.msgId).toBe(e.event.id);
    }
  });

  it('lets JetStream drop a second publish with the same event id', async () => {
    const sink = newSink();
    await sink.ready();
    sink.publish('blob.stored', 'sha256:dup', { n: 1 });
    await drained(sink, 1);
    const [first] = await replay();

    const ack = await withClient((client) =>
      jetstream(client).publish(first!.subject, JSON.stringify(first!.event), { msgID: first!.event.id }),
    );
    expect(ack.duplicate).toBe(true);
    expect((await replay()).map((e) => e.event.id)).toEqual([first!.event.id]);
  });

  it('delivers events published while NATS is down, in order, after it comes back', async () => {
    const sink = newSink();
    await sink.ready();
    sink.publish('blob.stored', 's0', { n: 0 });
    await drained(sink, 1);

    await server.restart(async () => {
      for (let n = 1; n <= 4; n++) sink.publish('blob.stored', `s${n}`, { n });
      expect(sink.stats()).toMatchObject({ buffered: 4, dropped: 0 });
      await new Promise((r) => setTimeout(r, 300));
      for (let n = 5; n <= 6; n++) sink.publish('blob.stored', `s${n}`, { n });
    });
    await drained(sink, 7);
    expect(sink.stats().dropped).toBe(0);
    const events = await replay();
    expect(events.map((e) => (e.event.data as { n: number }).n)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(new Set(events.map((e) => e.event.id)).size).toBe(7);
  });

  it('drops the oldest events past bufferSize while NATS is down, and counts them', async () => {
    const sink = newSink({ bufferSize: 5 });
    await sink.ready();

    await server.restart(() => {
      for (let n = 1; n <= 8; n++) sink.publish('blob.stored', `s${n}`, { n });
      expect(sink.stats()).toEqual({ published: 0, buffered: 5, dropped: 3 });
    });
    await drained(sink, 5);
    expect(sink.stats()).toEqual({ published: 5, buffered: 0, dropped: 3 });
    expect((await replay()).map((e) => (e.event.data as { n: number }).n)).toEqual([4, 5, 6, 7, 8]);
  });

  it('publishes what was buffered before NATS first came up', async () => {
    const port = await freePort();
    const sink = newSink({ servers: `nats://127.0.0.1:${port}` });
    for (let n = 0; n < 3; n++) sink.publish('blob.stored', `early-${n}`, { n });
    await new Promise((r) => setTimeout(r, 300));
    expect(sink.stats()).toEqual({ published: 0, buffered: 3, dropped: 0 });

    const late = await startNatsServer({ port });
    try {
      await sink.ready();
      await drained(sink, 3);
      const events = await withClient((client) => replayWith(client), late.url);
      expect(events.map((e) => e.event.subject)).toEqual(['early-0', 'early-1', 'early-2']);
    } finally {
      await sink.close();
      await late.stop();
    }
  });

  it('sets the events stream up again when the server comes back without its store', async () => {
    const sink = newSink();
    await sink.ready();
    const port = server.port;
    await server.stop();
    sink.publish('blob.stored', 'after-loss', { n: 1 });
    server = await startNatsServer({ port });

    await drained(sink, 1);
    expect((await replay()).map((e) => e.event.subject)).toEqual(['after-loss']);
  });
});

describe('startNatsServer', () => {
  it('restarts on the same port and store, and stop ends it by pid and removes the store', async () => {
    const own = await startNatsServer();
    const firstPid = own.pid();
    await own.restart();
    expect(own.pid()).not.toBe(firstPid);
    expect(() => process.kill(firstPid, 0)).toThrow();
    expect(await natsAnswers(own.port)).toBe(true);
    expect(existsSync(own.storeDir)).toBe(true);

    const pid = own.pid();
    await own.stop();
    expect(() => process.kill(pid, 0)).toThrow();
    expect(existsSync(own.storeDir)).toBe(false);
    expect(await natsAnswers(own.port)).toBe(false);
  });
});
