import {
  DeliverPolicy,
  JetStreamApiError,
  jetstream,
  jetstreamManager,
  type Consumer,
  type ConsumerMessages,
  type JetStreamClient,
  type JsMsg,
} from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { invalidArgument, notFound, parseCloudEvent, type CloudEvent, type Logger } from '@strata/kit';
import { EVENTS_STREAM, EVENTS_SUBJECTS } from './events-stream.js';

/** What {@link readEvents} reads. */
export interface ReadEventsOptions {
  logger: Logger;
  /**
   * Replays from the first event JetStream stored at or after this time;
   * without it only events stored from now on are read.
   */
  since?: Date;
  /**
   * Ends after the last event stored at or before this time: at once when
   * it is past and the replay has caught up, else when the time comes.
   * Without it reading goes on until signal aborts.
   */
  until?: Date;
  /**
   * One NATS subject under `strata.events.` that JetStream filters on, e.g.
   * `strata.events.image.>`; {@link EVENTS_SUBJECTS} by default.
   */
  subject?: string;
  /** Ends the reading (the iteration finishes without an error). */
  signal?: AbortSignal;
}

/** One event as the events stream holds it. */
export interface StoredEvent {
  event: CloudEvent;
  /** NATS subject, `strata.events.<type>`. */
  subject: string;
  /** Sequence number in {@link EVENTS_STREAM}. */
  seq: number;
  /** When JetStream stored it (later than event.time when it was buffered during an outage). */
  storedAt: Date;
}

// JetStream's "stream not found".
const STREAM_NOT_FOUND = 10059;
const SUBJECT = /^strata\.events(\.([a-z0-9_]+|\*))*(\.>)?$/;
const CAUGHT_UP_POLL_MS = 100;

function storedAt(m: JsMsg): Date {
  return new Date(Math.floor(m.info.timestampNanos / 1e6));
}

/**
 * The sequence number of the first event on subject stored at or after
 * since, or lastSeq + 1 when there is none yet (lastSeq read before).
 */
async function firstSeqSince(js: JetStreamClient, subject: string, since: Date, lastSeq: number): Promise<number> {
  const probe = await js.consumers.get(EVENTS_STREAM, {
    filter_subjects: subject,
    deliver_policy: DeliverPolicy.StartTime,
    opt_start_time: since.toISOString(),
  });
  try {
    if ((await probe.info(true)).num_pending === 0) return lastSeq + 1;
    const first = await probe.next({ expires: 5000 });
    return first ? first.info.streamSequence : lastSeq + 1;
  } finally {
    await probe.delete().catch(() => undefined);
  }
}

/**
 * Reads Strata events from {@link EVENTS_STREAM} through an ordered
 * ephemeral consumer (nothing is left on the server): first those stored
 * since `since`, in stream order, then live ones as they are stored, until
 * `until` or signal. It keeps reading across NATS reconnects and restarts
 * (the client recreates the consumer from the next sequence). Each stored
 * message is yielded once; a message that is not a CloudEvent is logged and
 * skipped. Raises InvalidArgument for a subject outside
 * `strata.events.>` or until before since, NotFound when the stream does not
 * exist (no Strata service has connected to this NATS yet), and what NATS
 * raises when it cannot be reached.
 */
export async function* readEvents(nc: NatsConnection, options: ReadEventsOptions): AsyncGenerator<StoredEvent> {
  const subject = options.subject ?? EVENTS_SUBJECTS;
  if (!SUBJECT.test(subject) || subject === 'strata.events') {
    throw invalidArgument(`event subject ${JSON.stringify(subject)} is not under strata.events.>`);
  }
  const { since, until, signal, logger } = options;
  if (since && until && until.getTime() < since.getTime()) {
    throw invalidArgument(`the end of the events to read (${until.toISOString()}) is before their start (${since.toISOString()})`);
  }
  if (signal?.aborted) return;

  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);
  let consumer: Consumer;
  try {
    // The consumer starts at a sequence number, never at a time: after a
    // reconnect the client recreates it from the next sequence, which it
    // cannot do for a consumer made with a start time.
    const lastSeq = (await jsm.streams.info(EVENTS_STREAM)).state.last_seq;
    const start = since ? await firstSeqSince(js, subject, since, lastSeq) : lastSeq + 1;
    consumer = await js.consumers.get(EVENTS_STREAM, {
      filter_subjects: subject,
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: start,
    });
  } catch (err) {
    if (err instanceof JetStreamApiError && err.apiError().err_code === STREAM_NOT_FOUND) {
      throw notFound(`NATS has no events stream ${EVENTS_STREAM}; a Strata service creates it when it first connects (strata up)`, {
        cause: err,
      });
    }
    throw err;
  }
  const messages: ConsumerMessages = await consumer.consume();
  const stop = () => messages.stop();
  signal?.addEventListener('abort', stop, { once: true });

  // Past `until`: the last stream sequence then, and whether the replay has caught up.
  let untilSeq: number | undefined;
  let caughtUpTimer: NodeJS.Timeout | undefined;
  let untilTimer: NodeJS.Timeout | undefined;
  let busy = false;
  let lastSeq = 0;
  const checkCaughtUp = async () => {
    if (busy) return;
    busy = true;
    try {
      const info = await consumer.info(false);
      // Nothing left on the server, and everything delivered has been taken.
      if (info.num_pending === 0 && (info.delivered.consumer_seq === 0 || info.delivered.stream_seq <= lastSeq)) stop();
    } catch (err) {
      logger.debug({ err: (err as Error).message }, 'cannot read the events consumer state; trying again');
    } finally {
      busy = false;
    }
  };
  const untilReached = async () => {
    try {
      untilSeq = (await jsm.streams.info(EVENTS_STREAM)).state.last_seq;
    } catch (err) {
      logger.debug({ err: (err as Error).message }, 'cannot read the events stream state');
      untilSeq = Number.MAX_SAFE_INTEGER;
    }
    void checkCaughtUp();
    caughtUpTimer = setInterval(() => void checkCaughtUp(), CAUGHT_UP_POLL_MS);
  };
  if (until) untilTimer = setTimeout(() => void untilReached(), Math.max(0, until.getTime() - Date.now()));

  try {
    for await (const m of messages) {
      lastSeq = m.info.streamSequence;
      const at = storedAt(m);
      if (until && at.getTime() > until.getTime()) break;
      if (untilSeq !== undefined && m.info.streamSequence > untilSeq) break;
      let event: CloudEvent | undefined;
      try {
        event = parseCloudEvent(m.string());
      } catch (err) {
        logger.warn({ subject: m.subject, seq: m.info.streamSequence, err: (err as Error).message }, 'skipping a message that is not a CloudEvent');
      }
      if (event) yield { event, subject: m.subject, seq: m.info.streamSequence, storedAt: at };
      if (untilSeq !== undefined && (m.info.pending === 0 || m.info.streamSequence === untilSeq)) break;
    }
  } finally {
    clearTimeout(untilTimer);
    clearInterval(caughtUpTimer);
    signal?.removeEventListener('abort', stop);
    stop();
    await messages.closed().catch(() => undefined);
  }
}
