import { jetstreamManager } from '@nats-io/jetstream';
import { createInbox, headers, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';
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
  /**
   * Events sent to JetStream and not yet acknowledged, at most (never more
   * than bufferSize); 256 by default. 1 waits for each acknowledgement before
   * sending the next event.
   */
  maxInFlight?: number;
}

/** Counters of a {@link NatsEventSink}. */
export interface NatsEventSinkStats {
  /** Events JetStream acknowledged (duplicates it recognised included). */
  published: number;
  /** Events waiting to be published, those sent and not yet acknowledged included. */
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
  /** Undefined while waiting to be sent; then sent (no answer yet), failed (to send again) or done (acknowledged or dropped). */
  state?: 'sent' | 'failed' | 'done';
  /** When it was last sent (performance.now()). */
  sentAt?: number;
}

/** JetStream's answer to a publish: an acknowledgement or an error. */
interface PubAck {
  stream?: string;
  seq?: number;
  error?: { code?: number; err_code?: number; description?: string };
}

// Errors JetStream may answer one event with before it is given up.
const MAX_REJECTIONS = 3;

// How long drops are gathered into one warning.
const DROP_WARNING_WINDOW_MS = 1000;

/**
 * Creates an EventSink that publishes every event as CloudEvents 1.0 JSON on
 * `strata.events.<type>` through JetStream (stream STRATA_EVENTS, created or
 * updated here), with the `Nats-Msg-Id` header set to the event id so that
 * JetStream drops a repeated publish of the same event within the stream's
 * duplicate window — also copies that several services publish under an id
 * derived from the same fact (PublishOptions.id).
 *
 * It returns at once and connects in the background, retrying forever.
 * publish() never throws: events wait in a bounded FIFO buffer while NATS is
 * unreachable and are published in order after (re)connecting; when the
 * buffer is full the oldest event is dropped, counted in stats().dropped,
 * and a warning with the count is logged once per burst of drops.
 *
 * Publishing is pipelined: up to maxInFlight events are sent before their
 * acknowledgements come back, in the order publish() was called, on one
 * connection, so JetStream stores them in that order. An event counts as
 * published only once JetStream acknowledged it (at-least-once). When a
 * publish fails (timeout, lost connection, no stream) the sink stops sending,
 * waits for the answers of what is in flight (or drops the lost connection's
 * window at once), and sends every unacknowledged event again in the original
 * order; JetStream drops the copies it already stored (same Nats-Msg-Id), so
 * they keep their place. The one case where order changes is an event that
 * JetStream itself refuses while later ones are stored: it is retried after
 * them (and dropped after three refusals).
 * Raises InvalidArgument (synchronously) only for invalid options.
 */
