import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { silentLogger } from '@strata/kit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EVENTS_STREAM, ensureEventsStream } from './events-stream.js';
import { startNatsServer, type TestNatsServer } from './testing/nats-server.js';

let server: TestNatsServer;
const clients: NatsConnection[] = [];

async function manager(): Promise<{ nc: NatsConnection; jsm: JetStreamManager }> {
  const nc = await connect({ servers: server.url });
  clients.push(nc);
  return { nc, jsm: await jetstreamManager(nc) };
}

beforeAll(async () => {
  server = await startNatsServer();
});

afterEach(async () => {
  const { jsm } = await manager();
  await jsm.streams.delete(EVENTS_STREAM).catch(() => undefined);
  await Promise.all(clients.splice(0).map((c) => c.close()));
});

afterAll(async () => {
  await server?.stop();
});

describe('ensureEventsStream', () => {
  it('creates the stream with the limits from config, and is idempotent', async () => {
    const { jsm } = await manager();
    const limits = { maxAgeSeconds: 3600, maxBytes: 1 << 20, maxMsgs: 1000, duplicateWindowSeconds: 30 };
    await ensureEventsStream(jsm, silentLogger(), limits);
    await ensureEventsStream(jsm, silentLogger(), limits);
    const { config } = await jsm.streams.info(EVENTS_STREAM);
    expect(config).toMatchObject({
      subjects: ['strata.events.>'],
      storage: 'file',
      discard: 'old',
      max_age: 3600e9,
      max_bytes: 1 << 20,
      max_msgs: 1000,
      duplicate_window: 30e9,
    });
    expect((await jsm.streams.list().next()).map((s) => s.config.name)).toEqual([EVENTS_STREAM]);
  });

  it('updates the limits of an existing stream, from several services starting at once', async () => {
    const managers = await Promise.all([manager(), manager(), manager()]);
    await Promise.all(managers.map(({ jsm }, i) => ensureEventsStream(jsm, silentLogger(), { maxMsgs: 100 + i })));
    const { config } = await managers[0]!.jsm.streams.info(EVENTS_STREAM);
    expect([100, 101, 102]).toContain(config.max_msgs);

    await ensureEventsStream(managers[1]!.jsm, silentLogger(), { maxMsgs: 3, duplicateWindowSeconds: 10 });
    expect((await managers[2]!.jsm.streams.info(EVENTS_STREAM)).config).toMatchObject({ max_msgs: 3, duplicate_window: 10e9 });
  });

  it('keeps only the newest max-msgs events and drops a repeated Nats-Msg-Id', async () => {
    const { nc, jsm } = await manager();
    await ensureEventsStream(jsm, silentLogger(), { maxMsgs: 3 });
    const js = jetstream(nc);
    for (let i = 0; i < 5; i++) await js.publish(`strata.events.blob.stored`, `{"n":${i}}`, { msgID: `id-${i}` });
    const again = await js.publish('strata.events.blob.stored', '{"n":4}', { msgID: 'id-4' });
    expect(again.duplicate).toBe(true);
    const { state } = await jsm.streams.info(EVENTS_STREAM);
    expect({ messages: state.messages, first: state.first_seq, last: state.last_seq }).toEqual({ messages: 3, first: 3, last: 5 });
  });
});
