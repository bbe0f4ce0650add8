import { jetstream } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { errorKind, silentLogger } from '@strata/kit';
import { waitFor } from '@strata/kit/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNatsEventSink, type NatsEventSink } from './nats-event-sink.js';
import { readEvents, type ReadEventsOptions, type StoredEvent } from './read-events.js';
import { startNatsServer, type TestNatsServer } from './testing/nats-server.js';

let server: TestNatsServer;
let sink: NatsEventSink;
let nc: NatsConnection;
let between: Date;

async function collect(options: Omit<ReadEventsOptions, 'logger'>): Promise<StoredEvent[]> {
  const out: StoredEvent[] = [];
  for await (const e of readEvents(nc, { logger: silentLogger(), ...options })) out.push(e);
  return out;
}

async function published(n: number): Promise<void> {
  await waitFor(() => sink.stats().published === n && sink.stats().buffered === 0, () => `${n} events published`);
}

beforeAll(async () => {
  server = await startNatsServer();
  sink = createNatsEventSink({ servers: server.url, source: 'strata/test/n1', logger: silentLogger() });
  await sink.ready();
  nc = await connect({ servers: server.url });
  sink.publish('image.pulled', 'a', { n: 0 });
  sink.publish('blob.stored', 'b', { n: 1 });
  await published(2);
  await new Promise((r) => setTimeout(r, 20));
  between = new Date();
  await new Promise((r) => setTimeout(r, 20));
  sink.publish('image.deleted', 'c', { n: 2 });
  await published(3);
  // Something that is not a CloudEvent, published by hand on an events subject.
  await jetstream(nc).publish('strata.events.image.junk', 'not json');
});

afterAll(async () => {
  await nc?.close();
  await sink?.close();
  await server?.stop();
});

describe('readEvents', () => {
  it('replays from since up to until, in stream order, skipping what is not a CloudEvent', async () => {
    const all = await collect({ since: new Date(0), until: new Date() });
    expect(all.map((e) => [e.seq, e.subject, e.event.subject])).toEqual([
      [1, 'strata.events.image.pulled', 'a'],
      [2, 'strata.events.blob.stored', 'b'],
      [3, 'strata.events.image.deleted', 'c'],
    ]);
    expect(all[0]!.storedAt.getTime()).toBeGreaterThanOrEqual(Date.parse(all[0]!.event.time));

    expect((await collect({ since: between, until: new Date() })).map((e) => e.event.subject)).toEqual(['c']);
    expect((await collect({ since: new Date(0), until: between })).map((e) => e.event.subject)).toEqual(['a', 'b']);
    expect((await collect({ since: new Date(0), until: new Date(), subject: 'strata.events.image.>' })).map((e) => e.event.subject)).toEqual([
      'a',
      'c',
    ]);
    expect(await collect({ since: new Date(0), until: new Date(), subject: 'strata.events.node.>' })).toEqual([]);
  });

  it('follows live events until aborted, without replaying older ones', async () => {
    const controller = new AbortController();
    const seen: string[] = [];
    const reading = (async () => {
      for await (const e of readEvents(nc, { logger: silentLogger(), signal: controller.signal })) seen.push(e.event.subject);
    })();
    await new Promise((r) => setTimeout(r, 200));
    sink.publish('container.exited', 'live', { n: 3 });
    await waitFor(() => seen.length === 1, () => 'the live event');
    controller.abort();
    await reading;
    expect(seen).toEqual(['live']);
  });

  it.each([
    [{ subject: 'other.>' }, 'InvalidArgument', 'event subject "other.>" is not under strata.events.>'],
    [{ subject: 'strata.events' }, 'InvalidArgument', 'event subject "strata.events" is not under strata.events.>'],
    [
      { since: new Date(1000), until: new Date(0) },
      'InvalidArgument',
      'the end of the events to read (1970-01-01T00:00:00.000Z) is before their start (1970-01-01T00:00:01.000Z)',
    ],
  ])('refuses %j', async (options, kind, message) => {
    const err = await collect(options).catch((e: unknown) => e);
    expect(errorKind(err)).toBe(kind);
    expect((err as Error).message).toBe(message);
  });

  it('raises NotFound when no service has made the events stream', async () => {
    const bare = await startNatsServer();
    const other = await connect({ servers: bare.url });
    try {
      const err = await (async () => {
        for await (const e of readEvents(other, { logger: silentLogger() })) void e;
      })().catch((e: unknown) => e);
      expect(errorKind(err)).toBe('NotFound');
      expect((err as Error).message).toBe(
        'NATS has no events stream STRATA_EVENTS; a Strata service creates it when it first connects (strata up)',
      );
    } finally {
      await other.close();
      await bare.stop();
    }
  });
});
