import { internal, runProgram, unavailable } from '@strata/kit';

/** What a finished command printed and how it ended. */
export interface CommandResult {
  /** Exit code; -1 when it could not be started or was killed by a signal. */
  code: number;
  stdout: string;
  stderr: string;
}

const TIMEOUT_MS = 30_000;

/**
 * Runs file with args (runProgram: no shell, arguments passed as they are,
 * started off the event loop), input (if any) on its stdin, and resolves
 * with its result whatever the exit code. Raises Unavailable when the
 * program is not installed.
 */
export async function runCommand(file: string, args: readonly string[], input?: string): Promise<CommandResult> {
  const result = await runProgram(file, args, { input: input ?? '', timeoutMs: TIMEOUT_MS });
  if (result.error === 'ENOENT') throw unavailable(`${file} is not installed: install the Debian package that provides it`);
  return { code: result.code, stdout: result.stdout, stderr: result.stderr === '' && result.message !== undefined ? result.message : result.stderr };
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
