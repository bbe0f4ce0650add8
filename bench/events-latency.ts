// Event latency publish → consumer (issue #7): a real nats-server with
// JetStream and the STRATA_EVENTS stream as the services create it; events
// published through Strata's own sink (createNatsEventSink) in this process
// at a paced 1,000/s and 10,000/s, and as fast as the sink takes them;
// consumed in another process (bench/events-consumer.ts) the way consumers
// read them (readEvents, the ordered consumer of `strata events`, and the
// example consumer of examples/container-table). The reference: the same
// CloudEvents through raw NATS core publish/subscribe (nats.js), no JetStream.
//
//   npx tsx bench/events-latency.ts [seconds] [runs]
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { EVENTS_STREAM, createNatsEventSink, ensureEventsStream, type NatsEventSink } from '@strata/events-nats';
import { startNatsServer } from '@strata/events-nats/testing';
import { makeCloudEvent } from '@strata/kit';
import { pino } from 'pino';
import type { ConsumerResult } from './events-consumer.js';
import { root } from './lib.js';

const seconds = Number(process.argv[2] ?? 10);
const runs = Number(process.argv[3] ?? 1);
if (!(seconds > 0) || !Number.isInteger(runs) || runs < 1) {
  console.error('usage: events-latency.ts [seconds > 0] [runs ≥ 1]');
  process.exit(2);
}

const SOURCE = 'strata/node-agent/bench-node';
const CORE_SUBJECT = 'bench.core.container.exited';
// The example consumer keeps a table of containers: the events cycle over this many.
const CONTAINERS = 100;
// Flat out, the sink's buffer is kept under this (it drops the oldest past its size, 10,000).
const HIGH_WATER = 5000;

type Publisher = 'sink' | 'core';
type Mode = 'jetstream' | 'table' | 'core';

interface Scenario {
  name: string;
  publisher: Publisher;
  consumer: Mode;
  /** Events per second, or 'max': as fast as the publisher takes them. */
  rate: number | 'max';
}

const scenarios: Scenario[] = [
  { name: 'core pub/sub', publisher: 'core', consumer: 'core', rate: 1000 },
  { name: 'sink → readEvents', publisher: 'sink', consumer: 'jetstream', rate: 1000 },
  { name: 'sink → container-table', publisher: 'sink', consumer: 'table', rate: 1000 },
  { name: 'core pub/sub', publisher: 'core', consumer: 'core', rate: 10_000 },
  { name: 'sink → readEvents', publisher: 'sink', consumer: 'jetstream', rate: 10_000 },
  { name: 'sink → container-table', publisher: 'sink', consumer: 'table', rate: 10_000 },
  { name: 'core pub/sub', publisher: 'core', consumer: 'core', rate: 'max' },
  { name: 'sink → readEvents', publisher: 'sink', consumer: 'jetstream', rate: 'max' },
];

const now = () => Number(process.hrtime.bigint()) / 1e6;

/** user + system CPU ms of a process, from /proc (10 ms ticks). */
function processCpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

interface Consumer {
  child: ChildProcess;
  /** The next line it prints. */
  line(): Promise<string>;
  stop(): Promise<void>;
}

