import { JetStreamApiError, StorageType, DiscardPolicy, type JetStreamManager } from '@nats-io/jetstream';
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
}

const DAY = 24 * 60 * 60;
const NANOS_PER_SECOND = 1_000_000_000;
// Window in which JetStream drops a second message with the same Nats-Msg-Id.
const DUPLICATE_WINDOW_SECONDS = 120;
// JetStream's "stream name already in use with a different configuration".
const STREAM_NAME_IN_USE = 10058;

/**
 * Checks the limits and fills in defaults. Raises InvalidArgument for a
 * negative or fractional age or a size that is neither positive nor -1.
 */
export function eventsStreamLimits(options: EventsStreamOptions = {}): { maxAgeSeconds: number; maxBytes: number } {
  const maxAgeSeconds = options.maxAgeSeconds ?? 7 * DAY;
  const maxBytes = options.maxBytes ?? 1024 ** 3;
  if (!Number.isSafeInteger(maxAgeSeconds) || maxAgeSeconds < 0) {
    throw invalidArgument(`events stream max age must be a whole number of seconds, 0 or more; got ${maxAgeSeconds}`);
  }
  if (!Number.isSafeInteger(maxBytes) || (maxBytes <= 0 && maxBytes !== -1)) {
    throw invalidArgument(`events stream max bytes must be a positive whole number or -1; got ${maxBytes}`);
  }
  return { maxAgeSeconds, maxBytes };
}

/**
 * Creates the stream {@link EVENTS_STREAM} on file storage, or brings the
 * limits of an existing one up to date. When the existing stream cannot be
 * updated (another service set incompatible settings) it is kept as it is and
 * a warning is logged, since it captures the events either way. Raises what
 * JetStream raises for anything else (JetStream disabled, no connection).
 */
export async function ensureEventsStream(
  jsm: JetStreamManager,
  logger: Logger,
  options: EventsStreamOptions = {},
): Promise<void> {
  const { maxAgeSeconds, maxBytes } = eventsStreamLimits(options);
  const limits = {
    subjects: [EVENTS_SUBJECTS],
    max_age: maxAgeSeconds * NANOS_PER_SECOND,
    max_bytes: maxBytes,
    discard: DiscardPolicy.Old,
    duplicate_window:
      Math.min(DUPLICATE_WINDOW_SECONDS, maxAgeSeconds === 0 ? DUPLICATE_WINDOW_SECONDS : maxAgeSeconds) * NANOS_PER_SECOND,
  };
  try {
    await jsm.streams.add({
      name: EVENTS_STREAM,
      description: 'Strata events (CloudEvents 1.0 JSON)',
      storage: StorageType.File,
      ...limits,
    });
  } catch (err) {
    if (!(err instanceof JetStreamApiError && err.apiError().err_code === STREAM_NAME_IN_USE)) throw err;
    try {
      await jsm.streams.update(EVENTS_STREAM, limits);
    } catch (cause) {
      logger.warn({ err: (cause as Error).message, stream: EVENTS_STREAM }, 'keeping the existing events stream as it is');
    }
  }
}
