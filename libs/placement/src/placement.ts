import { failedPrecondition, invalidArgument, notFound } from '@strata/kit';
import { constraintMismatch, validateConstraint, type Constraint } from './constraint.js';
import { formatBytes, formatCpus } from './format-bytes.js';

/** `ready` while a node heartbeats; `down` when its last heartbeat is older than three intervals. */
export type NodeState = 'ready' | 'down';

/**
 * What placement reads of a node. A NodeView of `@strata/nodes` (what a
 * NodeDirectory lists) is one; placement declares only what it uses.
 */
export interface PlacementNode {
  name: string;
  /** `host:port` of its node-agent; empty when it serves only its unix socket. */
  address: string;
  state: NodeState;
  /** CPUs left for containers by its last heartbeat. */
  allocatableCpus: number;
  /** Memory left for containers by its last heartbeat, in bytes. */
  allocatableMemoryBytes: number;
  runningContainers: number;
  labels: Record<string, string>;
  /** When its last heartbeat was written. */
  heartbeatAt: Date;
}

/**
 * How placement ranks the nodes a container fits on:
 * - `memory` (the default): most free memory; ties go to fewer running containers;
 * - `spread`: fewest running containers; ties go to more free memory;
 * - `binpack`: least free memory that still fits; ties go to more running containers.
 * Remaining ties go to the node whose name sorts first.
 */
export type Strategy = 'memory' | 'spread' | 'binpack';

/** Every {@link Strategy}, the default first. */
export const STRATEGIES: readonly Strategy[] = ['memory', 'spread', 'binpack'];

/** The strategy used when a request names none. */
export const DEFAULT_STRATEGY: Strategy = 'memory';

/** What a container needs from a node. */
export interface PlacementRequest {
  /** Its memory limit in bytes; 0 or absent: no limit, fits anywhere. */
  memoryBytes?: number;
  /** Its CPU limit; 0 or absent: no limit. */
  cpus?: number;
  /** Run on this node only (it must still be ready, satisfy the constraints and fit). */
  node?: string;
  /** Every one must hold on the node. */
  constraints?: readonly Constraint[];
  /** {@link DEFAULT_STRATEGY} when absent. */
  strategy?: Strategy;
}

/** What placements since a node's last heartbeat hold on it (the heartbeat does not count them yet). */
export interface Reservation {
  memoryBytes: number;
  cpus: number;
  containers: number;
}

/** A reservation of nothing. */
export const NO_RESERVATION: Readonly<Reservation> = Object.freeze({ memoryBytes: 0, cpus: 0, containers: 0 });

/** One node placement looked at, and what it found. */
export interface Candidate {
  node: string;
  address: string;
  state: NodeState;
  /** True when the container can run there. */
  feasible: boolean;
  /**
   * Why: the failed checks (`down`; `label zone=eu-1 does not match
   * zone=us-2`; `256 MiB memory requested, 120 MiB allocatable`), or its
   * rank among the feasible nodes (`chosen: most free memory (…)`).
   */
  reason: string;
  /** Allocatable memory minus what recent placements reserved. */
  freeMemoryBytes: number;
  /** Allocatable CPUs minus what recent placements reserved. */
  freeCpus: number;
  /** Running containers, counting those placed since its last heartbeat. */
  runningContainers: number;
  /** What placements since its last heartbeat reserved. */
  reserved: Reservation;
}

/** Where a container goes, and why. */
export interface PlacementDecision {
  node: string;
  /** The chosen node-agent's `host:port`; empty when it serves only its unix socket. */
  address: string;
  strategy: Strategy;
  /** A sentence saying why this node, e.g. `most free memory of 3 feasible nodes (3.5 GiB free, 4 running containers)`. */
  reason: string;
  /** Every node considered: the feasible ones best first, then the others by name. */
  candidates: Candidate[];
}

