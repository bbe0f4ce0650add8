import { errorKind } from '@strata/kit';
import { describe, expect, it } from 'vitest';
import { place, type PlacementNode, type PlacementRequest } from './placement.js';
import { createPlacer } from './placer.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const T0 = Date.parse('2024-05-01T10:00:00Z');

function node(name: string, overrides: Partial<PlacementNode> = {}): PlacementNode {
  return {
    name,
    address: '',
    allocatableCpus: 8,
    allocatableMemoryBytes: 4 * GiB,
    runningContainers: 0,
    labels: {},
    heartbeatAt: new Date(T0),
    state: 'ready',
    ...overrides,
  };
}

/** Places request n times over the same node views (a burst between two heartbeats); counts per node. */
function burst(placer: { place(r: PlacementRequest, n: readonly PlacementNode[]): { node: string } }, request: PlacementRequest, nodes: PlacementNode[], n = 1000) {
  const counts: Record<string, number> = Object.fromEntries(nodes.map((v) => [v.name, 0]));
  for (let i = 0; i < n; i++) counts[placer.place(request, nodes).node]! += 1;
  return counts;
}

describe('createPlacer: 1,000 placements between two heartbeats', () => {
  it('spread evens out running containers, counting those already running', () => {
    const nodes = [node('node-a', { runningContainers: 10 }), node('node-b'), node('node-c', { runningContainers: 1 })];
    const counts = burst(createPlacer(), { strategy: 'spread' }, nodes);
    expect(counts).toEqual({ 'node-a': 327, 'node-b': 337, 'node-c': 336 });
    const totals = nodes.map((v) => v.runningContainers + counts[v.name]!);
    expect(Math.max(...totals) - Math.min(...totals)).toBeLessThanOrEqual(1);
  });

  it('the default strategy evens out free memory, so the smallest node gets nothing until the others are down to its level', () => {
    const nodes = [node('node-a'), node('node-b', { allocatableMemoryBytes: 2 * GiB }), node('node-c', { allocatableMemoryBytes: 1 * GiB })];
    const placer = createPlacer();
    expect(burst(placer, { memoryBytes: 4 * MiB }, nodes)).toEqual({ 'node-a': 756, 'node-b': 244, 'node-c': 0 });
    expect(placer.reserved('node-a')).toEqual({ memoryBytes: 756 * 4 * MiB, cpus: 0, containers: 756 });
    expect(placer.reserved('node-c')).toEqual({ memoryBytes: 0, cpus: 0, containers: 0 });
  });

  it('binpack fills the fullest node first, then the next', () => {
    const nodes = [node('node-a'), node('node-b', { allocatableMemoryBytes: 2 * GiB }), node('node-c', { allocatableMemoryBytes: 1 * GiB })];
    expect(burst(createPlacer(), { memoryBytes: 4 * MiB, strategy: 'binpack' }, nodes)).toEqual({ 'node-a': 232, 'node-b': 512, 'node-c': 256 });
  });

  it('runs out: the next placement says what the reservations took', () => {
    const placer = createPlacer();
    const nodes = [node('node-a', { allocatableMemoryBytes: 1 * GiB, allocatableCpus: 2 })];
    expect(burst(placer, { memoryBytes: 256 * MiB, cpus: 0.5 }, nodes, 4)).toEqual({ 'node-a': 4 });
    let err: unknown;
    try {
      placer.place({ memoryBytes: 256 * MiB }, nodes);
    } catch (e) {
      err = e;
    }
    expect({ kind: errorKind(err), message: (err as Error).message }).toEqual({
      kind: 'FailedPrecondition',
      message: 'no node can run the container: node-a: 256 MiB memory requested, 0 bytes free (1 GiB allocatable, 1 GiB reserved since its last heartbeat)',
    });
    expect(placer.reserved('node-a')).toEqual({ memoryBytes: 1 * GiB, cpus: 2, containers: 4 });
  });

  it('without reservations every placement of the burst goes to the same node', () => {
    const nodes = [node('node-a'), node('node-b')];
    expect(burst({ place: (r, n) => place(r, n) }, { strategy: 'spread' }, nodes)).toEqual({ 'node-a': 1000, 'node-b': 0 });
  });
});

describe('createPlacer: reservations end with the next heartbeat', () => {
  it('drops a node\'s reservations when a newer heartbeat of it arrives, and keeps them for an older view', () => {
    const placer = createPlacer();
    const first = [node('node-a'), node('node-b')];
    expect(burst(placer, { strategy: 'spread', memoryBytes: MiB }, first, 4)).toEqual({ 'node-a': 2, 'node-b': 2 });

    // node-a heartbeats again: its allocatable numbers now count its 2 containers.
    const later = [node('node-a', { heartbeatAt: new Date(T0 + 5000), runningContainers: 2, allocatableMemoryBytes: 4 * GiB - 2 * MiB }), first[1]!];
    const decision = placer.place({ strategy: 'spread', memoryBytes: MiB }, later);
    expect(decision.node).toBe('node-a');
    expect(decision.candidates.map((c) => [c.node, c.runningContainers])).toEqual([
      ['node-a', 2],
      ['node-b', 2],
    ]);
    expect(placer.reserved('node-a')).toEqual({ memoryBytes: MiB, cpus: 0, containers: 1 });
    expect(placer.reserved('node-b')).toEqual({ memoryBytes: 2 * MiB, cpus: 0, containers: 2 });

    // A slower read still showing node-a's first heartbeat keeps what was reserved since the second.
    placer.place({ strategy: 'spread', node: 'node-b' }, first);
    expect(placer.reserved('node-a')).toEqual({ memoryBytes: MiB, cpus: 0, containers: 1 });
    expect(placer.reserved('node-b')).toEqual({ memoryBytes: 2 * MiB, cpus: 0, containers: 3 });
  });

  it('reserves nothing when a placement fails, and skips nodes that are down', () => {
    const placer = createPlacer();
    const nodes = [node('node-a', { state: 'down' }), node('node-b', { labels: { zone: 'eu-1' } })];
    expect(() => placer.place({ constraints: [{ key: 'zone', value: 'us-2', op: '==' }] }, nodes)).toThrow(
      'no node can run the container: node-a: down; node-b: label zone=eu-1 does not match zone=us-2',
    );
    expect(placer.reserved('node-b')).toEqual({ memoryBytes: 0, cpus: 0, containers: 0 });
    expect(burst(placer, {}, nodes, 10)).toEqual({ 'node-a': 0, 'node-b': 10 });
  });
});
