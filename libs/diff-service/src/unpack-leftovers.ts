import { isNotFound, type Logger } from '@strata/kit';
import type { Snapshotter } from '@strata/snapshots';
import { EXTRACT_LABEL } from './snapshot-labels.js';

/**
 * Removes the active snapshots unpacks were applying layers into
 * (`strata.snapshot.extract` label) when a crash stopped them: call it when
 * the snapshotter starts, before serving. Returns how many it removed.
 * Raises what the snapshotter raises, except NotFound for a snapshot
 * removed meanwhile.
 */
export async function removeUnpackLeftovers(snapshotter: Snapshotter, logger: Logger): Promise<number> {
  const keys: string[] = [];
  for await (const info of snapshotter.list([`kind==active,labels."${EXTRACT_LABEL}"`])) keys.push(info.name);
  let removed = 0;
  for (const key of keys) {
    try {
      await snapshotter.remove(key);
      removed++;
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }
  if (removed > 0) logger.info({ removed }, 'removed the snapshots of interrupted unpacks');
  return removed;
}
