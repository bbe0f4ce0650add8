import { JetStreamApiError, StorageType, DiscardPolicy, type JetStreamManager, type StreamConfig } from '@nats-io/jetstream';
import { invalidArgument, type Logger } from '@strata/kit';

/** The JetStream stream that captures every Strata event (DESIGN.md "Events"). */
export const EVENTS_STREAM = 'STRATA_EVENTS';

/** The subjects {@link EVENTS_STREAM} captures. */
export const EVENTS_SUBJECTS = 'strata.events.>';

/** Limits of the events stream. */
export interface EventsStreamOptions {
  /** Events older than this are removed; 0 keeps them forever. Seven days by default. */
  maxAgeSeconds?: number;
  /** Oldest events are removed past this total size; -1 for no limit. 1 GiB by default. */
  maxBytes?: number;
  /** Oldest events are removed past this many; -1 for no limit (the default). */
  maxMsgs?: number;
  /**
   * Window in which JetStream drops a second message with the same
   * `Nats-Msg-Id` (the event id). 120 s by default, or the max age when that
   * is shorter; when given it must not exceed a max age other than 0.
   */
  duplicateWindowSeconds?: number;
}

/** {@link EventsStreamOptions} checked, with every default filled in. */
export interface EventsStreamLimits {
  maxAgeSeconds: number;
  maxBytes: number;
  maxMsgs: number;
  duplicateWindowSeconds: number;
}

const DAY = 24 * 60 * 60;
const NANOS_PER_SECOND = 1_000_000_000;
const DEFAULT_DUPLICATE_WINDOW_SECONDS = 120;
// JetStream's "stream name already in use with a different configuration".
const STREAM_NAME_IN_USE = 10058;

/**
 * Checks the limits and fills in defaults. Raises InvalidArgument for a
 * negative or fractional age, a size or count that is neither positive nor
 * -1, or a duplicate window that is not a positive whole number of seconds
 * or is longer than a max age other than 0.
 */
export function eventsStreamLimits(options: EventsStreamOptions = {}): EventsStreamLimits {
  const maxAgeSeconds = options.maxAgeSeconds ?? 7 * DAY;
  const maxBytes = options.maxBytes ?? 1024 ** 3;
  const maxMsgs = options.maxMsgs ?? -1;
  if (!Number.isSafeInteger(maxAgeSeconds) || maxAgeSeconds < 0) {
    throw invalidArgument(`events stream max age must be a whole number of seconds, 0 or more; got ${maxAgeSeconds}`);
  }
  if (!Number.isSafeInteger(maxBytes) || (maxBytes <= 0 && maxBytes !== -1)) {
    throw invalidArgument(`events stream max bytes must be a positive whole number or -1; got ${maxBytes}`);
  }
  if (!Number.isSafeInteger(maxMsgs) || (maxMsgs <= 0 && maxMsgs !== -1)) {
    throw invalidArgument(`events stream max messages must be a positive whole number or -1; got ${maxMsgs}`);
  }
  const window = options.duplicateWindowSeconds;
  if (window !== undefined && (!Number.isSafeInteger(window) || window < 1)) {
    throw invalidArgument(`events stream duplicate window must be a whole number of seconds, 1 or more; got ${window}`);
  }
  if (window !== undefined && maxAgeSeconds > 0 && window > maxAgeSeconds) {
    throw invalidArgument(
      `events stream duplicate window (${window} s) must not be longer than the max age (${maxAgeSeconds} s)`,
    );
  }
  const duplicateWindowSeconds =
    window ?? (maxAgeSeconds === 0 ? DEFAULT_DUPLICATE_WINDOW_SECONDS : Math.min(DEFAULT_DUPLICATE_WINDOW_SECONDS, maxAgeSeconds));
  return { maxAgeSeconds, maxBytes, maxMsgs, duplicateWindowSeconds };
}

/**
 * The settings of {@link EVENTS_STREAM} that {@link ensureEventsStream}
 * creates it with or updates it to: its subjects, the limits (checked as by
 * {@link eventsStreamLimits}, which raises InvalidArgument) and discarding
 * the oldest events past them.
 */
export function eventsStreamConfig(options: EventsStreamOptions = {}): Partial<StreamConfig> {
  const limits = eventsStreamLimits(options);
  return {
    subjects: [EVENTS_SUBJECTS],
    max_age: limits.maxAgeSeconds * NANOS_PER_SECOND,
    max_bytes: limits.maxBytes,
    max_msgs: limits.maxMsgs,
    discard: DiscardPolicy.Old,
    duplicate_window: limits.duplicateWindowSeconds * NANOS_PER_SECOND,
  };
}

/**
 * Creates the stream {@link EVENTS_STREAM} on file storage, or brings the
 * limits of an existing one up to date; safe to call from every service at
 * once (the last one to update sets the limits). When the existing stream
 * cannot be updated (a setting JetStream does not let change) it is kept as
 * it is and a warning is logged, since it captures the events either way.
 * Raises InvalidArgument for invalid limits, and what JetStream raises for
 * anything else (JetStream disabled, no connection).
 */
export async function ensureEventsStream(
  jsm: JetStreamManager,
  logger: Logger,
  options: EventsStreamOptions = {},
): Promise<void> {
  const config = eventsStreamConfig(options);
  try {
    await jsm.streams.add({
      name: EVENTS_STREAM,
      description: 'Strata events (CloudEvents 1.0 JSON)',
      storage: StorageType.File,
      ...config,
    });
  } catch (err) {
    if (!(err instanceof JetStreamApiError && err.apiError().err_code === STREAM_NAME_IN_USE)) throw err;
    try {
      await jsm.streams.update(EVENTS_STREAM, config);
    } catch (cause) {
      logger.warn({ err: (cause as Error).message, stream: EVENTS_STREAM }, 'keeping the existing events stream as it is');
    }
  }
}
