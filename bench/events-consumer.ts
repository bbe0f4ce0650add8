// The consumer process of bench/events-latency.ts, in its own process so that
// it does not share an event loop with the publisher.
//
//   node --import tsx bench/events-consumer.ts MODE NATS_URL
//
// MODE: `jetstream` reads STRATA_EVENTS with readEvents on strata.events.>
// (the ordered consumer `strata events` uses); `table` runs the example
// consumer of examples/container-table (followContainerTable, which uses
// readEvents on strata.events.container.> from the stream's start); `core`
// subscribes to bench.core.> without JetStream.
//
// It prints `ready` once subscribed. Each event carries, in its data, its
// sequence number `seq` and `t`: process.hrtime (CLOCK_MONOTONIC, shared by
// every process on the machine) in ms at the publish call. On the stdin line
// `end COUNT` (the publisher's last publish call is done) it notes how many
// events it still lacks, waits until it has COUNT distinct ones (or nothing
// came for IDLE_MS), prints one JSON line of results and exits.
import { createInterface } from 'node:readline';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { EVENTS_STREAM, readEvents } from '@strata/events-nats';
import { parseCloudEvent, silentLogger, type CloudEvent } from '@strata/kit';
import { followContainerTable } from '../examples/container-table/src/follow-container-table.js';

/** What the consumer prints at the end (one JSON line). */
export interface ConsumerResult {
  /** Distinct events received. */
  received: number;
  /** Events received again (same seq). */
  repeated: number;
  /** Events it lacked when the publisher's last publish call returned. */
  behindAtEnd: number;
  /** ms from the `end` line to the last event received (0 when none came after it). */
  drainMs: number;
  /** Latency percentiles in ms (publish call → received), from the data's monotonic time. */
  p50: number;
  p99: number;
  max: number;
  /** The same p50 from the CloudEvent `time` (ms resolution, wall clock); null for core. */
  p50FromTime: number | null;
  /** Events per second between the first and the last received. */
  rate: number;
  /** CPU ms (user + system) of this process while consuming. */
  cpuMs: number;
}

const IDLE_MS = 3000;
const GIVE_UP_MS = 60_000;

const [mode, url] = process.argv.slice(2);
if ((mode !== 'jetstream' && mode !== 'core' && mode !== 'table') || !url) {
  console.error('usage: events-consumer.ts jetstream|table|core NATS_URL');
  process.exit(2);
}

const now = () => Number(process.hrtime.bigint()) / 1e6;

let latencies = new Float64Array(1 << 16);
let fromTime = new Float64Array(mode === 'core' ? 0 : 1 << 16);
let seen = new Uint8Array(1 << 16);
let received = 0;
let repeated = 0;
let first = 0;
let last = 0;
let onEvent: (() => void) | undefined;

function grow<T extends Float64Array | Uint8Array>(a: T, size: number): T {
  if (size < a.length) return a;
  const bigger = new (a.constructor as new (n: number) => T)(Math.max(size + 1, a.length * 2));
  bigger.set(a);
  return bigger;
}

function record(event: CloudEvent): void {
  const at = now();
  const wall = Date.now();
  const data = event.data as { seq: number; t: number };
  seen = grow(seen, data.seq);
  if (seen[data.seq]) {
    repeated++;
    return;
  }
  seen[data.seq] = 1;
  latencies = grow(latencies, received);
  latencies[received] = at - data.t;
  if (mode !== 'core') {
    fromTime = grow(fromTime, received);
    fromTime[received] = wall - Date.parse(event.time);
  }
  if (received === 0) first = at;
  last = at;
  received++;
  onEvent?.();
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}

const nc: NatsConnection = await connect({ servers: url, name: `bench-consumer-${mode}` });
const abort = new AbortController();
let consuming: Promise<unknown>;
if (mode === 'core') {
  const sub = nc.subscribe('bench.core.>');
  consuming = (async () => {
    for await (const m of sub) record(parseCloudEvent(m.string()));
  })();
  await nc.flush();
} else if (mode === 'jetstream') {
  const before = await consumerCount(nc);
  const events = readEvents(nc, { logger: silentLogger(), signal: abort.signal });
  // readEvents creates its consumer on the first next(): start it, then say ready once the server has it.
  const firstEvent = events.next();
  consuming = (async () => {
    const head = await firstEvent;
    if (head.done) return;
    record(head.value.event);
    for await (const stored of events) record(stored.event);
  })();
  await waitForConsumer(nc, before);
} else {
  const before = await consumerCount(nc);
  consuming = followContainerTable({ nc, logger: silentLogger(), signal: abort.signal, onEvent: (_state, stored) => record(stored.event) });
  await waitForConsumer(nc, before);
}

async function consumerCount(conn: NatsConnection): Promise<number> {
  return (await (await jetstreamManager(conn)).streams.info(EVENTS_STREAM)).state.consumer_count;
}

/**
 * Resolves once the stream has one consumer more than before (readEvents
 * made its ordered consumer), and a moment later: the example consumer
 * makes and deletes a probe consumer first. Events published meanwhile are
 * not lost (readEvents starts at the sequence it read first), only late.
 */
async function waitForConsumer(conn: NatsConnection, before: number): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if ((await consumerCount(conn)) > before) {
      await new Promise((r) => setTimeout(r, 300));
      return;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error('the events consumer did not appear on the stream');
}

const cpuStart = process.cpuUsage();
console.log('ready');

const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  const match = /^end (\d+)$/.exec(line.trim());
  if (!match) continue;
  const count = Number(match[1]);
  const endAt = now();
  const behindAtEnd = Math.max(0, count - received);
  await new Promise<void>((resolve) => {
    let idle: NodeJS.Timeout | undefined;
    const giveUp = setTimeout(finish, GIVE_UP_MS);
    const check = () => {
      if (received >= count) return finish();
      clearTimeout(idle);
      idle = setTimeout(finish, IDLE_MS);
    };
    function finish() {
      clearTimeout(idle);
      clearTimeout(giveUp);
      onEvent = undefined;
      resolve();
    }
    onEvent = check;
    check();
  });
  const cpu = process.cpuUsage(cpuStart);
  const sorted = latencies.slice(0, received).sort();
  const sortedTime = fromTime.slice(0, received).sort();
  const result: ConsumerResult = {
    received,
    repeated,
    behindAtEnd,
    drainMs: Math.max(0, last - endAt),
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    max: sorted[sorted.length - 1] ?? NaN,
    p50FromTime: mode === 'core' ? null : percentile(sortedTime, 50),
    rate: received > 1 ? ((received - 1) * 1000) / (last - first) : 0,
    cpuMs: (cpu.user + cpu.system) / 1000,
  };
  console.log(JSON.stringify(result));
  break;
}
abort.abort();
await Promise.race([consuming.catch(() => undefined), new Promise((r) => setTimeout(r, 2000))]);
await nc.close();
process.exit(0);
