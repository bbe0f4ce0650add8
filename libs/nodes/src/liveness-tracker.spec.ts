import { describe, expect, it } from 'vitest';
import { createLivenessTracker } from './liveness-tracker.js';
import type { NodeState, NodeView } from './node-record.js';

const base = new Date('2024-05-01T10:00:00.000Z').getTime();

function view(name: string, secondsAfterBase: number, state: NodeState): NodeView {
  return {
    name,
    address: '10.0.0.2:7443',
    cpus: 2,
    memoryBytes: 1024,
    allocatableCpus: 2,
    allocatableMemoryBytes: 1024,
    runningContainers: 1,
    containers: 1,
    labels: {},
    cgroupVersion: 1,
    runtime: 'runc',
    kernel: '6.1',
    heartbeatAt: new Date(base + secondsAfterBase * 1000),
    heartbeatIntervalSeconds: 5,
    version: '0.1.0',
    state,
  };
}

const kinds = (ts: { kind: string; id: string }[]) => ts.map((t) => `${t.kind} ${t.id}`);

describe('createLivenessTracker', () => {
  it('reports nothing for the first view of a node, ready or down', () => {
    const tracker = createLivenessTracker();
    expect(tracker.observe(view('a', 0, 'ready'))).toEqual([]);
    expect(tracker.observe(view('b', 0, 'down'))).toEqual([]);
  });

  it('reports down once when a ready node goes silent, and up when it heartbeats again', () => {
    const tracker = createLivenessTracker();
    tracker.observe(view('a', 0, 'ready'));
    expect(tracker.observe(view('a', 5, 'ready'))).toEqual([]);
    expect(kinds(tracker.observe(view('a', 5, 'down')))).toEqual(['down node.down:a:2024-05-01T10:00:05.000Z']);
    expect(tracker.observe(view('a', 5, 'down'))).toEqual([]);
    const up = tracker.observe(view('a', 60, 'ready'));
    expect(kinds(up)).toEqual(['up node.up:a:2024-05-01T10:01:00.000Z']);
    expect(up[0]?.view.heartbeatAt).toEqual(new Date(base + 60_000));
    expect(tracker.observe(view('a', 65, 'ready'))).toEqual([]);
  });

  it('reports up for a node first seen down that heartbeats again', () => {
    const tracker = createLivenessTracker();
    tracker.observe(view('a', 0, 'down'));
    expect(kinds(tracker.observe(view('a', 100, 'ready')))).toEqual(['up node.up:a:2024-05-01T10:01:40.000Z']);
  });

  it('reports down then up when heartbeats are more than three intervals apart before the down was seen', () => {
    const tracker = createLivenessTracker();
    tracker.observe(view('a', 0, 'ready'));
    expect(tracker.observe(view('a', 15, 'ready'))).toEqual([]);
    const both = tracker.observe(view('a', 31, 'ready'));
    expect(kinds(both)).toEqual(['down node.down:a:2024-05-01T10:00:15.000Z', 'up node.up:a:2024-05-01T10:00:31.000Z']);
    expect(both[0]?.view.state).toBe('down');
  });

  it('gives two trackers watching the same node the same ids', () => {
    const one = createLivenessTracker();
    const two = createLivenessTracker();
    const ids = [one, two].map((t) => {
      t.observe(view('a', 10, 'ready'));
      return t.observe(view('a', 10, 'down')).map((x) => x.id);
    });
    expect(ids[0]).toEqual(ids[1]);
  });

  it('keeps nodes apart', () => {
    const tracker = createLivenessTracker();
    tracker.observe(view('a', 0, 'ready'));
    tracker.observe(view('b', 0, 'ready'));
    expect(kinds(tracker.observe(view('b', 0, 'down')))).toEqual(['down node.down:b:2024-05-01T10:00:00.000Z']);
    expect(tracker.observe(view('a', 5, 'ready'))).toEqual([]);
  });
});
