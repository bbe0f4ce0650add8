import { PlacementService } from '@strata/api/placement/v1';
import { createClient, type Target } from '@strata/grpc-kit';
import type { Placement } from './placement.js';
import { decisionFromProto, requestToProto } from './proto-convert.js';

/** A client of the Placement service; close() when done. */
export interface PlacementClient extends Placement {
  /** The target as people write it (`unix:/run/strata/node-agent.sock`, `host:port`). */
  readonly name: string;
  /** Closes the channel; calls in flight are canceled. */
  close(): void;
}

/** Settings of {@link createPlacementClient}. */
export interface PlacementClientOptions {
  /** Deadline of each call in milliseconds; 10 s by default. */
  timeoutMs?: number;
}

/**
 * A client of `strata.placement.v1.Placement` at target: a node-agent's
 * unix socket, or its TCP address with mutual TLS. place() raises the
 * service's errors as Strata errors of the same kind and message
 * (InvalidArgument, NotFound, FailedPrecondition…), Unavailable when target
 * cannot be reached, DeadlineExceeded after timeoutMs. It connects on the
 * first call.
 */
export function createPlacementClient(target: Target, options: PlacementClientOptions = {}): PlacementClient {
  const client = createClient(target);
  const timeoutMs = options.timeoutMs ?? 10_000;
  return {
    name: client.name,
    async place(request) {
      const response = await client.unary(PlacementService.place, requestToProto(request), { deadline: Date.now() + timeoutMs });
      return decisionFromProto(response);
    },
    close: () => client.close(),
  };
}
