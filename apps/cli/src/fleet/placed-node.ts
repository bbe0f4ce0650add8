import { join, resolve } from 'node:path';
import type { RpcClient } from '@strata/grpc-kit';
import { isFailedPrecondition, isUnavailable, isUnimplemented } from '@strata/kit';
import type { Constraint, Strategy } from '@strata/placement';
import { clientTlsFiles, nodeClientsFromFlags, type FleetFlagValues, type NodeClients } from './node-clients.js';

/** Values of the placement flags of `run` and `create`. */
export interface PlacementFlagValues {
  /** `--node NAME`. */
  node: string | undefined;
  /** `--constraint key=value` / `key!=value`, parsed. */
  constraint: Constraint[];
  /** `--strategy`. */
  strategy: Strategy | undefined;
}

/**
 * How `run` and `create` choose their node:
 * - `asked`: a placement flag (--node, --constraint, --strategy) is given:
 *   the local agent's Placement decides, and its errors are the command's;
 * - `fleet`: no placement flag, but the CLI can call the fleet's nodes (a
 *   client certificate of the fleet CA is configured: --tls-* flags,
 *   STRATA_TLS_* variables, or `strata ca issue client` files): Placement
 *   decides as in Docker Swarm, unless the local agent runs without NATS
 *   (then the container is made here, as without a fleet) or cannot read
 *   the nodes now (NATS down: made here, with a note on stderr);
 * - `local`: neither: the local agent makes the container, without any
 *   call to Placement (the single-host default).
 */
export type PlacementMode = 'asked' | 'fleet' | 'local';

/** The {@link PlacementMode} of a command line. InvalidArgument when only some TLS flags are given. */
export function placementMode(values: FleetFlagValues & PlacementFlagValues, env: Readonly<Record<string, string | undefined>>): PlacementMode {
  if (values.node !== undefined || values.constraint.length > 0 || values.strategy !== undefined) return 'asked';
  return clientTlsFiles(values, env) === undefined ? 'local' : 'fleet';
}

/** What the container asks of its node (from --memory, --cpus, --name). */
export interface PlacementNeeds {
  memoryBytes?: number;
  cpus?: number;
  containerName?: string;
}

/** The node placement chose and the Containers client of its agent. */
export interface PlacedNode {
  node: string;
  /** True when it is this host's node (its agent is called through the unix socket). */
  local: boolean;
  client: RpcClient;
  /** The fleet's clients; the caller closes them when done. */
  fleet: NodeClients;
}

/**
 * Asks the Placement service of the agent under flags.runDir (its unix
 * socket) where the container goes, and opens the Containers client of
 * that node: the local socket when it is this node, else TCP with mutual
 * TLS at the address the decision names. Resolves undefined in `fleet`
 * mode when the local agent cannot place (it runs without NATS, or serves
 * no Placement; or NATS is unavailable, which warn is told): the container
 * is then made here. Raises Placement's
 * errors otherwise (FailedPrecondition `no node can run the container:
 * node-a: …; node-b: …`, NotFound `no such node: x (known nodes: …)`,
 * InvalidArgument, Unavailable), and NodeClients' FailedPrecondition when
 * the chosen node cannot be called (no client certificate, no TCP address).
 */
export async function placeContainer(
  mode: Exclude<PlacementMode, 'local'>,
  values: FleetFlagValues & PlacementFlagValues & { runDir: string },
  needs: PlacementNeeds,
  env: Readonly<Record<string, string | undefined>>,
  warn: (line: string) => void,
): Promise<PlacedNode | undefined> {
  const { createPlacementClient } = await import('@strata/placement-service');
  const placement = createPlacementClient({ unixSocket: join(resolve(values.runDir), 'node-agent.sock') });
  let decision;
  try {
    decision = await placement.place({
      ...(needs.memoryBytes ? { memoryBytes: needs.memoryBytes } : {}),
      ...(needs.cpus ? { cpus: needs.cpus } : {}),
      ...(values.node === undefined ? {} : { node: values.node }),
      constraints: values.constraint,
      ...(values.strategy === undefined ? {} : { strategy: values.strategy }),
      ...(needs.containerName === undefined ? {} : { containerName: needs.containerName }),
    });
  } catch (err) {
    if (mode === 'fleet' && cannotPlaceHere(err)) return undefined;
    if (mode === 'fleet' && isUnavailable(err) && err.message.startsWith('the node directory')) {
      warn(`strata: ${err.message}; running the container on this node\n`);
      return undefined;
    }
    throw err;
  } finally {
    placement.close();
  }
  const fleet = await nodeClientsFromFlags(values, env);
  try {
    const client = await fleet.clientAt(decision.node, decision.address);
    return { node: decision.node, local: decision.node === fleet.localNode, client, fleet };
  } catch (err) {
    await fleet.close();
    throw err;
  }
}

/** True for an agent that has no fleet to place on: it runs without NATS, or does not serve Placement. */
function cannotPlaceHere(err: unknown): boolean {
  return (isFailedPrecondition(err) && err.message.startsWith('placement needs')) || isUnimplemented(err);
}
