import { errorKind } from '@strata/kit';
import { describe, expect, it } from 'vitest';
import { parseConstraint } from './constraint.js';
import { formatBytes } from './format-bytes.js';
import { place, type PlacementNode, type PlacementRequest, type Reservation } from './placement.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

function node(name: string, overrides: Partial<PlacementNode> = {}): PlacementNode {
  return {
    name,
    address: `${name}:7443`,
    allocatableCpus: 4,
    allocatableMemoryBytes: 4 * GiB,
    runningContainers: 0,
    labels: {},
    heartbeatAt: new Date('2024-05-01T10:00:00Z'),
    state: 'ready',
    ...overrides,
  };
}

function failure(fn: () => unknown): { kind: string; message: string } {
  try {
    fn();
  } catch (err) {
    return { kind: errorKind(err), message: (err as Error).message };
  }
  throw new Error('expected an error');
}

const fleet = [
  node('node-a', { allocatableMemoryBytes: 2 * GiB, runningContainers: 1 }),
  node('node-b', { allocatableMemoryBytes: 6 * GiB, runningContainers: 5 }),
  node('node-c', { allocatableMemoryBytes: 1 * GiB, runningContainers: 3 }),
];

describe('place', () => {
  it.each([
    [{}, 'node-b', 'most free memory of 3 feasible nodes (6 GiB free, 5 running containers)'],
    [{ strategy: 'memory' }, 'node-b', 'most free memory of 3 feasible nodes (6 GiB free, 5 running containers)'],
    [{ strategy: 'spread' }, 'node-a', 'fewest running containers of 3 feasible nodes (2 GiB free, 1 running container)'],
    [{ strategy: 'binpack' }, 'node-c', 'least free memory that fits of 3 feasible nodes (1 GiB free, 3 running containers)'],
    [{ strategy: 'binpack', memoryBytes: 1.5 * GiB }, 'node-a', 'least free memory that fits of 2 feasible nodes (2 GiB free, 1 running container)'],
    [{ memoryBytes: 3 * GiB, strategy: 'spread' }, 'node-b', 'fewest running containers of 1 feasible node (6 GiB free, 5 running containers)'],
    [{ cpus: 2 }, 'node-b', 'most free memory of 3 feasible nodes (6 GiB free, 5 running containers)'],
    [{ node: 'node-c' }, 'node-c', 'node node-c was asked for and fits (1 GiB free, 3 running containers)'],
    [{ node: '' }, 'node-b', 'most free memory of 3 feasible nodes (6 GiB free, 5 running containers)'],
  ] as const)('%j chooses %s', (request, chosen, reason) => {
    const decision = place(request as PlacementRequest, fleet);
    expect(decision).toMatchObject({ node: chosen, address: `${chosen}:7443`, reason });
    expect(decision.strategy).toBe((request as PlacementRequest).strategy ?? 'memory');
  });

  it('gives every candidate a reason: the ranked feasible ones first, then the others by name', () => {
    const nodes = [...fleet, node('node-d', { state: 'down' }), node('node-0', { labels: { zone: 'eu-1' } })];
    const decision = place({ strategy: 'spread', constraints: [parseConstraint('zone!=eu-1')] }, nodes);
    expect(decision.candidates.map((c) => [c.node, c.feasible, c.reason])).toEqual([
      ['node-a', true, 'chosen: fewest running containers (2 GiB free, 1 running container)'],
      ['node-c', true, 'fits, ranked 2 of 3 by fewest running containers (1 GiB free, 3 running containers)'],
      ['node-b', true, 'fits, ranked 3 of 3 by fewest running containers (6 GiB free, 5 running containers)'],
      ['node-0', false, 'label zone=eu-1 does not match zone!=eu-1'],
      ['node-d', false, 'down'],
    ]);
    expect(decision.candidates[0]).toMatchObject({ address: 'node-a:7443', state: 'ready', freeMemoryBytes: 2 * GiB, freeCpus: 4, runningContainers: 1 });
    expect(decision.candidates[4]?.state).toBe('down');
  });

  it.each([
    ['memory: most free memory; ties go to fewer running containers, then to the name', 'memory', [[1, 2], [1, 1], [1, 2], [2, 9]]],
    ['spread: fewest running containers; ties go to more free memory, then to the name', 'spread', [[1, 2], [2, 2], [1, 2], [0.5, 1]]],
    ['binpack: least free memory; ties go to more running containers, then to the name', 'binpack', [[1, 2], [1, 3], [1, 2], [0.5, 0]]],
  ] as const)('%s', (_what, strategy, shape) => {
    const nodes = ['node-x', 'node-y', 'node-z', 'node-w'].map((name, i) =>
      node(name, { allocatableMemoryBytes: shape[i]![0] * GiB, runningContainers: shape[i]![1] }),
    );
    expect(place({ strategy }, nodes).candidates.map((c) => c.node)).toEqual(['node-w', 'node-y', 'node-x', 'node-z']);
  });

  it('counts reservations: less free memory and CPUs, more running containers', () => {
    const reservations = new Map<string, Reservation>([['node-b', { memoryBytes: 5.5 * GiB, cpus: 3, containers: 4 }]]);
    const decision = place({}, fleet, { reservations });
    expect(decision.node).toBe('node-a');
    const b = decision.candidates.find((c) => c.node === 'node-b');
    expect(b).toMatchObject({
      freeMemoryBytes: 0.5 * GiB,
      freeCpus: 1,
      runningContainers: 9,
      reserved: { memoryBytes: 5.5 * GiB, cpus: 3, containers: 4 },
      reason: 'fits, ranked 3 of 3 by most free memory (512 MiB free, 9 running containers, 4 placed since its last heartbeat)',
    });
  });

  it.each([
    [
      'says which constraint failed on which nodes',
      { memoryBytes: 256 * MiB, constraints: [parseConstraint('zone=us-2')] },
      [
        node('node-a', { state: 'down', labels: { zone: 'us-2' } }),
        node('node-b', { labels: { zone: 'eu-1' } }),
        node('node-c', { labels: { zone: 'us-2' }, allocatableMemoryBytes: 120 * MiB }),
      ],
      'no node can run the container: node-a: down; node-b: label zone=eu-1 does not match zone=us-2; node-c: 256 MiB memory requested, 120 MiB allocatable',
    ],
    [
      'names every failed check of a node',
      { memoryBytes: 1 * GiB, cpus: 2, constraints: [parseConstraint('node.labels.ssd=true'), parseConstraint('node.name!=node-a')] },
      [node('node-a', { allocatableCpus: 1.5, allocatableMemoryBytes: 0 })],
      'no node can run the container: node-a: label ssd is not set, does not match node.labels.ssd=true, name node-a does not match node.name!=node-a, 1 GiB memory requested, 0 bytes allocatable, 2 CPUs requested, 1.5 allocatable',
    ],
    ['a single CPU', { cpus: 1 }, [node('node-a', { allocatableCpus: 0.25 })], 'no node can run the container: node-a: 1 CPU requested, 0.25 allocatable'],
    ['an empty fleet', {}, [], 'no node can run the container: no node has sent a heartbeat'],
    ['a node asked for that is down', { node: 'node-b' }, [node('node-a'), node('node-b', { state: 'down' })], 'no node can run the container: node-b: down'],
  ])('FailedPrecondition %s', (_what, request, nodes, message) => {
    expect(failure(() => place(request, nodes))).toEqual({ kind: 'FailedPrecondition', message });
  });

  it('says what recent placements reserved when they are what no longer fits', () => {
    const reservations = new Map<string, Reservation>([['node-a', { memoryBytes: 3 * GiB, cpus: 3.5, containers: 3 }]]);
    expect(failure(() => place({ memoryBytes: 2 * GiB, cpus: 1 }, [node('node-a')], { reservations }))).toEqual({
      kind: 'FailedPrecondition',
      message:
        'no node can run the container: node-a: 2 GiB memory requested, 1 GiB free (4 GiB allocatable, 3 GiB reserved since its last heartbeat), 1 CPU requested, 0.5 free (4 allocatable, 3.5 reserved since its last heartbeat)',
    });
  });

  it.each([
    ['an unknown node', { node: 'node-x' }, fleet, 'NotFound', 'no such node: node-x (known nodes: node-a, node-b, node-c)'],
    ['a node in an empty fleet', { node: 'node-x' }, [], 'NotFound', 'no such node: node-x'],
    [
      'a node in a big fleet',
      { node: 'x' },
      Array.from({ length: 12 }, (_, i) => node(`n${String(i).padStart(2, '0')}`)),
      'NotFound',
      'no such node: x (known nodes: n00, n01, n02, n03, n04, n05, n06, n07, n08, n09, … (12 in all))',
    ],
    ['negative memory', { memoryBytes: -1 }, fleet, 'InvalidArgument', 'invalid memory request -1: give a whole number of bytes, 0 or more'],
    ['fractional memory', { memoryBytes: 1.5 }, fleet, 'InvalidArgument', 'invalid memory request 1.5: give a whole number of bytes, 0 or more'],
    ['NaN CPUs', { cpus: Number.NaN }, fleet, 'InvalidArgument', 'invalid CPU request NaN: give a number of CPUs, 0 or more'],
    ['an unknown strategy', { strategy: 'random' }, fleet, 'InvalidArgument', 'unknown placement strategy "random": use memory, spread, binpack'],
    ['a bad constraint', { constraints: [{ key: 'node.ip', value: 'x', op: '==' }] }, fleet, 'InvalidArgument', 'invalid constraint key "node.ip": the node attributes are node.name and node.labels.<label>'],
  ])('refuses %s', (_what, request, nodes, kind, message) => {
    expect(failure(() => place(request as PlacementRequest, nodes))).toEqual({ kind, message });
  });
});

describe('formatBytes', () => {
  it.each([
    [0, '0 bytes'],
    [512, '512 bytes'],
    [1024, '1 KiB'],
    [256 * MiB, '256 MiB'],
    [1.5 * GiB, '1.5 GiB'],
    [-120 * MiB, '-120 MiB'],
  ])('%d → %s', (n, text) => {
    expect(formatBytes(n)).toBe(text);
  });
});
