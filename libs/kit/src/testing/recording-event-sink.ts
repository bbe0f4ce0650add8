import type { EventSink } from '../events.js';

/** One event a {@link RecordingEventSink} received. */
export interface RecordedEvent {
  type: string;
  subject: string;
  data: unknown;
  /** The id the publisher chose, when it chose one. */
  id?: string;
}

/** An EventSink that keeps what it is given, for tests of the code that publishes. */
export interface RecordingEventSink extends EventSink {
  /** Every event so far, oldest first. */
  readonly events: RecordedEvent[];
  /** The events of type, oldest first. */
  of(type: string): RecordedEvent[];
  /** Forgets the events so far. */
  clear(): void;
}

/** Creates an empty {@link RecordingEventSink}. */
export function createRecordingEventSink(): RecordingEventSink {
  const events: RecordedEvent[] = [];
  return {
    events,
    publish: (type, subject, data, options) => events.push({ type, subject, data, ...(options?.id === undefined ? {} : { id: options.id }) }),
    of: (type) => events.filter((e) => e.type === type),
    clear: () => events.splice(0),
  };
}
