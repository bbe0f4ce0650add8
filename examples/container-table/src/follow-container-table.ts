import type { NatsConnection } from '@nats-io/transport-node';
import { readEvents, type StoredEvent } from '@strata/events-nats';
import type { Logger } from '@strata/kit';
import { applyEvent, emptyTable, type TableState } from './table-state.js';

/** The NATS subject of every container event (a filter of the STRATA_EVENTS stream). */
export const CONTAINER_EVENTS_SUBJECT = 'strata.events.container.>';

/** Settings of {@link followContainerTable}. */
export interface FollowContainerTableOptions {
  nc: NatsConnection;
  logger: Logger;
  /** Ends the following; the promise then resolves with the table. */
  signal?: AbortSignal;
  /** Ends after the events stored until then (see readEvents); without it, follows until signal. */
  until?: Date;
  /** Called after every container event read, in stream order, with the table after it (the same table when the event changed nothing). */
  onEvent?(state: TableState, stored: StoredEvent): void;
}

/**
 * Builds the table of containers from the events alone: replays every
 * container event the STRATA_EVENTS stream holds, from its first, then
 * follows new ones as they are stored, applying each with applyEvent (which
 * drops redelivered event ids). Nothing is kept between runs: a restarted
 * consumer rebuilds the same table from the stream. Resolves with the table
 * when signal aborts or until is reached. Raises NotFound when the stream
 * does not exist yet (no Strata service has connected to this NATS), and
 * what NATS raises when it cannot be reached.
 */
export async function followContainerTable(options: FollowContainerTableOptions): Promise<TableState> {
  const { nc, logger, signal, until, onEvent } = options;
  let state = emptyTable();
  const events = readEvents(nc, {
    logger,
    since: new Date(0),
    subject: CONTAINER_EVENTS_SUBJECT,
    ...(signal === undefined ? {} : { signal }),
    ...(until === undefined ? {} : { until }),
  });
  for await (const stored of events) {
    state = applyEvent(state, stored.event);
    onEvent?.(state, stored);
  }
  return state;
}