/** Settings of {@link place}. */
export interface PlaceOptions {
  /** What placements since each node's last heartbeat reserved, by node name. */
  reservations?: ReadonlyMap<string, Reservation>;
}

const RANKED_BY: Record<Strategy, string> = {
  memory: 'most free memory',
  spread: 'fewest running containers',
  binpack: 'least free memory that fits',
};

/** Start of the message of every "nothing fits" error. */
export const NOTHING_FITS = 'no node can run the container';

/**
 * Checks a request's values. InvalidArgument naming the bad one: memory
 * that is not a whole non-negative number of bytes, CPUs that are negative
 * or not a number, an unknown strategy, or an invalid constraint.
 */
export function validatePlacementRequest(request: PlacementRequest): void {
  const memory = request.memoryBytes ?? 0;
  if (!Number.isSafeInteger(memory) || memory < 0) throw invalidArgument(`invalid memory request ${String(request.memoryBytes)}: give a whole number of bytes, 0 or more`);
  const cpus = request.cpus ?? 0;
  if (!Number.isFinite(cpus) || cpus < 0) throw invalidArgument(`invalid CPU request ${String(request.cpus)}: give a number of CPUs, 0 or more`);
  if (request.strategy !== undefined && !STRATEGIES.includes(request.strategy)) {
    throw invalidArgument(`unknown placement strategy ${JSON.stringify(request.strategy)}: use ${STRATEGIES.join(', ')}`);
  }
  for (const c of request.constraints ?? []) validateConstraint(c);
}

interface Assessed {
  view: PlacementNode;
  candidate: Candidate;
}

function assess(request: PlacementRequest, view: PlacementNode, reserved: Reservation): Candidate {
  const freeMemoryBytes = view.allocatableMemoryBytes - reserved.memoryBytes;
  const freeCpus = view.allocatableCpus - reserved.cpus;
  const base = {
    node: view.name,
    address: view.address,
    state: view.state,
    freeMemoryBytes,
    freeCpus,
    runningContainers: view.runningContainers + reserved.containers,
    reserved: { ...reserved },
  };
  if (view.state !== 'ready') return { ...base, feasible: false, reason: 'down' };
  const failures: string[] = [];
  for (const c of request.constraints ?? []) {
    const mismatch = constraintMismatch(c, view);
    if (mismatch !== undefined) failures.push(mismatch);
  }
  const memory = request.memoryBytes ?? 0;
  if (memory > 0 && memory > freeMemoryBytes) {
    failures.push(
      reserved.memoryBytes > 0
        ? `${formatBytes(memory)} memory requested, ${formatBytes(freeMemoryBytes)} free (${formatBytes(view.allocatableMemoryBytes)} allocatable, ${formatBytes(reserved.memoryBytes)} reserved since its last heartbeat)`
        : `${formatBytes(memory)} memory requested, ${formatBytes(view.allocatableMemoryBytes)} allocatable`,
    );
  }
  const cpus = request.cpus ?? 0;
  if (cpus > 0 && cpus > freeCpus + 1e-9) {
    const unit = cpus === 1 ? 'CPU' : 'CPUs';
    failures.push(
      reserved.cpus > 0
        ? `${formatCpus(cpus)} ${unit} requested, ${formatCpus(freeCpus)} free (${formatCpus(view.allocatableCpus)} allocatable, ${formatCpus(reserved.cpus)} reserved since its last heartbeat)`
        : `${formatCpus(cpus)} ${unit} requested, ${formatCpus(view.allocatableCpus)} allocatable`,
    );
  }
  return { ...base, feasible: failures.length === 0, reason: failures.join(', ') };
}

function compare(strategy: Strategy): (a: Candidate, b: Candidate) => number {
  const byName = (a: Candidate, b: Candidate) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0);
  switch (strategy) {
    case 'spread':
      return (a, b) => a.runningContainers - b.runningContainers || b.freeMemoryBytes - a.freeMemoryBytes || byName(a, b);
    case 'binpack':
      return (a, b) => a.freeMemoryBytes - b.freeMemoryBytes || b.runningContainers - a.runningContainers || byName(a, b);
    case 'memory':
      return (a, b) => b.freeMemoryBytes - a.freeMemoryBytes || a.runningContainers - b.runningContainers || byName(a, b);
  }
}

