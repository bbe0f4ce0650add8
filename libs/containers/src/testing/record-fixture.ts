import { createdState } from '../container-state.js';
import type { ContainerRecord } from '../types.js';

/** A plausible record for tests of code that reads records; fields of overrides replace the defaults. */
export function recordFixture(overrides: Partial<ContainerRecord> = {}): ContainerRecord {
  const id = overrides.id ?? 'a'.repeat(64);
  return {
    id,
    name: 'test_container',
    image: 'busybox',
    imageId: `sha256:${'b'.repeat(64)}`,
    manifestDigest: `sha256:${'c'.repeat(64)}`,
    created: '2024-01-01T00:00:00.000Z',
    spec: {
      image: 'busybox',
      cmd: [],
      env: [],
      tty: false,
      openStdin: false,
      ports: [],
      networkMode: 'bridge',
      resources: {},
      autoRemove: false,
      labels: {},
      userNamespace: false,
      mounts: [],
    },
    state: createdState(),
    network: { mode: 'bridge', ports: [] },
    command: ['sh'],
    node: 'node-1',
    logPath: `/var/lib/strata/node-agent/runtime/${id}/log.json`,
    snapshotKey: id,
    restartCount: 0,
    oomKillsSeen: 0,
    ...overrides,
  };
}
