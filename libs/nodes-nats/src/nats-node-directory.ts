import { jetstream } from '@nats-io/jetstream';
import { Kvm, type KV, type KvEntry } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { createNatsConnection, type NatsConnectionHandle } from '@strata/events-nats';
import { failedPrecondition, invalidArgument, isStrataError, unavailable, type Logger } from '@strata/kit';
import { downAfterMs, nodeView, parseNodeStatus, type NodeDirectory, type NodeRecord, type NodeView } from '@strata/nodes';

/** The KV bucket of node heartbeats unless configured otherwise. */
export const DEFAULT_NODES_BUCKET = 'strata_nodes';

/** Settings of {@link createNatsNodeDirectory}. */
export interface NatsNodeDirectoryOptions {
  /** NATS server URL(s); the directory connects to them, or, with `connection`, only names them in errors. */
  servers: string | string[];
  /** A connection to share; close() leaves it open. */
  connection?: NatsConnectionHandle;
  /** KV bucket name; `strata_nodes` by default. Created (history 1) when missing. */
  bucket?: string;
  logger: Logger;
  /** How long list/get wait for a (re)connection before raising Unavailable; 2 s by default. */
  connectWaitMs?: number;
  /** How long one JetStream request may take; 5 s by default. */
  requestTimeoutMs?: number;
  /** The clock node states are computed with; `() => new Date()` by default. */
  now?: () => Date;
}

/** A {@link NodeDirectory} over NATS KV that can also follow the bucket. */
export interface NatsNodeDirectory extends NodeDirectory {
  /**
   * Calls onChange with a node's view each time it heartbeats and when it
   * turns down (three intervals without a heartbeat, noticed by a timer
   * here). A new watcher first gets the current view of every node known so
   * far. Watching survives NATS outages: after a reconnect the bucket is
   * read again and every node reported again. Returns the function that
   * stops this watcher. Never throws; what goes wrong is logged.
   */
  watch(onChange: (view: NodeView) => void): () => void;
  /** Stops every watcher and closes the connection it owns. Idempotent. */
  close(): Promise<void>;
}

const BUCKET_NAME = /^[-\w]+$/;
// A down timer fires this long after the deadline, so the state computed then is surely down.
const TIMER_SLACK_MS = 20;
// How long a (re)started watch runs before its silence counts: the bucket's current values arrive first.
const SETTLE_MS = 1000;

interface Known {
  record: NodeRecord;
  state: NodeView['state'];
  timer?: NodeJS.Timeout;
}

/**
 * Lists the fleet's nodes from the heartbeats in the NATS KV bucket
 * `strata_nodes` (node name → NodeStatus JSON). list() and get() read the
 * bucket at the time of the call and compute each node's state with the
 * clock; a value that is not a NodeStatus is skipped with a warning. Both
 * raise Unavailable, naming the servers, when NATS cannot be reached within
 * connectWaitMs or does not answer, and FailedPrecondition after close().
 * Raises InvalidArgument (synchronously) for a bad bucket name.
 */
