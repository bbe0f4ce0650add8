import { PlacementService, type PlacementServer } from '@strata/api/placement/v1';
import { unary, type ServiceRegistration } from '@strata/grpc-kit';
import { createPlacement, type Placement, type PlacementOptions } from './placement.js';
import { decisionToProto, requestFromProto } from './proto-convert.js';

/** The Placement gRPC service and the placement behind it. */
export interface PlacementServices {
  /** The placement, for callers in the same process (it shares the reservations). */
  placement: Placement;
  /** The `strata.placement.v1.Placement` implementation. */
  server: PlacementServer;
  /** Ready for grpc-kit's createServer. */
  registrations: ServiceRegistration[];
}

/**
 * Serves {@link createPlacement} as `strata.placement.v1.Placement`. Errors
 * reach clients through grpc-kit's status translation only: InvalidArgument
 * → INVALID_ARGUMENT (also for an unknown strategy or a constraint without
 * operator), NotFound → NOT_FOUND, FailedPrecondition →
 * FAILED_PRECONDITION, Unavailable → UNAVAILABLE, each with its message.
 */
export function createPlacementService(options: PlacementOptions): PlacementServices {
  const placement = createPlacement(options);
  const server: PlacementServer = {
    place: unary(options.logger, async (request) => decisionToProto(await placement.place(requestFromProto(request)))),
  };
  return { placement, server, registrations: [{ definition: PlacementService, implementation: server }] };
}
