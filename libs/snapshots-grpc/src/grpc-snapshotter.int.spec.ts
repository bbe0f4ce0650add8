import { silentLogger } from '@strata/kit';
import { tempDir } from '@strata/kit/testing';
import { createLocalSnapshotter, mountAll, unmountAll } from '@strata/snapshots-local';
import { snapshotterSuite } from '@strata/snapshots/testing';
import { serveSnapshotter } from './testing/index.js';

for (const driver of ['overlay', 'native'] as const) {
  snapshotterSuite(`${driver} through gRPC`, async () => {
    const dir = tempDir('strata-snapshots-grpc-');
    const logger = silentLogger();
    const local = await createLocalSnapshotter({ root: dir.path, driver, logger, syncOnCommit: driver === 'overlay' });
    let served;
    try {
      served = await serveSnapshotter(local, logger);
    } catch (err) {
      await local.close();
      dir.remove();
      throw err;
    }
    const { client, stop } = served;
    return {
      snapshotter: client,
      mount: mountAll,
      unmount: unmountAll,
      cleanup: async () => {
        try {
          await stop();
          await local.close();
        } finally {
          dir.remove();
        }
      },
    };
  });
}