export function createNatsNodeDirectory(options: NatsNodeDirectoryOptions): NatsNodeDirectory {
  const bucket = options.bucket ?? DEFAULT_NODES_BUCKET;
  if (!BUCKET_NAME.test(bucket)) {
    throw invalidArgument(`invalid KV bucket name ${JSON.stringify(bucket)}: use letters, digits, "-" and "_"`);
  }
  const connectWaitMs = options.connectWaitMs ?? 2000;
  const requestTimeoutMs = options.requestTimeoutMs ?? 5000;
  const now = options.now ?? (() => new Date());
  const serverList = (typeof options.servers === 'string' ? [options.servers] : options.servers).join(', ');
  const log = options.logger.child({ component: 'nats-node-directory', bucket });
  const owned = options.connection === undefined;
  const handle = options.connection ?? createNatsConnection({ servers: options.servers, name: 'strata-nodes', logger: log });
  const what = `the node directory (NATS KV bucket "${bucket}")`;

  let closed = false;
  let cached: { nc: NatsConnection; generation: number; kv: Promise<KV> } | undefined;

  const openBucket = (nc: NatsConnection): Promise<KV> =>
    new Kvm(jetstream(nc, { timeout: requestTimeoutMs })).create(bucket, {
      history: 1,
      description: 'Strata node heartbeats: node name → NodeStatus JSON',
    });

  async function kvOf(nc: NatsConnection): Promise<KV> {
    const generation = handle.generation();
    if (cached === undefined || cached.nc !== nc || cached.generation !== generation) {
      const entry = { nc, generation, kv: openBucket(nc) };
      cached = entry;
      entry.kv.catch(() => {
        if (cached === entry) cached = undefined;
      });
    }
    return cached.kv;
  }

  async function run<T>(op: (kv: KV) => Promise<T>): Promise<T> {
    if (closed) throw failedPrecondition(`${what} was closed`);
    const deadline = Date.now() + connectWaitMs;
    let nc = handle.current();
    while (nc === undefined) {
      const left = deadline - Date.now();
      if (closed) throw failedPrecondition(`${what} was closed`);
      if (left <= 0) {
        throw unavailable(`${what} is unavailable: NATS at ${serverList} is not reachable; check that nats-server is running with JetStream`, {
          fields: { bucket },
        });
      }
      await handle.changed(left);
      nc = handle.current();
    }
    try {
      return await op(await kvOf(nc));
    } catch (err) {
      if (isStrataError(err)) throw err;
      cached = undefined;
      throw unavailable(`${what} is unavailable: NATS at ${serverList} did not answer: ${(err as Error)?.message ?? String(err)}`, {
        cause: err,
        fields: { bucket },
      });
    }
  }

  /** The record in a PUT entry; undefined (with a warning) for anything else. */
  function recordOf(entry: KvEntry): NodeRecord | undefined {
    if (entry.operation !== 'PUT') return undefined;
    try {
      const record = parseNodeStatus(entry.json<unknown>());
      if (record.name !== entry.key) {
        log.warn({ key: entry.key, name: record.name }, 'skipping a heartbeat stored under another node\'s name');
        return undefined;
      }
      return record;
    } catch (err) {
      log.warn({ key: entry.key, err: (err as Error).message }, 'skipping a value in the node directory that is not a node status');
      return undefined;
    }
  }

  /**
   * Every node's latest heartbeat, read from the bucket's history. Bounded
   * by requestTimeoutMs: a history read that stops delivering (NATS busy,
   * the consumer lost) raises Unavailable instead of holding every caller.
   */
  async function readAll(kv: KV): Promise<NodeRecord[]> {
    const latest = new Map<string, KvEntry>();
    const entries = await kv.history({ key: '>' });
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        entries.stop();
        reject(unavailable(`${what} is unavailable: reading the node heartbeats took more than ${requestTimeoutMs} ms`, { fields: { bucket } }));
      }, requestTimeoutMs);
    });
    try {
      await Promise.race([
        (async () => {
          for await (const entry of entries) latest.set(entry.key, entry);
        })(),
        late,
      ]);
    } finally {
      clearTimeout(timer);
      entries.stop();
    }
    const out: NodeRecord[] = [];
    for (const entry of latest.values()) {
      const record = recordOf(entry);
      if (record !== undefined) out.push(record);
    }
    return out;
  }

  // Watching: one KV watcher for all listeners.
  const listeners = new Set<(view: NodeView) => void>();
  const known = new Map<string, Known>();
  let watching: Promise<void> | undefined;
  let stopWatch: (() => void) | undefined;
  let liveSince: number | undefined;
  /** True while a watch runs that has delivered the bucket's current values: list() answers from `known` then. */
  let caughtUp = false;

  const emit = (view: NodeView) => {
    for (const listener of [...listeners]) {
      try {
        listener(view);
      } catch (err) {
        log.error({ err, node: view.name }, 'a node watcher failed');
      }
    }
  };

  const schedule = (entry: Known) => {
    if (entry.timer) clearTimeout(entry.timer);
    entry.timer = undefined;
    if (entry.state === 'down') return;
    const due = entry.record.heartbeatAt.getTime() + downAfterMs(entry.record) - now().getTime() + TIMER_SLACK_MS;
    entry.timer = setTimeout(() => {
      entry.timer = undefined;
      const view = nodeView(entry.record, now());
      if (view.state === 'ready') return schedule(entry);
      // Blind (NATS down) or just (re)started: a newer heartbeat may be on its way.
      if (liveSince === undefined || Date.now() - liveSince < SETTLE_MS) {
        entry.timer = setTimeout(() => schedule(entry), SETTLE_MS / 2);
        entry.timer.unref();
        return;
      }
      entry.state = 'down';
      emit(view);
    }, Math.max(0, due));
    entry.timer.unref();
  };

  const accept = (record: NodeRecord) => {
    const previous = known.get(record.name);
    if (previous?.timer) clearTimeout(previous.timer);
    const view = nodeView(record, now());
    const entry: Known = { record, state: view.state };
    known.set(record.name, entry);
    schedule(entry);
    emit(view);
  };

  const forget = (name: string) => {
    const entry = known.get(name);
    if (entry?.timer) clearTimeout(entry.timer);
    known.delete(name);
  };

  async function watchLoop(): Promise<void> {
    let failures = 0;
    while (!closed && listeners.size > 0) {
      const nc = handle.current() ?? (await handle.connected().catch(() => undefined));
      if (nc === undefined || closed) return;
      let iterator: Awaited<ReturnType<KV['watch']>> | undefined;
      const offChange = handle.onChange(() => {
        if (handle.current() !== nc) iterator?.stop();
      });
      try {
        iterator = await (await kvOf(nc)).watch({ key: '>' });
        const running = iterator;
        stopWatch = () => running.stop();
        if (closed || listeners.size === 0 || handle.current() !== nc) iterator.stop();
        liveSince = Date.now();
        failures = 0;
        for await (const entry of iterator) {
          if (entry.operation === 'PUT') {
            const record = recordOf(entry);
            if (record !== undefined) accept(record);
          } else {
            forget(entry.key);
          }
          if (entry.delta === 0) caughtUp = true;
        }
      } catch (err) {
        cached = undefined;
        if (failures++ === 0) log.warn({ err: (err as Error)?.message }, 'watching node heartbeats failed; retrying');
      } finally {
        liveSince = undefined;
        caughtUp = false;
        offChange();
        stopWatch = undefined;
        iterator?.stop();
      }
      if (!closed && listeners.size > 0) await handle.changed(Math.min(5000, 100 * 2 ** Math.min(failures, 6)));
    }
  }

  const ensureWatching = () => {
    if (watching !== undefined || closed || listeners.size === 0) return;
    watching = watchLoop()
      .catch((err: unknown) => log.error({ err }, 'node watcher stopped'))
      .finally(() => {
        watching = undefined;
        stopTimers();
        ensureWatching();
      });
  };

  const stopTimers = () => {
    for (const entry of known.values()) if (entry.timer) clearTimeout(entry.timer);
    known.clear();
  };

  return {
    async list() {
      // A live watch holds every node's latest heartbeat already: no read of the bucket per call.
      const records = caughtUp && liveSince !== undefined ? [...known.values()].map((entry) => entry.record) : await run(readAll);
      const at = now();
      return records.map((r) => nodeView(r, at)).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    },

    async get(name) {
      const entry = await run(async (kv) => {
        try {
          return await kv.get(name);
        } catch (err) {
          if (err instanceof Error && /invalid key/i.test(err.message)) return null;
          throw err;
        }
      });
      if (entry === null) return undefined;
      const record = recordOf(entry);
      return record === undefined ? undefined : nodeView(record, now());
    },

    watch(onChange) {
      if (closed) return () => undefined;
      const listener = (view: NodeView) => onChange(view);
      listeners.add(listener);
      const at = now();
      for (const entry of known.values()) {
        try {
          listener(nodeView(entry.record, at));
        } catch (err) {
          log.error({ err, node: entry.record.name }, 'a node watcher failed');
        }
      }
      ensureWatching();
      return () => {
        listeners.delete(listener);
        if (listeners.size === 0) stopWatch?.();
      };
    },

    async close() {
      if (closed) return;
      closed = true;
      listeners.clear();
      stopWatch?.();
      stopTimers();
      if (owned) await handle.close();
      await watching;
    },
  };
}
