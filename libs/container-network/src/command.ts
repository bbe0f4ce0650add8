import { execFile } from 'node:child_process';
import { internal, unavailable } from '@strata/kit';

/** What a finished command printed and how it ended. */
export interface CommandResult {
  /** Exit code; -1 when it could not be started or was killed by a signal. */
  code: number;
  stdout: string;
  stderr: string;
}

const TIMEOUT_MS = 30_000;

/**
 * Runs file with args (execFile: no shell, arguments passed as they are),
 * input (if any) on its stdin, and resolves with its result whatever the
 * exit code. Raises Unavailable when the program is not installed.
 */
export function runCommand(file: string, args: readonly string[], input?: string): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(file, args, { timeout: TIMEOUT_MS, maxBuffer: 64 << 20, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err === null) {
        resolve({ code: 0, stdout, stderr });
        return;
      }
      const code = (err as { code?: unknown }).code;
      if (code === 'ENOENT') {
        reject(unavailable(`${file} is not installed: install the Debian package that provides it`, { cause: err }));
        return;
      }
      resolve({ code: typeof code === 'number' ? code : -1, stdout, stderr: stderr === '' ? err.message : stderr });
    });
    // A program that exits without reading all its input makes the pipe fail: its exit status tells what happened.
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(input ?? '');
  });
}

/** Runs file with args (and input on stdin) and resolves with stdout; a non-zero exit raises Internal carrying the command, its input and its stderr. */
export async function mustRun(file: string, args: readonly string[], input?: string): Promise<string> {
  const result = await runCommand(file, args, input);
  if (result.code !== 0) {
    const command = input === undefined ? `${file} ${args.join(' ')}` : `${file} ${args.join(' ')} (${input.trim().split('\n').join('; ')})`;
    throw internal(`${command} failed: ${result.stderr.trim() || `exit code ${result.code}`}`, {
      fields: { command: file },
    });
  }
  return result.stdout;
}
