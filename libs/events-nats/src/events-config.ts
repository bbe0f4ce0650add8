import { int, type ConfigOf } from '@strata/kit';
import type { NatsEventSinkOptions } from './nats-event-sink.js';

/**
 * The event settings every service that publishes events takes, for its
 * config spec (`loadConfig({ ...ownSpec, ...eventsConfigSpec })`): the sink's
 * buffer and the limits of the STRATA_EVENTS stream. Flags are the kebab-case
 * keys (`--events-buffer-size`); the values are checked further by
 * createNatsEventSink (InvalidArgument).
 */
export const eventsConfigSpec = {
  eventsBufferSize: int('Events kept in memory while NATS is unreachable; past it the oldest are dropped and counted.', {
    default: 10_000,
    min: 1,
    max: 10_000_000,
    env: 'STRATA_EVENTS_BUFFER_SIZE',
  }),
  eventsMaxAgeSeconds: int('Events older than this are removed from the STRATA_EVENTS stream; 0 keeps them forever.', {
    default: 7 * 24 * 3600,
    min: 0,
    env: 'STRATA_EVENTS_MAX_AGE_SECONDS',
  }),
  eventsMaxBytes: int('Size of the STRATA_EVENTS stream past which the oldest events are removed; -1 for no limit.', {
    default: 1024 ** 3,
    min: -1,
    env: 'STRATA_EVENTS_MAX_BYTES',
  }),
  eventsMaxMsgs: int('Number of events in the STRATA_EVENTS stream past which the oldest are removed; -1 for no limit.', {
    default: -1,
    min: -1,
    env: 'STRATA_EVENTS_MAX_MSGS',
  }),
  eventsDuplicateWindowSeconds: int('Window in which the STRATA_EVENTS stream drops a second copy of an event (same id).', {
    default: 120,
    min: 1,
    env: 'STRATA_EVENTS_DUPLICATE_WINDOW_SECONDS',
  }),
};

/** The settings {@link eventsConfigSpec} yields. */
export type EventsConfig = ConfigOf<typeof eventsConfigSpec>;

/** The options of createNatsEventSink that {@link eventsConfigSpec} sets. */
export type EventSinkLimits = Pick<
  NatsEventSinkOptions,
  'bufferSize' | 'streamMaxAgeSeconds' | 'streamMaxBytes' | 'streamMaxMsgs' | 'streamDuplicateWindowSeconds'
>;

/**
 * The options of createNatsEventSink that {@link eventsConfigSpec} sets; the
 * duplicate window is cut to a max age shorter than it.
 */
export function eventSinkLimits(config: EventsConfig): EventSinkLimits {
  const window =
    config.eventsMaxAgeSeconds > 0 ? Math.min(config.eventsDuplicateWindowSeconds, config.eventsMaxAgeSeconds) : config.eventsDuplicateWindowSeconds;
  return {
    bufferSize: config.eventsBufferSize,
    streamMaxAgeSeconds: config.eventsMaxAgeSeconds,
    streamMaxBytes: config.eventsMaxBytes,
    streamMaxMsgs: config.eventsMaxMsgs,
    streamDuplicateWindowSeconds: window,
  };
}