function startConsumer(mode: Mode, url: string): Consumer {
  const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'bench/events-consumer.ts'), mode, url], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  return {
    child,
    async line() {
      const next = await Promise.race([lines.next(), exited.then(() => ({ done: true as const, value: undefined }))]);
      if (next.done) throw new Error(`the ${mode} consumer exited (${child.exitCode ?? child.signalCode})`);
      return next.value;
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** The data of one event: a container.exited as the node-agent sends it, plus the bench's sequence and time. */
function eventData(seq: number): Record<string, unknown> {
  const id = `c${(seq % CONTAINERS).toString().padStart(3, '0')}${'0'.repeat(60)}`;
  return { id, name: `bench-${seq % CONTAINERS}`, exitCode: 0, oomKilled: false, finishedAt: '2025-01-01T00:00:00.000Z', node: 'bench-node', seq, t: now() };
}

/** Calls publishOne rate times a second for the given seconds on a 1 ms timer schedule; the seconds it took. */
async function paced(rate: number, publishOne: (seq: number) => void): Promise<{ count: number; seconds: number }> {
  const total = Math.round(rate * seconds);
  const start = now();
  let sent = 0;
  while (sent < total) {
    const due = Math.min(total, Math.floor(((now() - start) * rate) / 1000) + 1);
    while (sent < due) publishOne(sent++);
    await sleep(1);
  }
  return { count: total, seconds: (now() - start) / 1000 };
}

/** Publishes through the sink as fast as it takes them (its buffer kept under HIGH_WATER) for the given seconds. */
async function flatOutSink(sink: NatsEventSink): Promise<{ count: number; seconds: number }> {
  const start = now();
  let sent = 0;
  while (now() - start < seconds * 1000) {
    const room = Math.min(1000, HIGH_WATER - sink.stats().buffered);
    for (let i = 0; i < room; i++) sink.publish('container.exited', `c${sent}`, eventData(sent++));
    await new Promise((r) => setImmediate(r));
  }
  return { count: sent, seconds: (now() - start) / 1000 };
}

/** Publishes core messages as fast as the connection takes them (a flush every 1,000) for the given seconds. */
async function flatOutCore(nc: NatsConnection): Promise<{ count: number; seconds: number }> {
  const start = now();
  let sent = 0;
  while (now() - start < seconds * 1000) {
    for (let i = 0; i < 1000; i++) corePublish(nc, sent++);
    await nc.flush();
  }
  return { count: sent, seconds: (now() - start) / 1000 };
}

function corePublish(nc: NatsConnection, seq: number): void {
  const data = eventData(seq);
  nc.publish(CORE_SUBJECT, JSON.stringify(makeCloudEvent(SOURCE, 'container.exited', data.id as string, data)));
}

interface Row {
  scenario: Scenario;
  sentPerSecond: number;
  sinkBufferedAtEnd: number;
  sinkDropped: number;
  sinkRate: number;
  consumer: ConsumerResult;
  count: number;
  cpuPublisherUs: number;
  cpuNatsUs: number;
}

async function runScenario(scenario: Scenario, url: string, natsPid: number, nc: NatsConnection, sink: NatsEventSink): Promise<Row> {
  await (await jetstreamManager(nc)).streams.purge(EVENTS_STREAM);
  const consumer = startConsumer(scenario.consumer, url);
  try {
    const ready = await consumer.line();
    if (ready !== 'ready') throw new Error(`the consumer said ${ready}`);
    const cpu = process.cpuUsage();
    const natsCpu = processCpuMs(natsPid);
    const before = sink.stats();
    const sinkOne = (seq: number) => {
      const data = eventData(seq);
      sink.publish('container.exited', data.id as string, data);
    };
    const { count, seconds: took } =
      scenario.rate === 'max'
        ? scenario.publisher === 'sink'
          ? await flatOutSink(sink)
          : await flatOutCore(nc)
        : await paced(scenario.rate, scenario.publisher === 'sink' ? sinkOne : (seq) => corePublish(nc, seq));
    const atEnd = sink.stats();
    const sinkBufferedAtEnd = atEnd.buffered;
    consumer.child.stdin!.write(`end ${count}\n`);
    const consumerResult = JSON.parse(await consumer.line()) as ConsumerResult;
    // The sink has published everything once the consumer had it all; wait for stragglers when it did not.
    for (let i = 0; i < 100 && sink.stats().buffered > 0; i++) await sleep(100);
    const after = sink.stats();
    const cpuUsed = process.cpuUsage(cpu);
    return {
      scenario,
      count,
      sentPerSecond: count / took,
      sinkBufferedAtEnd,
      sinkDropped: after.dropped - before.dropped,
      sinkRate: (atEnd.published - before.published) / took,
      consumer: consumerResult,
      cpuPublisherUs: ((cpuUsed.user + cpuUsed.system) / count),
      cpuNatsUs: ((processCpuMs(natsPid) - natsCpu) * 1000) / count,
    };
  } finally {
    await consumer.stop();
  }
}

function print(row: Row): void {
  const { scenario: s, consumer: c } = row;
  const rate = s.rate === 'max' ? 'max' : s.rate.toLocaleString('en');
  const lost = row.count - c.received;
  const keptUp = s.rate !== 'max' && c.behindAtEnd <= s.rate / 10 ? 'yes' : s.rate === 'max' ? '—' : 'NO';
  const cells = [
    s.name.padEnd(23),
    rate.padStart(6),
    row.sentPerSecond.toFixed(0).padStart(7),
    c.p50.toFixed(2).padStart(8),
    c.p99.toFixed(2).padStart(8),
    c.max.toFixed(1).padStart(8),
    String(c.behindAtEnd).padStart(7),
    c.drainMs.toFixed(0).padStart(7),
    keptUp.padStart(5),
    String(lost).padStart(6),
    String(c.repeated).padStart(4),
    c.rate.toFixed(0).padStart(8),
    (s.publisher === 'sink' ? row.sinkRate.toFixed(0) : '—').padStart(8),
    `${row.cpuPublisherUs.toFixed(0)}/${((c.cpuMs * 1000) / row.count).toFixed(0)}/${row.cpuNatsUs.toFixed(0)}`.padStart(13),
  ];
  console.log(cells.join(' '));
  if (s.publisher === 'sink' && (row.sinkDropped > 0 || (s.rate !== 'max' && row.sinkBufferedAtEnd > s.rate / 10))) {
    console.log(`${''.padEnd(23)}   sink: ${row.sinkBufferedAtEnd} buffered at the last publish call, ${row.sinkDropped} dropped`);
  }
  if (c.p50FromTime !== null && s.rate !== 'max') {
    console.log(`${''.padEnd(23)}   p50 from the CloudEvent time (ms resolution, wall clock): ${c.p50FromTime.toFixed(0)} ms`);
  }
}

const logger = pino({ level: 'warn' }, pino.destination(2));
const nats = await startNatsServer();
let nc: NatsConnection | undefined;
let sink: NatsEventSink | undefined;
try {
  nc = await connect({ servers: nats.url, name: 'bench-publisher-core' });
  await ensureEventsStream(await jetstreamManager(nc), logger);
  sink = createNatsEventSink({ servers: nats.url, source: SOURCE, logger });
  await sink.ready();
  // Warm up the publishing code (untimed).
  for (let i = 0; i < 5000; i++) sink.publish('container.exited', 'warm-up', eventData(i));
  for (let i = 0; i < 5000; i++) corePublish(nc, i);
  while (sink.stats().buffered > 0) await sleep(20);

  console.log(`nats-server ${nats.url} (pid ${nats.pid()}), stream ${EVENTS_STREAM} with the default limits; ${seconds} s per row, ${runs} run(s)`);
  console.log('publisher: this process; consumer: its own process (bench/events-consumer.ts); latency = consumer receive − publish call (CLOCK_MONOTONIC, shared)');
  console.log(
    [
      'path'.padEnd(23),
      'rate/s'.padStart(6),
      'sent/s'.padStart(7),
      'p50 ms'.padStart(8),
      'p99 ms'.padStart(8),
      'max ms'.padStart(8),
      'lag@end'.padStart(7),
      'drainms'.padStart(7),
      'kept'.padStart(5),
      'lost'.padStart(6),
      'dup'.padStart(4),
      'recv/s'.padStart(8),
      'acked/s'.padStart(8),
      'CPU µs/event'.padStart(13),
    ].join(' '),
  );
  for (let r = 0; r < runs; r++) {
    if (runs > 1) console.log(`run ${r + 1}`);
    for (const scenario of scenarios) print(await runScenario(scenario, nats.url, nats.pid(), nc, sink));
  }
  console.log('CPU µs/event = publisher process / consumer process / nats-server');
} finally {
  await sink?.close();
  await nc?.close();
  await nats.stop();
}
