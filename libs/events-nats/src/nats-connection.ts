import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { canceled, invalidArgument, unavailable, type Logger } from '@strata/kit';

/** How {@link createNatsConnection} reaches NATS. */
export interface NatsConnectionOptions {
  /** One or more `nats://host:port` URLs (or `host:port`). */
  servers: string | string[];
  /** Client name the server shows in its monitoring, e.g. `layer-store`. */
  name: string;
  logger: Logger;
  /** First wait between failed attempts, doubled up to maxRetryDelayMs; 100 ms by default. */
  minRetryDelayMs?: number;
  /** Longest wait between attempts, also for reconnects after an outage; 5 s by default. */
  maxRetryDelayMs?: number;
}

/**
 * A NATS connection that a service keeps for its whole life: it connects in
 * the background, retries forever with backoff (first connection and
 * reconnects alike), and tells its users when it is usable.
 */
export interface NatsConnectionHandle {
  /** The connection when connected right now, else undefined. */
  current(): NatsConnection | undefined;
  /**
   * Resolves with the connection as soon as it is connected (at once if it
   * is). Raises Canceled when the handle is closed first.
   */
  connected(): Promise<NatsConnection>;
  /**
   * Resolves the next time the connection state changes (connected,
   * disconnected, closed) or after timeoutMs, whichever comes first.
   */
  changed(timeoutMs: number): Promise<void>;
  /** Calls listener on every state change until the returned function is called. */
  onChange(listener: () => void): () => void;
  /** Counts (re)connections so far; a user can tell a fresh session from the last one. */
  generation(): number;
  /** Stops retrying and drains the connection (pending publishes are flushed). Idempotent. */
  close(): Promise<void>;
}

function checkServers(servers: string | string[]): string[] {
  const list = typeof servers === 'string' ? [servers] : [...servers];
  if (list.length === 0 || list.some((s) => s.trim() === '')) {
    throw invalidArgument('NATS servers must be one or more non-empty URLs such as nats://127.0.0.1:4222');
  }
  return list;
}

/**
 * Starts connecting to NATS in the background and returns at once. Raises
 * InvalidArgument (synchronously) only for an empty server list; everything
 * that happens on the network is retried and logged, never thrown.
 */
export function createNatsConnection(options: NatsConnectionOptions): NatsConnectionHandle {
  const servers = checkServers(options.servers);
  const minDelay = options.minRetryDelayMs ?? 100;
  const maxDelay = Math.max(minDelay, options.maxRetryDelayMs ?? 5000);
  const log = options.logger.child({ nats: servers.join(',') });

  let nc: NatsConnection | undefined;
  let isUp = false;
  let closing = false;
  let gen = 0;
  let outageStart: number | undefined;
  const listeners = new Set<() => void>();
  let wakeSleep: (() => void) | undefined;

  const notify = () => {
    for (const l of [...listeners]) l();
  };
  const onChange = (listener: () => void) => {
    const entry = () => listener();
    listeners.add(entry);
    return () => {
      listeners.delete(entry);
    };
  };
  const changed = (timeoutMs: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(done, timeoutMs);
      const off = onChange(done);
      function done() {
        clearTimeout(timer);
        off();
        resolve();
      }
    });
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        wakeSleep = undefined;
        resolve();
      }
      wakeSleep = done;
    });
  // The client's reconnect wait grows with the length of the outage.
  const reconnectDelay = () => {
    outageStart ??= Date.now();
    return Math.min(maxDelay, Math.max(minDelay, (Date.now() - outageStart) / 4));
  };

  const watch = async (conn: NatsConnection) => {
    for await (const s of conn.status()) {
      if (s.type === 'disconnect') {
        isUp = false;
        log.warn({ server: s.server }, 'NATS connection lost; reconnecting');
        notify();
      } else if (s.type === 'reconnect') {
        isUp = true;
        outageStart = undefined;
        gen++;
        log.info({ server: s.server }, 'NATS reconnected');
        notify();
      }
    }
  };

  const run = async () => {
    let delay = minDelay;
    let failures = 0;
    while (!closing) {
      let conn: NatsConnection;
      try {
        conn = await connect({
          servers,
          name: options.name,
          maxReconnectAttempts: -1,
          reconnectDelayHandler: reconnectDelay,
          timeout: 5000,
        });
      } catch (err) {
        if (failures++ === 0) log.warn({ err: (err as Error).message }, 'NATS is not reachable; retrying in the background');
        await sleep(delay);
        delay = Math.min(maxDelay, delay * 2);
        continue;
      }
      if (closing) {
        await conn.close().catch(() => undefined);
        break;
      }
      delay = minDelay;
      failures = 0;
      nc = conn;
      isUp = true;
      gen++;
      log.info('NATS connected');
      notify();
      void watch(conn).catch(() => undefined);
      const err = await conn.closed();
      nc = undefined;
      isUp = false;
      notify();
      if (!closing) log.warn({ err: err?.message }, 'NATS connection closed; connecting again');
    }
  };
  const running = run();

  return {
    current: () => (isUp ? nc : undefined),
    async connected() {
      for (;;) {
        if (closing) throw canceled('the NATS connection was closed');
        if (isUp && nc) return nc;
        await changed(60_000);
      }
    },
    changed,
    onChange,
    generation: () => gen,
    async close() {
      if (closing) return running;
      closing = true;
      wakeSleep?.();
      notify();
      const conn = nc;
      if (conn && !conn.isClosed()) {
        // drain() needs a live connection; a connection that is retrying is closed outright.
        await (isUp ? conn.drain() : conn.close()).catch(() => conn.close().catch(() => undefined));
      }
      // A connect attempt still in flight ends by itself and closes what it got.
      await Promise.race([running, new Promise((r) => setTimeout(r, 1000).unref())]);
    },
  };
}

/**
 * Connects once to servers, checks that JetStream answers, and closes.
 * Raises Unavailable, with the reason, when NATS does not accept the
 * connection or JetStream is not enabled within timeoutMs.
 */
export async function probeNats(servers: string | string[], timeoutMs = 2000): Promise<void> {
  const list = checkServers(servers);
  let nc: NatsConnection | undefined;
  try {
    nc = await connect({ servers: list, timeout: timeoutMs, reconnect: false, name: 'strata-probe' });
    await jetstreamManager(nc, { timeout: timeoutMs });
  } catch (err) {
    throw unavailable(`NATS at ${list.join(', ')} does not answer with JetStream: ${(err as Error).message}`, { cause: err });
  } finally {
    await nc?.close().catch(() => undefined);
  }
}
