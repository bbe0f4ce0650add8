import { describe, expect, it } from 'vitest';
import { rootRequired, snapshotterService, stackServices } from './services.js';

describe('the services of the local stack', () => {
  it('start the snapshotter after the layer-store', () => {
    const names = stackServices.map((s) => s.name);
    expect(names).toEqual(['nats', 'layer-store', 'registry-mirror', 'snapshotter']);
    expect(names.indexOf('snapshotter')).toBeGreaterThan(names.indexOf('layer-store'));
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
});
