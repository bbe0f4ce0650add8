import { silentLogger } from '@strata/kit';
import { tempDir } from '@strata/kit/testing';
import { snapshotterSuite } from '@strata/snapshots/testing';
import { createLocalSnapshotter } from './local-snapshotter.js';
import { mountAll, unmountAll } from './mount.js';

for (const driver of ['overlay', 'native'] as const) {
  snapshotterSuite(driver, async () => {
    const dir = tempDir('strata-snapshots-');
    const snapshotter = await createLocalSnapshotter({ root: dir.path, driver, logger: silentLogger(), syncOnCommit: driver === 'overlay' });
    return {
      snapshotter,
      mount: mountAll,
      unmount: unmountAll,
      cleanup: async () => {
        try {
          await snapshotter.close();
        } finally {
          dir.remove();
        }
      },
    };
  });
}
