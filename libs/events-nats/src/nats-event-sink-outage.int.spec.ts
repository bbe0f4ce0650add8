import { Writable } from 'node:stream';
import { connect } from '@nats-io/transport-node';
import { silentLogger, type Logger } from '@strata/kit';
import { waitFor } from '@strata/kit/testing';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createNatsEventSink, type NatsEventSink } from './nats-event-sink.js';
import { readEvents, type StoredEvent } from './read-events.js';
import { startNatsServer, type TestNatsServer } from './testing/nats-server.js';

let server: TestNatsServer;
let sink: NatsEventSink | undefined;

function warningsLogger(): { logger: Logger; warnings: Array<Record<string, unknown>> } {
  const warnings: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      const line = JSON.parse(chunk.toString('utf8')) as Record<string, unknown>;
      if (line.level === 40 && line.dropped !== undefined) warnings.push(line);
      done();
    },
  });
  return { logger: pino({ level: 'warn' }, stream), warnings };
}

/** Every event in the stream, read back with readEvents from the start up to now. */
async function stored(): Promise<StoredEvent[]> {
  const nc = await connect({ servers: server.url });
  try {
    const out: StoredEvent[] = [];
    for await (const e of readEvents(nc, { logger: silentLogger(), since: new Date(0), until: new Date() })) out.push(e);
    return out;
  } finally {
    await nc.close();
  }
}

async function drained(s: NatsEventSink, published: number): Promise<void> {
  await waitFor(
    () => s.stats().buffered === 0 && s.stats().published >= published,
    () => `the sink to publish ${published} events (${JSON.stringify(s.stats())})`,
    20_000,
  );
}

const numbers = (events: StoredEvent[]) => events.map((e) => (e.event.data as { n: number }).n);

/** Publishes events 0…count-1 in steps of 20 every 2 ms (a steady stream, not one burst); resolves after the last. */
async function publishSteadily(s: NatsEventSink, count: number): Promise<void> {
  for (let n = 0; n < count; n++) {
    s.publish('container.exited', `c${n}`, { n });
    if (n % 20 === 19) await new Promise((r) => setTimeout(r, 2));
  }
}

beforeEach(async () => {
  server = await startNatsServer();
});

afterEach(async () => {
  await sink?.close();
  sink = undefined;
  await server?.stop();
});

describe('a NatsEventSink across NATS outages (a real nats-server stopped and restarted)', () => {
  it('delivers every event published while NATS was down exactly once by id, in order', async () => {
    const { logger, warnings } = warningsLogger();
    sink = createNatsEventSink({ servers: server.url, source: 'strata/test/n1', logger });
    await sink.ready();
    const N = 500;
    await server.restart(() => {
      for (let n = 0; n < N; n++) sink!.publish('container.exited', `c${n}`, { n });
      expect(sink!.stats()).toEqual({ published: 0, buffered: N, dropped: 0 });
    });
    await drained(sink, N);

    const events = await stored();
    expect(numbers(events)).toEqual(Array.from({ length: N }, (_, n) => n));
    expect(new Set(events.map((e) => e.event.id)).size).toBe(N);
    expect(sink.stats()).toEqual({ published: N, buffered: 0, dropped: 0 });
    expect(warnings).toEqual([]);
  });

  it('loses and repeats nothing when NATS restarts in the middle of steady publishing', async () => {
    sink = createNatsEventSink({ servers: server.url, source: 'strata/test/n1', logger: silentLogger() });
    await sink.ready();
    const N = 300;
    let n = 0;
    const publishing = (async () => {
      for (; n < N; n++) {
        sink!.publish('image.pulled', `r${n}`, { n });
        if (n % 10 === 0) await new Promise((r) => setTimeout(r, 5));
      }
    })();
    await waitFor(() => n >= 50, () => 'publishing to get going');
    let bufferedWhileDown = 0;
    await server.restart(async () => {
      await new Promise((r) => setTimeout(r, 200));
      bufferedWhileDown = sink!.stats().buffered;
    });
    expect(bufferedWhileDown).toBeGreaterThan(0);
    await publishing;
    await drained(sink, N);

    const events = await stored();
    expect(numbers(events)).toEqual(Array.from({ length: N }, (_, i) => i));
    expect(new Set(events.map((e) => e.event.id)).size).toBe(N);
    expect(sink.stats().dropped).toBe(0);
  });

  it.each([
    ['many events in flight', 256],
    ['one event in flight at a time', 1],
  ])('stores a stream of events in publish order, once each, when NATS restarts while %s', async (_name, maxInFlight) => {
    sink = createNatsEventSink({ servers: server.url, source: 'strata/test/n1', logger: silentLogger(), maxInFlight });
    await sink.ready();
    const N = 3000;
    const publishing = publishSteadily(sink, N);
    await waitFor(() => sink!.stats().published > 0, () => 'the first acknowledgements');
    let acknowledgedBefore = 0;
    await server.restart(() => {
      acknowledgedBefore = sink!.stats().published;
    });
    await publishing;
    expect(acknowledgedBefore).toBeLessThan(N);
    await drained(sink, N);

    const events = await stored();
    expect(numbers(events)).toEqual(Array.from({ length: N }, (_, n) => n));
    expect(sink.stats()).toEqual({ published: N, buffered: 0, dropped: 0 });
  });

  it('counts and logs the events a full buffer drops, and delivers the newest ones', async () => {
    const { logger, warnings } = warningsLogger();
    sink = createNatsEventSink({ servers: server.url, source: 'strata/test/n1', logger, bufferSize: 100 });
    await sink.ready();
    await server.restart(() => {
      for (let n = 0; n < 250; n++) sink!.publish('blob.stored', `b${n}`, { n });
      expect(sink!.stats()).toEqual({ published: 0, buffered: 100, dropped: 150 });
    });
    await drained(sink, 100);
    expect(numbers(await stored())).toEqual(Array.from({ length: 100 }, (_, i) => 150 + i));
    await waitFor(() => warnings.length > 0, () => 'a warning about the dropped events');
    expect(warnings).toEqual([
      expect.objectContaining({
        dropped: 150,
        droppedTotal: 150,
        bufferSize: 100,
        msg: 'dropped 150 event(s) because NATS could not take them in time; 150 lost so far',
      }),
    ]);
  });
});
