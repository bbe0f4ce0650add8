import { JetStreamApiError, jetstream, jetstreamManager, type JetStreamClient } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { canceled, eventSubject, invalidArgument, makeCloudEvent, unavailable, type EventSink, type Logger } from '@strata/kit';
import { ensureEventsStream, eventsStreamLimits } from './events-stream.js';
import { Fifo } from './fifo.js';
import { createNatsConnection } from './nats-connection.js';

/** Settings of {@link createNatsEventSink}. */
export interface NatsEventSinkOptions {
  /** NATS server URL(s), e.g. `nats://127.0.0.1:4222`. */
  servers: string | string[];
  /** CloudEvents `source` of every event: `strata/<service>/<node>`. */
  source: string;
  logger: Logger;
  /** Events kept while NATS is unreachable; past it the oldest are dropped. 10 000 by default. */
  bufferSize?: number;
  /** Limits of the STRATA_EVENTS stream when this sink creates or updates it (see EventsStreamOptions). */
  streamMaxAgeSeconds?: number;
  streamMaxBytes?: number;
  streamMaxMsgs?: number;
  streamDuplicateWindowSeconds?: number;
  /** How long close() keeps publishing what is buffered; 2 s by default. */
  closeTimeoutMs?: number;
  /** How long one publish waits for JetStream's acknowledgement; 5 s by default. */
  publishTimeoutMs?: number;
}

/** Counters of a {@link NatsEventSink}. */
export interface NatsEventSinkStats {
  /** Events JetStream acknowledged (duplicates it recognised included). */
  published: number;
  /** Events waiting to be published, the one in flight included. */
  buffered: number;
  /**
   * Events lost: evicted from a full buffer, still buffered at close,
   * published after close, not encodable as JSON, too large for NATS, or
   * refused by JetStream repeatedly.
   */
  dropped: number;
}

/** An EventSink over NATS JetStream that survives NATS being down. */
export interface NatsEventSink extends EventSink {
  /** Publishes what it can within closeTimeoutMs, counts the rest as dropped, drains the connection. Idempotent. */
  close(): Promise<void>;
  stats(): NatsEventSinkStats;
  /**
   * Resolves once connected with the events stream in place. Raises
   * Canceled when the sink is closed first.
   */
  ready(): Promise<void>;
}

interface Pending {
  subject: string;
  id: string;
  payload: string;
  bytes: number;
  /** Times JetStream answered this event with an error. */
  rejections: number;
}

// Errors JetStream may answer one event with before it is given up.
const MAX_REJECTIONS = 3;

// How long drops are gathered into one warning.
const DROP_WARNING_WINDOW_MS = 1000;

/**
 * Creates an EventSink that publishes every event as CloudEvents 1.0 JSON on
 * `strata.events.<type>` through JetStream (stream STRATA_EVENTS, created or
 * updated here), with the `Nats-Msg-Id` header set to the event id so that
 * JetStream drops a repeated publish of the same event.
 *
 * It returns at once and connects in the background, retrying forever.
 * publish() never throws: events wait in a bounded FIFO buffer while NATS is
 * unreachable and are published in order after (re)connecting; when the
 * buffer is full the oldest event is dropped, counted in stats().dropped,
 * and a warning with the count is logged once per burst of drops.
 * Raises InvalidArgument (synchronously) only for invalid options.
 */
