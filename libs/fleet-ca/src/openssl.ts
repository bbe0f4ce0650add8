import { execFile } from 'node:child_process';
import { failedPrecondition, internal } from '@strata/kit';

/**
 * Runs the `openssl` command with args (no shell) in cwd. FailedPrecondition
 * when the command is not installed; Internal, with OpenSSL's own last
 * message, when it fails.
 */
export function runOpenssl(command: string, args: readonly string[], cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { cwd, timeout: 30_000, maxBuffer: 1 << 20 }, (err, _stdout, stderr) => {
      if (err === null) {
        resolve();
        return;
      }
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        reject(
          failedPrecondition(`the ${command} command is not installed; install the Debian package openssl (tools/scripts/setup.sh does)`, {
            cause: err,
          }),
        );
        return;
      }
      const lines = String(stderr).trim().split('\n').filter((l) => l.trim() !== '');
      reject(internal(`openssl ${args[0] ?? ''} failed: ${lines.at(-1) ?? err.message}`, { cause: err }));
    });
  });
}
