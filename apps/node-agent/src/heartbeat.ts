import { jetstream } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { createNatsConnection } from '@strata/events-nats';
import type { Logger } from '@strata/kit';

/** The KV bucket of node heartbeats. */
export const NODES_BUCKET = 'strata_nodes';

/** Settings of {@link startHeartbeat}. */
export interface HeartbeatOptions {
  natsUrl: string;
  node: string;
  intervalSeconds: number;
  /** The value to write (NodeStatus JSON), built fresh for each beat. */
  status: () => unknown;
  logger: Logger;
}

/** A running heartbeat; stop() ends it and closes its connection. */
export interface Heartbeat {
  /** Writes one heartbeat now (resolves when NATS acknowledged it; logs and resolves on failure). */
  beat(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Writes the node's status under its name in the `strata_nodes` KV bucket
 * (created when missing, history 1) at once and every intervalSeconds.
 * NATS being down only delays beats: failures are logged, never thrown.
 */
export function startHeartbeat(options: HeartbeatOptions): Heartbeat {
  const log = options.logger.child({ component: 'heartbeat' });
  const handle = createNatsConnection({ servers: options.natsUrl, name: `strata-node-agent-${options.node}`, logger: log });
  let bucket: { nc: NatsConnection; kv: Promise<KV> } | undefined;
  let stopped = false;
  let inFlight: Promise<void> | undefined;

  async function beatOnce(): Promise<void> {
    const nc = handle.current();
    if (nc === undefined) return;
    try {
      if (bucket?.nc !== nc) {
        const kv = new Kvm(jetstream(nc, { timeout: 5000 })).create(NODES_BUCKET, { history: 1, description: 'Strata node heartbeats: node name → NodeStatus JSON' });
        bucket = { nc, kv };
      }
      await (await bucket.kv).put(options.node, JSON.stringify(options.status()));
    } catch (err) {
      bucket = undefined;
      log.warn({ err }, 'heartbeat not written');
    }
  }

  const beat = () => {
    inFlight ??= beatOnce().finally(() => {
      inFlight = undefined;
    });
    return inFlight;
  };
  const timer = setInterval(() => void beat(), options.intervalSeconds * 1000);
  timer.unref();
  void handle.connected().then(() => (stopped ? undefined : beat()), () => undefined);
  return {
    beat: async () => {
      await handle.connected();
      await beat();
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      await inFlight;
      await handle.close();
    },
  };
}
