import { randomUUID } from 'node:crypto';
import { invalidArgument } from './errors.js';

/**
 * A CloudEvents 1.0 event in its JSON form, as Strata publishes it on NATS
 * subject `strata.events.<type>` (DESIGN.md "Events").
 */
export interface CloudEvent<T = unknown> {
  specversion: '1.0';
  /** Unique per event; consumers dedupe on it. */
  id: string;
  /** `strata/<service>/<node>`. */
  source: string;
  /** Reverse-DNS type, `io.strata.<type>`; the subject carries the short type. */
  type: string;
  /** The object the event is about: a digest, container id, image ref… */
  subject: string;
  time: string;
  datacontenttype: 'application/json';
  /** The JSON mapping of a message from proto/strata/events/v1. */
  data: T;
}

/** How one event is published. */
export interface PublishOptions {
  /**
   * The event id, instead of a fresh random one. Publishers that may each
   * see the same fact (several agents noticing that a node went down) give
   * it an id derived from the fact, so the event bus keeps one copy.
   */
  id?: string;
}

/** What a service publishes events through; implemented over NATS by libs/events-nats. */
export interface EventSink {
  /**
   * Publishes an event of a short type such as `blob.stored` about subject.
   * Never throws: a sink that cannot deliver buffers or counts the loss.
   */
  publish(type: string, subject: string, data: unknown, options?: PublishOptions): void;
}

/** An EventSink that drops everything, for programs run without NATS. */
export const discardEvents: EventSink = { publish: () => undefined };

const EVENT_TYPE = /^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$/;

/**
 * Builds the CloudEvent for a short type, with a random id unless one is
 * given; InvalidArgument-free: type is code-controlled, checked by assertion.
 */
export function makeCloudEvent<T>(source: string, type: string, subject: string, data: T, now = new Date(), id: string = randomUUID()): CloudEvent<T> {
  if (!EVENT_TYPE.test(type)) throw new Error(`event type ${JSON.stringify(type)} is not dotted lower-case`);
  return {
    specversion: '1.0',
    id,
    source,
    type: `io.strata.${type}`,
    subject,
    time: now.toISOString(),
    datacontenttype: 'application/json',
    data,
  };
}

/** NATS subject an event of a short type is published on. */
export function eventSubject(type: string): string {
  return `strata.events.${type}`;
}

const TYPE_PREFIX = 'io.strata.';

/** The short type (`image.pulled`) of a CloudEvent type (`io.strata.image.pulled`); the type itself when it has no Strata prefix. */
export function shortEventType(type: string): string {
  return type.startsWith(TYPE_PREFIX) ? type.slice(TYPE_PREFIX.length) : type;
}

/**
 * Reads one CloudEvent from its JSON text, as a consumer of Strata events
 * receives it. Raises InvalidArgument, saying what is wrong, when the text
 * is not JSON or lacks a required CloudEvents 1.0 attribute.
 */
export function parseCloudEvent(text: string): CloudEvent {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw invalidArgument(`event is not JSON: ${(cause as Error).message}`, { cause });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalidArgument('event is not a JSON object');
  const ce = value as Record<string, unknown>;
  if (ce.specversion !== '1.0') throw invalidArgument(`event specversion must be "1.0", got ${JSON.stringify(ce.specversion)}`);
  for (const key of ['id', 'source', 'type', 'subject', 'time'] as const) {
    if (typeof ce[key] !== 'string' || ce[key] === '') throw invalidArgument(`event attribute ${key} must be a non-empty string`);
  }
  if (Number.isNaN(Date.parse(ce.time as string))) throw invalidArgument(`event time ${JSON.stringify(ce.time)} is not an RFC 3339 time`);
  return value as CloudEvent;
}
