import { randomUUID } from 'node:crypto';

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

/** What a service publishes events through; implemented over NATS by libs/events-nats. */
export interface EventSink {
  /**
   * Publishes an event of a short type such as `blob.stored` about subject.
   * Never throws: a sink that cannot deliver buffers or counts the loss.
   */
  publish(type: string, subject: string, data: unknown): void;
}

/** An EventSink that drops everything, for programs run without NATS. */
export const discardEvents: EventSink = { publish: () => undefined };

const EVENT_TYPE = /^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$/;

/** Builds the CloudEvent for a short type; InvalidArgument-free: type is code-controlled, checked by assertion. */
export function makeCloudEvent<T>(source: string, type: string, subject: string, data: T, now = new Date()): CloudEvent<T> {
  if (!EVENT_TYPE.test(type)) throw new Error(`event type ${JSON.stringify(type)} is not dotted lower-case`);
  return {
    specversion: '1.0',
    id: randomUUID(),
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