export function createNatsEventSink(options: NatsEventSinkOptions): NatsEventSink {
  const bufferSize = options.bufferSize ?? 10_000;
  if (!Number.isSafeInteger(bufferSize) || bufferSize < 1) {
    throw invalidArgument(`event buffer size must be a whole number of 1 or more; got ${bufferSize}`);
  }
  const maxInFlightOption = options.maxInFlight ?? 256;
  if (!Number.isSafeInteger(maxInFlightOption) || maxInFlightOption < 1) {
    throw invalidArgument(`events in flight must be a whole number of 1 or more; got ${maxInFlightOption}`);
  }
  const maxInFlight = Math.min(maxInFlightOption, bufferSize);
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

  // Events wait in queue; sent ones stay in window (send order) until
  // acknowledged; a failed or abandoned window's unacknowledged events go to
  // resend, which is sent before the queue.
  const queue = new Fifo<Pending>();
  let resend: Pending[] = [];
  const window = new Fifo<Pending>();
  // Events in window not done.
  let held = 0;
  // The window's events without an answer yet, by the token of their reply
  // subject `<inbox>.<token>`, in send order. Answers to other tokens (of an
  // abandoned window) are ignored.
  const unanswered = new Map<number, Pending>();
  let nextToken = 0;
  // One subscription per connection receives every acknowledgement.
  let acks: { nc: NatsConnection; prefix: string; sub: Subscription } | undefined;
  // The first failure in the current window: nothing more is sent until it is handled.
  let failure: Error | undefined;
  // The connection generation the window was sent on.
  let windowGen: number | undefined;
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
  const buffered = () => queue.length + resend.length + held;
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
  let failureDelay = 100;
  const backOff = async () => {
    await work(failureDelay);
    failureDelay = Math.min(5000, failureDelay * 2);
  };

  // Forgets the window's sends (their answers are ignored from now) and puts
  // its unacknowledged events, in order, before those waiting to be resent.
  const abandonWindow = () => {
    unanswered.clear();
    const again: Pending[] = [];
    for (let e = window.shift(); e; e = window.shift()) {
      if (e.state === 'done') continue;
      e.state = undefined;
      again.push(e);
    }
    resend = again.length > 0 ? again.concat(resend) : resend;
    held = 0;
    failure = undefined;
    windowGen = undefined;
  };
  const settled = (event: Pending) => {
    event.state = 'done';
    held--;
    while (window.peek()?.state === 'done') window.shift();
  };
  const failed = (event: Pending, err: Error) => {
    event.state = 'failed';
    failure ??= err;
  };
  const answered = (m: Msg) => {
    const token = Number(m.subject.slice(acks?.prefix.length ?? 0));
    const event = unanswered.get(token);
    if (!event) return;
    unanswered.delete(token);
    wake();
    if (m.data.length === 0 && m.headers?.hasError) {
      // 503: no stream captures the subject (deleted, or the store was lost).
      failed(event, unavailable(`JetStream answered ${m.headers.code} ${m.headers.description}`.trim()));
      return;
    }
    let ack: PubAck;
    try {
      ack = m.json<PubAck>();
    } catch (err) {
      failed(event, unavailable(`JetStream answered a publish with something other than JSON: ${(err as Error).message}`));
      return;
    }
    if (ack.error || !ack.stream) {
      // An error JetStream answered with is about this message; anything
      // else (timeout, lost connection, no stream) is retried until it goes.
      const reason = ack.error?.description ?? 'an acknowledgement without a stream';
      if (++event.rejections >= MAX_REJECTIONS) {
        log.error({ err: reason, code: ack.error?.err_code, id: event.id }, 'JetStream keeps refusing an event; dropped');
        settled(event);
        drop(1);
        notifyIdle();
      } else {
        failed(event, unavailable(`JetStream refused an event: ${reason}`));
      }
      return;
    }
    published++;
    failureDelay = 100;
    settled(event);
    notifyIdle();
  };
  const send = (nc: NatsConnection, prefix: string, event: Pending) => {
    const token = nextToken++;
    const h = headers();
    h.set('Nats-Msg-Id', event.id);
    window.push(event);
    held++;
    try {
      nc.publish(event.subject, event.payload, { reply: `${prefix}${token}`, headers: h });
    } catch (err) {
      failed(event, err as Error);
      return;
    }
    event.state = 'sent';
    event.sentAt = performance.now();
    unanswered.set(token, event);
  };
  // Fails every unanswered event once the oldest has waited publishTimeoutMs; else the ms until it will have.
  const checkTimeout = (): number => {
    const oldest = unanswered.values().next().value;
    if (!oldest) return publishTimeoutMs;
    const left = (oldest.sentAt ?? 0) + publishTimeoutMs - performance.now();
    if (left > 0) return Math.ceil(left);
    for (const event of unanswered.values()) failed(event, unavailable(`JetStream did not acknowledge an event within ${publishTimeoutMs} ms`));
    unanswered.clear();
    return publishTimeoutMs;
  };
  // A connection lost with sends in flight may never answer them: the pump
  // abandons that window when it wakes, and sends its events again after
  // reconnecting (the server drops the copies, same Nats-Msg-Id).
  const stopWatching = conn.onChange(wake);

  const pump = async () => {
    while (!stopped) {
      const nc = conn.current();
      if (windowGen !== undefined && (!nc || windowGen !== conn.generation())) abandonWindow();
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
      const untilTimeout = checkTimeout();
      if (failure) {
        // Wait for every answer of this window, so that what is sent again
        // follows everything JetStream stored from it.
        if (unanswered.size > 0) {
          await work(untilTimeout);
          continue;
        }
        log.debug({ err: failure.message, events: held }, 'event publish failed; retrying');
        abandonWindow();
        // A lost store or a deleted stream: set the stream up again.
        streamGeneration = -1;
        await backOff();
        continue;
      }
      if (acks?.nc !== nc) {
        const prefix = `${createInbox()}.`;
        const sub = nc.subscribe(`${prefix}*`, {
          callback: (err, m) => {
            if (!err) answered(m);
          },
        });
        acks = { nc, prefix, sub };
      }
      windowGen = gen;
      const maxPayload = nc.info?.max_payload ?? Infinity;
      while (unanswered.size < maxInFlight && !failure) {
        const event = resend.shift() ?? queue.shift();
        if (!event) break;
        if (event.bytes > maxPayload) {
          log.error({ id: event.id, bytes: event.bytes, maxPayload }, 'event is larger than NATS accepts; dropped');
          drop(1);
          continue;
        }
        send(nc, acks.prefix, event);
      }
      notifyIdle();
      await work(unanswered.size > 0 ? untilTimeout : 60_000);
    }
  };
  const pumping = pump().catch((err: unknown) => log.error({ err }, 'event publisher stopped'));

  return {
    publish(type, subject, data, publishOptions) {
      let event: Pending;
      try {
        const ce = makeCloudEvent(options.source, type, subject, data, new Date(), publishOptions?.id);
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
      stopWatching();
      const left = buffered();
      while (queue.shift());
      unanswered.clear();
      while (window.shift());
      resend = [];
      held = 0;
      if (left > 0) drop(left);
      reportDrops();
    },
  };
}
