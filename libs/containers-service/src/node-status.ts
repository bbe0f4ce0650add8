import { cpus, release, totalmem } from 'node:os';
import { NodeStatus } from '@strata/api/nodes/v1';
import type { ContainersSummary } from './container-manager.js';

/** What a heartbeat says about the node besides its containers. */
export interface NodeFacts {
  name: string;
  /** `host:port` other hosts reach the agent at; empty for the unix socket only. */
  address?: string;
  labels?: Record<string, string>;
  cgroupVersion: 1 | 2;
  /** e.g. `runc 1.1.5`. */
  runtime: string;
  version: string;
  heartbeatIntervalSeconds: number;
}

/**
 * The NodeStatus heartbeat of this host (CPUs, memory, what running
 * containers' limits leave allocatable, container counts) in its JSON
 * mapping, as written under the node's name in the `strata_nodes` bucket.
 */
export function nodeStatusJson(facts: NodeFacts, summary: ContainersSummary, now: Date = new Date()): unknown {
  const cpuCount = cpus().length;
  const memory = totalmem();
  return NodeStatus.toJSON({
    name: facts.name,
    address: facts.address ?? '',
    cpus: cpuCount,
    memoryBytes: memory,
    allocatableCpus: Math.max(0, cpuCount - summary.cpusLimited),
    allocatableMemoryBytes: Math.max(0, memory - summary.memoryLimited),
    runningContainers: summary.running,
    containers: summary.containers,
    labels: { ...(facts.labels ?? {}) },
    cgroupVersion: facts.cgroupVersion,
    runtime: facts.runtime,
    kernel: release(),
    heartbeatAt: now,
    heartbeatIntervalSeconds: facts.heartbeatIntervalSeconds,
    version: facts.version,
  });
}
