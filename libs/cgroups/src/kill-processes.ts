import { unavailable, type Logger } from '@strata/kit';
import { sleep } from './cgroup-io.js';

/** What the SIGKILL loop needs from a driver. */
export interface KillTarget {
  readonly path: string;
  pids(): Promise<number[]>;
  /** Best-effort freeze that stops forks while pids are read and killed; absent without a freezer. */
  freeze?(): Promise<void>;
  thaw?(): Promise<void>;
}

/**
 * SIGKILLs every pid in the cgroup until it is empty: freeze (so nothing
 * forks between reading cgroup.procs and the kills), kill each pid, thaw (a
 * frozen v1 task dies only once thawed), repeat. Raises Unavailable when
 * processes remain after timeoutMs.
 */
export async function killEachUntilEmpty(target: KillTarget, timeoutMs: number, logger: Logger): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let round = 0; ; round++) {
    let pids = await target.pids();
    if (pids.length === 0) return;
    if (Date.now() > deadline) {
      throw unavailable(`processes ${pids.join(', ')} of cgroup ${target.path} are still alive after ${timeoutMs} ms of SIGKILL`, {
        fields: { cgroup: target.path },
      });
    }
    let frozen = false;
    if (target.freeze !== undefined) {
      try {
        await target.freeze();
        frozen = true;
        pids = await target.pids();
      } catch (err) {
        logger.warn({ err }, 'freezing before kill failed; killing without freezing');
      }
    }
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // ESRCH: it is already gone
      }
    }
    if (frozen && target.thaw !== undefined) await target.thaw();
    if (round > 0) logger.debug({ round, pids: pids.length }, 'cgroup not empty yet after SIGKILL');
    await sleep(Math.min(5 * (round + 1), 50));
  }
}
