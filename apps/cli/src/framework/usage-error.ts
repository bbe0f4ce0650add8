/**
 * The command line itself is wrong (unknown command or flag, missing or
 * malformed value, wrong number of arguments). The CLI prints the message
 * with a pointer to `--help` and exits with code 2.
 */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** True for a {@link UsageError}. */
export function isUsageError(err: unknown): err is UsageError {
  return err instanceof UsageError;
}
