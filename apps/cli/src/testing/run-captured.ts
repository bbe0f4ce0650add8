import { Readable } from 'node:stream';
import type { CliIo } from '../framework/command.js';
import { runCli } from '../framework/run-cli.js';
import { strata } from '../program.js';

/** How a `strata` command run by {@link runCaptured} ended, and what it printed. */
export interface CapturedRun {
  code: number;
  out: string;
  err: string;
}

/** Settings of {@link runCaptured}. */
export interface RunCapturedOptions {
  /** The command's whole environment (none by default, so the machine's STRATA_* settings do not leak in). */
  env?: Readonly<Record<string, string>>;
  /** Whether stdout is a 200-column terminal (progress bars are drawn). */
  tty?: boolean;
  /** What the command reads on stdin (none by default). */
  stdin?: string;
}

/**
 * Runs the `strata` program on argv in this process, as the integration
 * tests drive it: stdout and stderr are captured as text, stdin is
 * options.stdin (none by default), and an interrupt never comes.
 */
export async function runCaptured(argv: readonly string[], options: RunCapturedOptions = {}): Promise<CapturedRun> {
  let out = '';
  let err = '';
  const io: CliIo = {
    stdout: { write: (t) => (out += t.toString()), ...(options.tty ? { isTTY: true, columns: 200 } : {}) },
    stderr: { write: (t) => (err += t.toString()) },
    env: { ...options.env },
    ...(options.stdin === undefined ? {} : { stdin: Readable.from([Buffer.from(options.stdin)]) }),
    interrupts: () => new AbortController().signal,
  };
  const code = await runCli(strata, [...argv], io);
  return { code, out, err };
}
