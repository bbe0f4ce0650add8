import { downAfterMs, type NodeView } from './node-record.js';

/**
 * A change of a node's liveness: `down` carries the node's last heartbeat
 * before it went silent, `up` the first heartbeat after it came back.
 */
export interface NodeTransition {
  kind: 'down' | 'up';
  view: NodeView;
  /**
   * The same for every watcher that sees this transition (node name, kind
   * and the heartbeat time it is about), so that publishing it as an event
   * id lets the event bus drop the copies that other watchers publish.
   */
  id: string;
}

/** Turns the views a directory watcher reports into down/up transitions. */
export interface LivenessTracker {
  /** Takes the next view of a node and returns the transitions it completes (zero, one, or down then up). */
  observe(view: NodeView): NodeTransition[];
}

function transition(kind: 'down' | 'up', view: NodeView): NodeTransition {
  return { kind, view, id: `node.${kind}:${view.name}:${view.heartbeatAt.toISOString()}` };
}

/**
 * Tracks each node's last view and reports transitions seen while
 * watching: `down` when a node this tracker knew as ready is reported down
 * with the same heartbeat; `up` when a node known as down heartbeats again.
 * A heartbeat arriving more than three intervals after the previous one,
 * before the tracker saw the node down, reports both (the node was silent
 * that long). The first view of a node reports nothing: what happened
 * before watching started is not this tracker's to announce.
 */
export function createLivenessTracker(): LivenessTracker {
  const last = new Map<string, NodeView>();
  return {
    observe(view) {
      const prev = last.get(view.name);
      last.set(view.name, view);
      if (prev === undefined) return [];
      const newer = view.heartbeatAt.getTime() > prev.heartbeatAt.getTime();
      if (view.state === 'down') {
        return prev.state === 'ready' && !newer ? [transition('down', view)] : [];
      }
      if (!newer) return [];
      if (prev.state === 'down') return [transition('up', view)];
      const gap = view.heartbeatAt.getTime() - prev.heartbeatAt.getTime();
      return gap > downAfterMs(prev) ? [transition('down', { ...prev, state: 'down' }), transition('up', view)] : [];
    },
  };
}
