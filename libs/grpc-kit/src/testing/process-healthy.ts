import type { TestProcess } from '@strata/kit/testing';
import { waitForHealthy } from '../client.js';

/**
 * Waits until the gRPC server of process p answers health SERVING on its
 * unix socket; rejects with p's output when p exits first (what names it in
 * the message), or with waitForHealthy's Unavailable after timeoutMs.
 */
export async function processHealthy(p: TestProcess, socket: string, what: string, timeoutMs = 30_000): Promise<void> {
  await Promise.race([
    waitForHealthy({ unixSocket: socket }, { timeoutMs }),
    p.exited.then((code) => {
      throw new Error(`${what} exited (${code}) before it was healthy:\n${p.output()}`);
    }),
  ]);
}
