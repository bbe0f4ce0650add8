import { connect, type NatsConnection } from '@nats-io/transport-node';
import { ContainersService } from '@strata/api/containers/v1';
import { readEvents } from '@strata/events-nats';
import type { RpcClient } from '@strata/grpc-kit';
import { isNotFound, shortEventType, unavailable, type CloudEvent } from '@strata/kit';
import { dockerError } from './docker-error.js';
import {
  dockerEventSubject,
  dockerEventsOf,
  formatDockerEvent,
  matchesDockerEventFilters,
  parseDockerEventFilters,
  parseDockerTimestamp,
} from './docker-events.js';
import type { DockerContext, DockerRoute } from './docker-router.js';

/** What the events route reads from. */
export interface EventRoutesDeps {
  /** NATS server(s) of the STRATA_EVENTS stream; '' when the node-agent runs without NATS (the route answers 503). */
  natsUrl: string;
  /** The node-agent's Containers service: the image and labels of containers, which Docker's container events carry. */
  containers: RpcClient;
}

/** Most containers whose attributes one events stream remembers. */
const ATTRIBUTE_CACHE_SIZE = 1000;

/**
 * The attributes Docker puts on every event of a container that Strata's
 * events do not all carry (image, labels), read once per container through
 * the Containers service; empty when the container is gone.
 */
function containerAttributes(containers: RpcClient): (id: string) => Promise<Record<string, string>> {
  const cache = new Map<string, Record<string, string>>();
  return async (id) => {
    const known = cache.get(id);
    if (known !== undefined) return known;
    let attrs: Record<string, string> = {};
    try {
      const { container } = await containers.unary(ContainersService.inspect, { id });
      if (container !== undefined) attrs = { ...(container.spec?.labels ?? {}), image: container.image, name: container.name };
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    if (cache.size >= ATTRIBUTE_CACHE_SIZE) cache.delete(cache.keys().next().value as string);
    cache.set(id, attrs);
    return attrs;
  };
}

async function natsConnection(url: string): Promise<NatsConnection> {
  if (url === '') throw dockerError(503, 'events are not available: the node-agent runs without NATS (--nats-url)');
  try {
    return await connect({ servers: url.split(','), name: 'strata-docker-events', timeout: 5000, maxReconnectAttempts: -1 });
  } catch (cause) {
    throw unavailable(`cannot reach NATS at ${url} for events: ${(cause as Error).message}`, { cause });
  }
}

async function events(ctx: DockerContext, deps: EventRoutesDeps): Promise<void> {
  const since = parseDockerTimestamp(ctx.query, 'since');
  const until = parseDockerTimestamp(ctx.query, 'until');
  const filters = parseDockerEventFilters(ctx.query);
  if (since !== undefined && until !== undefined && until.getTime() < since.getTime()) {
    throw dockerError(400, 'until is before since');
  }
  const nc = await natsConnection(deps.natsUrl);
  const abort = new AbortController();
  const { res } = ctx;
  res.once('close', () => abort.abort());
  const attributesOf = containerAttributes(deps.containers);
  try {
    const stream = readEvents(nc, { logger: ctx.logger, since, until, subject: dockerEventSubject(filters), signal: abort.signal });
    const iterator = stream[Symbol.asyncIterator]();
    // The first read sets the consumer up: its errors (no events stream yet) are still an HTTP status.
    let first: IteratorResult<{ event: CloudEvent }> | undefined;
    const firstRead = iterator.next();
    const headersDue = setTimeout(() => {
      if (!res.headersSent) {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.flushHeaders();
      }
    }, 200);
    try {
      first = await firstRead;
    } finally {
      clearTimeout(headersDue);
    }
    if (!res.headersSent) {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.flushHeaders();
    }
    for (let next = first; !next.done; next = await iterator.next()) {
      const { event } = next.value;
      const isContainer = /^(container|exec)\./.test(shortEventType(event.type));
      const extra = isContainer ? await attributesOf(String((event.data as { id?: unknown } | null)?.id ?? event.subject)).catch(() => ({})) : {};
      for (const docker of dockerEventsOf(event, extra)) {
        if (matchesDockerEventFilters(docker, filters) && !res.destroyed) res.write(`${formatDockerEvent(docker)}\n`);
      }
    }
  } catch (err) {
    if (!res.headersSent) {
      if (isNotFound(err)) throw unavailable((err as Error).message, { cause: err });
      throw err;
    }
    ctx.logger.warn({ err: (err as Error).message }, 'events stream ended by an error');
  } finally {
    abort.abort();
    await nc.close().catch(() => undefined);
  }
  res.end();
}

/**
 * `GET /events?since=&until=&filters=`: Docker's event stream, one JSON
 * object a line (`Type`, `Action`, `Actor` {ID, Attributes}, `scope`,
 * `time`, `timeNano`, and the legacy `status`, `id`, `from`), read from
 * the STRATA_EVENTS stream as `strata events` reads it: events stored
 * since `since` first, then live ones, until `until` or the client goes.
 * Strata events map to Docker's by DOCKER_EVENT_ACTIONS. 400 for bad
 * filters or times; 503 when NATS or the events stream is not there.
 */
export function eventRoutes(deps: EventRoutesDeps): DockerRoute[] {
  return [{ method: 'GET', path: '/events', handle: (ctx) => events(ctx, deps) }];
}
