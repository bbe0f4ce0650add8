import { Writable } from 'node:stream';
import { errorKind, silentLogger, type Logger } from '@strata/kit';
import { freePort } from '@strata/kit/testing';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { createNatsEventSink, type NatsEventSinkOptions } from './nats-event-sink.js';

// Nothing listens on this port: the sink keeps retrying in the background.
const unreachable = async () => `nats://127.0.0.1:${await freePort()}`;

function captureWarnings(): { logger: Logger; warnings: Array<{ msg: string; dropped: number }> } {
  const warnings: Array<{ msg: string; dropped: number }> = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      const line = JSON.parse(chunk.toString('utf8')) as { level: number; msg: string; dropped?: number };
      if (line.level === 40 && line.dropped !== undefined) warnings.push({ msg: line.msg, dropped: line.dropped });
      done();
    },
  });
  return { logger: pino<never>({ level: 'warn' }, stream), warnings };
}

describe('createNatsEventSink options', () => {
  it.each<[string, Partial<NatsEventSinkOptions>, string]>([
    ['a zero buffer', { bufferSize: 0 }, 'event buffer size must be a whole number of 1 or more; got 0'],
    ['a fractional buffer', { bufferSize: 1.5 }, 'event buffer size must be a whole number of 1 or more; got 1.5'],
    ['a negative max age', { streamMaxAgeSeconds: -1 }, 'events stream max age must be a whole number of seconds, 0 or more; got -1'],
    ['a zero max bytes', { streamMaxBytes: 0 }, 'events stream max bytes must be a positive whole number or -1; got 0'],
    ['no events in flight', { maxInFlight: 0 }, 'events in flight must be a whole number of 1 or more; got 0'],
    ['a fractional in-flight count', { maxInFlight: 2.5 }, 'events in flight must be a whole number of 1 or more; got 2.5'],
    ['no servers', { servers: [] }, 'NATS servers must be one or more non-empty URLs such as nats://127.0.0.1:4222'],
    ['an empty server', { servers: ' ' }, 'NATS servers must be one or more non-empty URLs such as nats://127.0.0.1:4222'],
  ])('refuses %s', (_name, overrides, message) => {
    const create = () =>
      createNatsEventSink({ servers: 'nats://127.0.0.1:1', source: 'strata/test/n1', logger: silentLogger(), ...overrides });
    let caught: unknown;
    try {
      create();
    } catch (err) {
      caught = err;
    }
    expect(errorKind(caught)).toBe('InvalidArgument');
    expect((caught as Error).message).toBe(message);
  });
});

describe('createNatsEventSink without NATS', () => {
  it('never throws from publish, buffers, and counts what close could not deliver', async () => {
    const sink = createNatsEventSink({
      servers: await unreachable(),
      source: 'strata/test/n1',
      logger: silentLogger(),
      closeTimeoutMs: 50,
    });
    const ready = sink.ready();
    for (let i = 0; i < 3; i++) sink.publish('blob.stored', `s${i}`, { i });
    expect(() => sink.publish('Not A Type', 's', {})).not.toThrow();
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    expect(() => sink.publish('blob.stored', 's', circular)).not.toThrow();
    expect(sink.stats()).toEqual({ published: 0, buffered: 3, dropped: 2 });

    const started = Date.now();
    await sink.close();
    expect(Date.now() - started).toBeLessThan(2000);
    expect(sink.stats()).toEqual({ published: 0, buffered: 0, dropped: 5 });
    await expect(ready).rejects.toMatchObject({ kind: 'Canceled', message: 'the NATS event sink was closed' });

    sink.publish('blob.stored', 'late', {});
    expect(sink.stats().dropped).toBe(6);
    await sink.close();
  });

  it('drops the oldest events past bufferSize with one warning per burst', async () => {
    const { logger, warnings } = captureWarnings();
    const sink = createNatsEventSink({
      servers: await unreachable(),
      source: 'strata/test/n1',
      logger,
      bufferSize: 2,
      closeTimeoutMs: 10,
    });
    try {
      for (let i = 0; i < 5; i++) sink.publish('blob.stored', `s${i}`, { i });
      expect(sink.stats()).toEqual({ published: 0, buffered: 2, dropped: 3 });
      await new Promise((r) => setTimeout(r, 1200));
      expect(warnings).toEqual([
        { msg: 'dropped 3 event(s) because NATS could not take them in time; 3 lost so far', dropped: 3 },
      ]);
    } finally {
      await sink.close();
    }
    expect(warnings.map((w) => w.dropped)).toEqual([3, 2]);
  });
});
