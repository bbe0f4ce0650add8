import { errorKind } from '@strata/kit';
import { describe, expect, it } from 'vitest';
import { downAfterMs, nodeState, nodeView, parseNodeStatus } from './node-record.js';

const full = {
  name: 'node-1',
  address: '10.0.0.2:7443',
  cpus: 4,
  memoryBytes: 8_000_000_000,
  allocatableCpus: 3.5,
  allocatableMemoryBytes: '7000000000',
  runningContainers: 2,
  containers: 3,
  labels: { zone: 'a', ssd: 'true' },
  cgroupVersion: 1,
  runtime: 'runc 1.1.5',
  kernel: '6.1.0',
  heartbeatAt: '2024-05-01T10:00:00.000Z',
  heartbeatIntervalSeconds: 5,
  version: '0.1.0',
};

describe('parseNodeStatus', () => {
  it('maps every field of the JSON mapping', () => {
    expect(parseNodeStatus(full)).toEqual({
      ...full,
      allocatableMemoryBytes: 7_000_000_000,
      heartbeatAt: new Date('2024-05-01T10:00:00.000Z'),
    });
  });

  it('fills omitted zero values and reads snake_case names', () => {
    expect(parseNodeStatus({ name: 'n', heartbeat_at: '2024-05-01T10:00:00Z', memory_bytes: 5 })).toEqual({
      name: 'n',
      address: '',
      cpus: 0,
      memoryBytes: 5,
      allocatableCpus: 0,
      allocatableMemoryBytes: 0,
      runningContainers: 0,
      containers: 0,
      labels: {},
      cgroupVersion: 0,
      runtime: '',
      kernel: '',
      heartbeatAt: new Date('2024-05-01T10:00:00Z'),
      heartbeatIntervalSeconds: 0,
      version: '',
    });
  });

  it.each([
    ['a non-object', 'x', 'invalid node status: expected a JSON object'],
    ['an array', [], 'invalid node status: expected a JSON object'],
    ['no name', { ...full, name: '' }, 'invalid node status: name is missing'],
    ['a numeric name', { ...full, name: 3 }, 'invalid node status: name must be a string'],
    ['no heartbeat time', { ...full, heartbeatAt: undefined }, 'invalid node status: heartbeatAt is missing'],
    ['a bad heartbeat time', { ...full, heartbeatAt: 'yesterday' }, 'invalid node status: heartbeatAt must be an RFC 3339 timestamp'],
    ['negative cpus', { ...full, cpus: -1 }, 'invalid node status: cpus must be a non-negative integer'],
    ['fractional memory', { ...full, memoryBytes: 1.5 }, 'invalid node status: memoryBytes must be a non-negative integer'],
    ['text allocatable cpus', { ...full, allocatableCpus: 'many' }, 'invalid node status: allocatableCpus must be a non-negative number'],
    ['labels as a list', { ...full, labels: ['a'] }, 'invalid node status: labels must be an object of strings'],
    ['a numeric label', { ...full, labels: { zone: 1 } }, 'invalid node status: labels.zone must be a string'],
  ])('refuses %s', (_what, json, message) => {
    let err: unknown;
    try {
      parseNodeStatus(json);
    } catch (e) {
      err = e;
    }
    expect({ kind: errorKind(err), message: (err as Error).message }).toEqual({ kind: 'InvalidArgument', message });
  });
});

describe('nodeState', () => {
  const record = parseNodeStatus(full);
  const at = (ms: number) => new Date(record.heartbeatAt.getTime() + ms);

  it.each([
    [0, 'ready'],
    [14_999, 'ready'],
    [15_000, 'ready'],
    [15_001, 'down'],
    [60_000, 'down'],
  ] as const)('is %s ms after the heartbeat: %s', (ms, state) => {
    expect(nodeState(record, at(ms))).toBe(state);
    expect(nodeView(record, at(ms)).state).toBe(state);
  });

  it('uses three of the node\'s own intervals, or of the default 5 s when it states none', () => {
    expect(downAfterMs({ heartbeatIntervalSeconds: 2 })).toBe(6000);
    expect(downAfterMs({ heartbeatIntervalSeconds: 0 })).toBe(15_000);
    const slow = { ...record, heartbeatIntervalSeconds: 20 };
    expect(nodeState(slow, at(59_000))).toBe('ready');
    expect(nodeState(slow, at(61_000))).toBe('down');
  });
});