function standing(c: Candidate): string {
  const placed = c.reserved.containers > 0 ? `, ${c.reserved.containers} placed since its last heartbeat` : '';
  const containers = c.runningContainers === 1 ? '1 running container' : `${c.runningContainers} running containers`;
  return `${formatBytes(c.freeMemoryBytes)} free, ${containers}${placed}`;
}

function listNames(names: readonly string[]): string {
  const shown = names.slice(0, 10).join(', ');
  return names.length > 10 ? `${shown}, … (${names.length} in all)` : shown;
}

/**
 * Chooses the node for a container among nodes (the fleet as a
 * NodeDirectory lists it), by request.strategy, taking the reservations
 * of recent placements into account: a node's free memory and CPUs are its
 * allocatable ones minus what was reserved since its last heartbeat, and
 * its running containers include those placed since. Only ready nodes that
 * satisfy every constraint and have the requested memory and CPUs free are
 * feasible. Pure: reserves nothing (see createPlacer for that).
 *
 * Raises InvalidArgument for an invalid request ({@link validatePlacementRequest});
 * NotFound (`no such node: x`) when request.node names no node in nodes;
 * FailedPrecondition when no node is feasible, its message saying what
 * failed on each node: `no node can run the container: node-a: down;
 * node-b: label zone=eu-1 does not match zone=us-2; node-c: 256 MiB memory
 * requested, 120 MiB allocatable`.
 */
export function place(request: PlacementRequest, nodes: readonly PlacementNode[], options: PlaceOptions = {}): PlacementDecision {
  validatePlacementRequest(request);
  const strategy = request.strategy ?? DEFAULT_STRATEGY;
  const wanted = request.node === undefined || request.node === '' ? undefined : request.node;
  let considered = [...nodes].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  if (wanted !== undefined) {
    considered = considered.filter((n) => n.name === wanted);
    if (considered.length === 0) {
      const known = nodes.map((n) => n.name).sort();
      throw notFound(`no such node: ${wanted}${known.length > 0 ? ` (known nodes: ${listNames(known)})` : ''}`, { fields: { node: wanted } });
    }
  }
  if (considered.length === 0) throw failedPrecondition(`${NOTHING_FITS}: no node has sent a heartbeat`);

  const assessed: Assessed[] = considered.map((view) => ({
    view,
    candidate: assess(request, view, options.reservations?.get(view.name) ?? NO_RESERVATION),
  }));
  const feasible = assessed.filter((a) => a.candidate.feasible).map((a) => a.candidate);
  const infeasible = assessed.filter((a) => !a.candidate.feasible).map((a) => a.candidate);
  if (feasible.length === 0) {
    throw failedPrecondition(`${NOTHING_FITS}: ${infeasible.map((c) => `${c.node}: ${c.reason}`).join('; ')}`, {
      fields: wanted === undefined ? {} : { node: wanted },
    });
  }
  feasible.sort(compare(strategy));
  const by = RANKED_BY[strategy];
  feasible.forEach((c, i) => {
    c.reason = i === 0 ? `chosen: ${by} (${standing(c)})` : `fits, ranked ${i + 1} of ${feasible.length} by ${by} (${standing(c)})`;
  });
  const [best] = feasible as [Candidate, ...Candidate[]];
  const reason =
    wanted !== undefined
      ? `node ${wanted} was asked for and fits (${standing(best)})`
      : `${by} of ${feasible.length} feasible ${feasible.length === 1 ? 'node' : 'nodes'} (${standing(best)})`;
  return { node: best.node, address: best.address, strategy, reason, candidates: [...feasible, ...infeasible] };
}