export function createNatsEventSink(options: NatsEventSinkOptions): NatsEventSink {
  const bufferSize = options.bufferSize ?? 10_000;
  if (!Number.isSafeInteger(bufferSize) || bufferSize < 1) {
    throw invalidArgument(`event buffer size must be a whole number of 1 or more; got ${bufferSize}`);
  }
  const streamOptions = eventsStreamLimits({
    maxAgeSeconds: options.streamMaxAgeSeconds,
    maxBytes: options.streamMaxBytes,
    maxMsgs: options.streamMaxMsgs,
    duplicateWindowSeconds: options.streamDuplicateWindowSeconds,
  });
  const closeTimeoutMs = options.closeTimeoutMs ?? 2000;
  const publishTimeoutMs = options.publishTimeoutMs ?? 5000;
  const log = options.logger.child({ component: 'nats-event-sink' });
  const conn = createNatsConnection({ servers: options.servers, name: options.source, logger: log });

  const queue = new Fifo<Pending>();
  let inFlight: Pending | undefined;
  let published = 0;
  let dropped = 0;
  let closing = false;
  let stopped = false;

  let wakePump: (() => void) | undefined;
  const wake = () => {
    wakePump?.();
    wakePump = undefined;
  };
  const work = (timeoutMs: number) =>
    new Promise<void>((resolve) => {
      if (stopped) return resolve();
      const timer = setTimeout(resolve, timeoutMs);
      wakePump = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  let idleWaiters: Array<() => void> = [];
  const buffered = () => queue.length + (inFlight ? 1 : 0);
  const discardInFlight = () => {
    inFlight = undefined;
    drop(1);
    notifyIdle();
  };
  const notifyIdle = () => {
    if (buffered() > 0) return;
    const waiters = idleWaiters;
    idleWaiters = [];
    for (const w of waiters) w();
  };

  let dropsInBurst = 0;
  let dropTimer: NodeJS.Timeout | undefined;
  const reportDrops = () => {
    if (dropTimer) clearTimeout(dropTimer);
    dropTimer = undefined;
    if (dropsInBurst === 0) return;
    log.warn(
      { dropped: dropsInBurst, droppedTotal: dropped, bufferSize },
      `dropped ${dropsInBurst} event(s) because NATS could not take them in time; ${dropped} lost so far`,
    );
    dropsInBurst = 0;
  };
  const drop = (n: number) => {
    dropped += n;
    dropsInBurst += n;
    dropTimer ??= setTimeout(reportDrops, DROP_WARNING_WINDOW_MS).unref();
  };

  let readyResolve!: () => void;
  let readyReject!: (err: Error) => void;
  const readyPromise = new Promise<void>((resolve, reject) => {
    readyResolve = resolve;
    readyReject = reject;
  });
  readyPromise.catch(() => undefined);

  // The stream is (re)ensured once per connection generation: a restarted
  // server may have lost it.
  let streamGeneration = -1;
  let streamFailureLogged = -1;
  let jsClient: { nc: NatsConnection; js: JetStreamClient } | undefined;
  let failureDelay = 100;
  const backOff = async () => {
    await work(failureDelay);
    failureDelay = Math.min(5000, failureDelay * 2);
  };

  const pump = async () => {
    while (!stopped) {
      inFlight ??= queue.shift();
      const nc = conn.current();
      if (!nc) {
        await Promise.race([conn.changed(1000), work(1000)]);
        continue;
      }
      const gen = conn.generation();
      if (streamGeneration !== gen) {
        try {
          await ensureEventsStream(await jetstreamManager(nc), log, streamOptions);
          streamGeneration = gen;
          failureDelay = 100;
          readyResolve();
        } catch (err) {
          // Once per connection, then quietly: the retries go on with backoff.
          const level = streamFailureLogged === gen ? 'debug' : 'warn';
          streamFailureLogged = gen;
          log[level]({ err: (err as Error).message }, 'cannot set up the events stream; retrying');
          await backOff();
        }
        continue;
      }
      const event = inFlight;
      if (!event) {
        notifyIdle();
        await work(60_000);
        continue;
      }
      const maxPayload = nc.info?.max_payload ?? Infinity;
      if (event.bytes > maxPayload) {
        log.error({ id: event.id, bytes: event.bytes, maxPayload }, 'event is larger than NATS accepts; dropped');
        discardInFlight();
        continue;
      }
      if (jsClient?.nc !== nc) jsClient = { nc, js: jetstream(nc) };
      // A publish sent just as the connection broke may never be answered:
      // give up on it when the connection drops and send it again after
      // reconnecting (the server drops the copy, same Nats-Msg-Id).
      let stopWatching = () => {};
      const connectionLost = new Promise<never>((_, reject) => {
        stopWatching = conn.onChange(() => {
          if (conn.current() !== nc) reject(unavailable('NATS connection lost while publishing'));
        });
      });
      connectionLost.catch(() => undefined);
      try {
        await Promise.race([
          jsClient.js.publish(event.subject, event.payload, { msgID: event.id, timeout: publishTimeoutMs }),
          connectionLost,
        ]);
        published++;
        inFlight = undefined;
        failureDelay = 100;
        notifyIdle();
      } catch (err) {
        // An error JetStream answered with is about this message; anything
        // else (timeout, lost connection, no stream) is retried until it goes.
        if (err instanceof JetStreamApiError && ++event.rejections >= MAX_REJECTIONS) {
          log.error({ err: err.message, id: event.id }, 'JetStream keeps refusing an event; dropped');
          discardInFlight();
          continue;
        }
        log.debug({ err: (err as Error).message, id: event.id }, 'event publish failed; retrying');
        // A lost store or a deleted stream: set the stream up again.
        streamGeneration = -1;
        await backOff();
      } finally {
        stopWatching();
      }
    }
  };
  const pumping = pump().catch((err: unknown) => log.error({ err }, 'event publisher stopped'));

  return {
    publish(type, subject, data) {
      let event: Pending;
      try {
        const ce = makeCloudEvent(options.source, type, subject, data);
        const payload = JSON.stringify(ce);
        event = { subject: eventSubject(type), id: ce.id, payload, bytes: Buffer.byteLength(payload), rejections: 0 };
      } catch (err) {
        log.error({ err: (err as Error).message, type, subject }, 'event cannot be encoded; dropped');
        drop(1);
        return;
      }
      if (closing) {
        drop(1);
        return;
      }
      queue.push(event);
      let evicted = 0;
      while (buffered() > bufferSize && queue.shift()) evicted++;
      if (evicted > 0) drop(evicted);
      wake();
    },
    stats: () => ({ published, buffered: buffered(), dropped }),
    ready: () => readyPromise,
    async close() {
      if (closing) {
        await pumping;
        return;
      }
      closing = true;
      if (buffered() > 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, closeTimeoutMs);
          idleWaiters.push(() => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
      stopped = true;
      wake();
      readyReject(canceled('the NATS event sink was closed'));
      await conn.close();
      await pumping;
      const left = buffered();
      while (queue.shift());
      inFlight = undefined;
      if (left > 0) drop(left);
      reportDrops();
    },
  };
}
