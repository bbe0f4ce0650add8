import { describe, expect, it } from 'vitest';
import { nodeAgentService, rootRequired, snapshotterService, stackServices } from './services.js';

describe('the services of the local stack', () => {
  it('start the snapshotter after the layer-store, and the node-agent after the snapshotter', () => {
    const names = stackServices.map((s) => s.name);
    expect(names).toEqual(['nats', 'layer-store', 'registry-mirror', 'snapshotter', 'node-agent']);
    expect(names.indexOf('snapshotter')).toBeGreaterThan(names.indexOf('layer-store'));
    expect(names.indexOf('node-agent')).toBeGreaterThan(names.indexOf('snapshotter'));
  });

  it.each([
    [0, undefined],
    [undefined, undefined],
    [1000, 'it needs root (mounts need it); run strata up as root to start it'],
  ])('rootRequired for uid %s is %s', (uid, reason) => {
    expect(rootRequired(uid, 'mounts need it')).toBe(reason);
  });

  it('leave the snapshotter out only for users other than root', () => {
    expect(snapshotterService.unsupported?.()).toBe(
      process.getuid?.() === 0
        ? undefined
        : 'it needs root (layers hold files of every owner, and mounts need it); run strata up as root to start it',
    );
  });

  it('leave the node-agent out only for users other than root', () => {
    expect(nodeAgentService.unsupported?.()).toBe(
      process.getuid?.() === 0
        ? undefined
        : 'it needs root (containers need mounts, namespaces, cgroups and iptables); run strata up as root to start it',
    );
  });
});
