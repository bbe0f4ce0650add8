import { NO_RESERVATION, place, type PlacementDecision, type PlacementNode, type PlacementRequest, type Reservation } from './placement.js';

/**
 * Placement with memory: it reserves what each decision gives a node until
 * that node's next heartbeat, so a burst of placements between two
 * heartbeats (every 5 s) does not send every container to the node that
 * looked best in the last one.
 */
export interface Placer {
  /**
   * Decides like {@link place} over nodes with the reservations held, then
   * reserves request's memory, CPUs and one container on the chosen node.
   * Reservations of a node are dropped first when its view in nodes carries
   * a heartbeat newer than any this placer saw for it: that heartbeat's
   * allocatable numbers are meant to include those containers. An older
   * view (a slower read racing a newer one) keeps them. Raises what place
   * raises, reserving nothing then.
   */
  place(request: PlacementRequest, nodes: readonly PlacementNode[]): PlacementDecision;
  /** What placements since node's last heartbeat reserved on it. */
  reserved(node: string): Reservation;
}

interface Held {
  /** Newest heartbeat seen for the node, in ms since the epoch. */
  heartbeatAt: number;
  reservation: Reservation;
}

/** Creates a {@link Placer} holding no reservations. */
export function createPlacer(): Placer {
  const held = new Map<string, Held>();

  const expire = (nodes: readonly PlacementNode[]) => {
    for (const view of nodes) {
      const h = held.get(view.name);
      if (h !== undefined && view.heartbeatAt.getTime() > h.heartbeatAt) held.delete(view.name);
    }
  };

  return {
    place(request, nodes) {
      expire(nodes);
      const reservations = new Map([...held].map(([name, h]) => [name, h.reservation]));
      const decision = place(request, nodes, { reservations });
      const view = nodes.find((n) => n.name === decision.node);
      const seen = view?.heartbeatAt.getTime() ?? 0;
      const h = held.get(decision.node) ?? { heartbeatAt: seen, reservation: { ...NO_RESERVATION } };
      h.heartbeatAt = Math.max(h.heartbeatAt, seen);
      h.reservation.memoryBytes += request.memoryBytes ?? 0;
      h.reservation.cpus += request.cpus ?? 0;
      h.reservation.containers += 1;
      held.set(decision.node, h);
      return decision;
    },
    reserved: (node) => ({ ...(held.get(node)?.reservation ?? NO_RESERVATION) }),
  };
}
