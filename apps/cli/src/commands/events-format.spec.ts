import { makeCloudEvent } from '@strata/kit';
import { describe, expect, it } from 'vitest';
import { formatEventLine, nanoTime } from './events-format.js';

describe('nanoTime', () => {
  it.each([
    ['2026-11-28T03:25:25.000Z', '2026-11-28T03:25:25.000000000Z'],
    ['2026-11-28T03:25:25.123Z', '2026-11-28T03:25:25.123000000Z'],
    ['2026-11-28T03:25:25Z', '2026-11-28T03:25:25.000000000Z'],
    ['2026-11-28T04:25:25.123456789+01:00', '2026-11-28T03:25:25.123456789Z'],
    ['not a time', 'not a time'],
  ])('%s → %s', (iso, out) => {
    expect(nanoTime(iso)).toBe(out);
  });
});

describe('formatEventLine', () => {
  it('prints time, type, event, subject and sorted attributes like docker events', () => {
    const ev = makeCloudEvent(
      'strata/registry-mirror/n1',
      'image.pulled',
      'docker.io/library/busybox:latest',
      { ref: 'docker.io/library/busybox:latest', digest: 'sha256:aaa', platform: 'linux/amd64', downloaded: 42 },
      new Date('2026-11-28T03:25:25Z'),
    );
    expect(formatEventLine(ev)).toBe(
      '2026-11-28T03:25:25.000000000Z image pulled docker.io/library/busybox:latest ' +
        '(digest=sha256:aaa, downloaded=42, node=n1, platform=linux/amd64)',
    );
  });

  it('flattens maps, keeps the node the data names, and leaves out empty attributes', () => {
    const blob = makeCloudEvent('strata/layer-store/n1', 'blob.stored', 'sha256:x', { digest: 'sha256:x', size: 3, labels: { app: 'web' } }, new Date(0));
    expect(formatEventLine(blob)).toBe('1970-01-01T00:00:00.000000000Z blob stored sha256:x (labels.app=web, node=n1, size=3)');
    const snap = makeCloudEvent('strata/snapshotter/host-a', 'snapshot.removed', 'k1', { key: 'k1', node: 'host-b' }, new Date(0));
    expect(formatEventLine(snap)).toBe('1970-01-01T00:00:00.000000000Z snapshot removed k1 (node=host-b)');
    const bare = makeCloudEvent('elsewhere', 'node.down', 'n3', {}, new Date(0));
    expect(formatEventLine(bare)).toBe('1970-01-01T00:00:00.000000000Z node down n3');
  });
});
