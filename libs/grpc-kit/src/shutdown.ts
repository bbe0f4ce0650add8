import { constants } from 'node:os';
import type { Logger } from '@strata/kit';

/**
 * Runs fn once on the first SIGTERM or SIGINT, then exits the process: 0
 * when fn resolves, 1 when it rejects (the error is logged). A second
 * signal while fn runs exits at once with 128 + the signal's number.
 * Returns a function that removes the handlers.
 */
export function onShutdownSignals(
  fn: (signal: NodeJS.Signals) => Promise<void>,
  logger: Logger,
  signals: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT'],
): () => void {
  let shuttingDown = false;
  const handler = (signal: NodeJS.Signals) => {
    if (shuttingDown) {
      logger.warn({ signal }, 'second signal during shutdown; exiting now');
      process.exit(128 + (constants.signals[signal] ?? 0));
    }
    shuttingDown = true;
    logger.info({ signal }, 'shutting down');
    fn(signal).then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  for (const s of signals) process.on(s, handler);
  return () => {
    for (const s of signals) process.off(s, handler);
  };
}
