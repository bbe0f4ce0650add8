import { PlacementDecided } from '@strata/api/events/v1/placement';
import {
  ConstraintOperator,
  Strategy as ProtoStrategy,
  type Candidate as ProtoCandidate,
  type PlaceRequest,
  type PlaceResponse,
} from '@strata/api/placement/v1';
import { invalidArgument } from '@strata/kit';
import { formatConstraint, type Candidate, type Constraint, type PlacementDecision, type Strategy } from '@strata/placement';
import type { PlaceContainerRequest } from './placement.js';

const TO_PROTO_STRATEGY: Record<Strategy, ProtoStrategy> = {
  memory: ProtoStrategy.STRATEGY_MEMORY,
  spread: ProtoStrategy.STRATEGY_SPREAD,
  binpack: ProtoStrategy.STRATEGY_BINPACK,
};

function strategyFromProto(s: ProtoStrategy): Strategy | undefined {
  switch (s) {
    case ProtoStrategy.STRATEGY_UNSPECIFIED:
      return undefined;
    case ProtoStrategy.STRATEGY_MEMORY:
      return 'memory';
    case ProtoStrategy.STRATEGY_SPREAD:
      return 'spread';
    case ProtoStrategy.STRATEGY_BINPACK:
      return 'binpack';
    default:
      throw invalidArgument(`unknown placement strategy ${String(s)}: use STRATEGY_MEMORY, STRATEGY_SPREAD or STRATEGY_BINPACK`);
  }
}

function constraintFromProto(c: { key: string; value: string; operator: ConstraintOperator }): Constraint {
  switch (c.operator) {
    case ConstraintOperator.CONSTRAINT_OPERATOR_EQUAL:
      return { key: c.key, value: c.value, op: '==' };
    case ConstraintOperator.CONSTRAINT_OPERATOR_NOT_EQUAL:
      return { key: c.key, value: c.value, op: '!=' };
    default:
      throw invalidArgument(`constraint on ${JSON.stringify(c.key)} has no operator: use CONSTRAINT_OPERATOR_EQUAL or CONSTRAINT_OPERATOR_NOT_EQUAL`);
  }
}

/** The request a PlaceRequest message carries. InvalidArgument for an unknown strategy or a constraint without operator. */
export function requestFromProto(p: PlaceRequest): PlaceContainerRequest {
  const strategy = strategyFromProto(p.strategy);
  return {
    ...(p.memoryBytes !== 0 ? { memoryBytes: p.memoryBytes } : {}),
    ...(p.cpus !== 0 ? { cpus: p.cpus } : {}),
    ...(p.node !== '' ? { node: p.node } : {}),
    constraints: p.constraints.map(constraintFromProto),
    ...(strategy !== undefined ? { strategy } : {}),
    ...(p.containerName !== '' ? { containerName: p.containerName } : {}),
    ...(p.containerId !== '' ? { containerId: p.containerId } : {}),
  };
}

/** The PlaceRequest message of a request. */
export function requestToProto(r: PlaceContainerRequest): PlaceRequest {
  return {
    memoryBytes: r.memoryBytes ?? 0,
    cpus: r.cpus ?? 0,
    node: r.node ?? '',
    constraints: (r.constraints ?? []).map((c) => ({
      key: c.key,
      value: c.value,
      operator: c.op === '!=' ? ConstraintOperator.CONSTRAINT_OPERATOR_NOT_EQUAL : ConstraintOperator.CONSTRAINT_OPERATOR_EQUAL,
    })),
    strategy: r.strategy === undefined ? ProtoStrategy.STRATEGY_UNSPECIFIED : TO_PROTO_STRATEGY[r.strategy],
    containerName: r.containerName ?? '',
    containerId: r.containerId ?? '',
  };
}

function candidateToProto(c: Candidate): ProtoCandidate {
  return {
    node: c.node,
    address: c.address,
    feasible: c.feasible,
    reason: c.reason,
    state: c.state,
    freeMemoryBytes: c.freeMemoryBytes,
    freeCpus: c.freeCpus,
    runningContainers: c.runningContainers,
    reservedContainers: c.reserved.containers,
    reservedMemoryBytes: c.reserved.memoryBytes,
    reservedCpus: c.reserved.cpus,
  };
}

function candidateFromProto(c: ProtoCandidate): Candidate {
  return {
    node: c.node,
    address: c.address,
    state: c.state === 'ready' ? 'ready' : 'down',
    feasible: c.feasible,
    reason: c.reason,
    freeMemoryBytes: c.freeMemoryBytes,
    freeCpus: c.freeCpus,
    runningContainers: c.runningContainers,
    reserved: { memoryBytes: c.reservedMemoryBytes, cpus: c.reservedCpus, containers: c.reservedContainers },
  };
}

/** The PlaceResponse message of a decision. */
export function decisionToProto(d: PlacementDecision): PlaceResponse {
  return { node: d.node, address: d.address, strategy: TO_PROTO_STRATEGY[d.strategy], reason: d.reason, candidates: d.candidates.map(candidateToProto) };
}

/** The decision a PlaceResponse carries (an unspecified strategy reads as the default, `memory`). */
export function decisionFromProto(p: PlaceResponse): PlacementDecision {
  return {
    node: p.node,
    address: p.address,
    strategy: strategyFromProto(p.strategy) ?? 'memory',
    reason: p.reason,
    candidates: p.candidates.map(candidateFromProto),
  };
}

/** The data of event `placement.decided` (PlacementDecided, JSON mapping) for a decision on request. */
export function placementDecidedJson(request: PlaceContainerRequest, d: PlacementDecision): unknown {
  return PlacementDecided.toJSON({
    containerName: request.containerName ?? '',
    containerId: request.containerId ?? '',
    node: d.node,
    address: d.address,
    strategy: d.strategy,
    reason: d.reason,
    request: {
      memoryBytes: request.memoryBytes ?? 0,
      cpus: request.cpus ?? 0,
      node: request.node ?? '',
      constraints: (request.constraints ?? []).map(formatConstraint),
      strategy: request.strategy ?? '',
    },
    candidates: d.candidates.length,
    feasible: d.candidates.filter((c) => c.feasible).length,
  });
}
