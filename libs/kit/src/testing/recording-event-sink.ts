import type { EventSink } from '../events.js';

/** One event a {@link RecordingEventSink} received. */
export interface RecordedEvent {
  type: string;
  subject: string;
  data: unknown;
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
    publish: (type, subject, data) => events.push({ type, subject, data }),
    of: (type) => events.filter((e) => e.type === type),
    clear: () => events.splice(0),
  };
}
