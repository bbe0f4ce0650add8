import { NodeDown, NodeUp } from '@strata/api/events/v1/nodes';
import type { EventSink, Logger } from '@strata/kit';
import { createLivenessTracker, type NodeTransition } from '@strata/nodes';
import { createNatsNodeDirectory, type NatsNodeDirectory } from '@strata/nodes-nats';

/** Settings of {@link startNodeLiveness}. */
export interface NodeLivenessOptions {
  natsUrl: string;
  events: EventSink;
  logger: Logger;
  /** KV bucket of heartbeats; `strata_nodes` by default. */
  bucket?: string;
}

/** A running liveness watch; stop() ends it. */
export interface NodeLiveness {
  readonly directory: NatsNodeDirectory;
  stop(): Promise<void>;
}

/** Publishes one transition as `node.down` or `node.up`, under the transition's id. */
export function publishTransition(events: EventSink, transition: NodeTransition): void {
  const { view } = transition;
  if (transition.kind === 'down') {
    const data = NodeDown.toJSON({ node: view.name, address: view.address, lastHeartbeatAt: view.heartbeatAt.toISOString() });
    events.publish('node.down', view.name, data, { id: transition.id });
  } else {
    const data = NodeUp.toJSON({ node: view.name, address: view.address, containers: view.containers, runningContainers: view.runningContainers });
    events.publish('node.up', view.name, data, { id: transition.id });
  }
}

/**
 * Watches every node's heartbeats in the `strata_nodes` bucket and publishes
 * `node.down` when a node it saw ready has not heartbeated for three
 * intervals, and `node.up` when a node it saw down heartbeats again. Every
 * agent of the fleet runs this; the event ids are derived from the node and
 * the heartbeat the transition is about, so JetStream keeps one copy of
 * each. Never throws: NATS outages are retried and logged by the directory.
 */
export function startNodeLiveness(options: NodeLivenessOptions): NodeLiveness {
  const log = options.logger.child({ component: 'node-liveness' });
  const directory = createNatsNodeDirectory({
    servers: options.natsUrl,
    logger: log,
    ...(options.bucket === undefined ? {} : { bucket: options.bucket }),
  });
  const tracker = createLivenessTracker();
  const stopWatching = directory.watch((view) => {
    for (const transition of tracker.observe(view)) {
      log.info({ node: view.name, address: view.address, heartbeatAt: view.heartbeatAt }, `node ${transition.kind}`);
      publishTransition(options.events, transition);
    }
  });
  return {
    directory,
    async stop() {
      stopWatching();
      await directory.close();
    },
  };
}
