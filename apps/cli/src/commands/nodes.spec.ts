import type { NodeView } from '@strata/nodes';
import { describe, expect, it } from 'vitest';
import { formatTable } from '../framework/table.js';
import { NODES_HEADERS, nodeCells, nodeJson } from './nodes.js';

const node: NodeView = {
  name: 'host-1',
  address: '10.0.0.2:7443',
  cpus: 4,
  memoryBytes: 8 * 1024 ** 3,
  allocatableCpus: 3,
  allocatableMemoryBytes: 6 * 1024 ** 3,
  runningContainers: 2,
  containers: 5,
  labels: { zone: 'a', disk: 'ssd' },
  cgroupVersion: 2,
  runtime: 'runc 1.1.5',
  kernel: '6.1.0',
  heartbeatAt: new Date('2024-05-01T10:00:00Z'),
  heartbeatIntervalSeconds: 5,
  version: '0.1.0',
  state: 'ready',
};

describe('strata nodes', () => {
  it('shows status, memory limits over host memory, running/all containers and sorted labels', () => {
    const down: NodeView = { ...node, name: 'host-2', address: '', state: 'down', labels: {}, allocatableMemoryBytes: node.memoryBytes };
    expect(formatTable(NODES_HEADERS, [nodeCells(node), nodeCells(down)])).toBe(
      [
        'NAME    ADDRESS        STATUS  CPUS  MEMORY     CONTAINERS  LABELS',
        'host-1  10.0.0.2:7443  Ready   4     2GiB/8GiB  2/5         disk=ssd,zone=a',
        'host-2  -              Down    4     0B/8GiB    2/5',
        '',
      ].join('\n'),
    );
  });

  it('prints every field in JSON', () => {
    expect(nodeJson({ ...node, state: 'down' })).toEqual({
      name: 'host-1',
      address: '10.0.0.2:7443',
      status: 'Down',
      cpus: 4,
      allocatableCpus: 3,
      memoryBytes: 8 * 1024 ** 3,
      allocatableMemoryBytes: 6 * 1024 ** 3,
      runningContainers: 2,
      containers: 5,
      labels: { zone: 'a', disk: 'ssd' },
      cgroupVersion: 2,
      runtime: 'runc 1.1.5',
      kernel: '6.1.0',
      version: '0.1.0',
      heartbeatAt: '2024-05-01T10:00:00.000Z',
      heartbeatIntervalSeconds: 5,
    });
  });
});
