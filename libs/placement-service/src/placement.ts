import type { EventSink, Logger } from '@strata/kit';
import type { NodeDirectory, NodeView } from '@strata/nodes';
import { createPlacer, validatePlacementRequest, type PlacementDecision, type PlacementRequest, type Placer } from '@strata/placement';
import { placementDecidedJson } from './proto-convert.js';

/** What a container needs (see PlacementRequest), and who it is, for the `placement.decided` event. */
export interface PlaceContainerRequest extends PlacementRequest {
  /** The container's name when the caller knows it; only reported in the event. */
  containerName?: string;
  /** The container's id when the caller knows it; only reported in the event. */
  containerId?: string;
}

/**
 * Placement of containers on the fleet's nodes. The in-process
 * implementation ({@link createPlacement}) and the gRPC client
 * (createPlacementClient) both implement it.
 */
export interface Placement {
  /**
   * Chooses the node for a container and reserves what it asks for there
   * until that node's next heartbeat. Raises InvalidArgument for an invalid
   * request, NotFound (`no such node: x`) for an unknown request.node,
   * FailedPrecondition (`no node can run the container: node-a: down; …`)
   * when no node is feasible, Unavailable when the nodes cannot be read.
   */
  place(request: PlaceContainerRequest): Promise<PlacementDecision>;
}

/** Settings of {@link createPlacement}. */
export interface PlacementOptions {
  /** Where the nodes' heartbeats are read (createNatsNodeDirectory in a service). */
  directory: NodeDirectory;
  /** Where `placement.decided` goes. */
  events: EventSink;
  logger: Logger;
  /** Holds the reservations; a fresh createPlacer() by default. */
  placer?: Placer;
}

/**
 * Placement over the nodes directory lists at each call, with a
 * {@link Placer} remembering what was placed since each node's last
 * heartbeat. Calls that arrive while a listing is under way share it. Each
 * decision is published as event `placement.decided`
 * (data PlacementDecided; subject the container id, else its name, else the
 * chosen node). Failed placements publish nothing.
 */
export function createPlacement(options: PlacementOptions): Placement {
  const placer = options.placer ?? createPlacer();
  const log = options.logger.child({ component: 'placement' });
  let listing: Promise<NodeView[]> | undefined;
  const list = () =>
    (listing ??= options.directory.list().finally(() => {
      listing = undefined;
    }));
  return {
    async place(request) {
      validatePlacementRequest(request);
      const nodes = await list();
      const decision = placer.place(request, nodes);
      const subject = request.containerId || request.containerName || decision.node;
      options.events.publish('placement.decided', subject, placementDecidedJson(request, decision));
      log.debug({ node: decision.node, strategy: decision.strategy, container: request.containerName ?? request.containerId }, decision.reason);
      return decision;
    },
  };
}
