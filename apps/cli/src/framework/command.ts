import type { FlagSpecs, FlagValues } from './flags.js';

/** Where a command reads and writes; the process's streams in `strata`, buffers in tests. */
export interface CliIo {
  /** isTTY and columns as on process.stdout: progress bars only on a terminal, cut to its width. */
  stdout: { write(text: string): unknown; isTTY?: boolean; columns?: number };
  stderr: { write(text: string): unknown };
  env: Readonly<Record<string, string | undefined>>;
  /**
   * Takes over SIGINT and SIGTERM and returns a signal aborted on the first
   * of them, for commands that stop cleanly; the others die on them as usual.
   */
  interrupts(): AbortSignal;
}

/** What a command's run() gets. */
export interface CommandContext<V> {
  flags: V;
  /** Positional arguments, after the flags are taken out. */
  args: string[];
  io: CliIo;
}

/** One `strata` subcommand. */
export interface Command<F extends FlagSpecs = FlagSpecs> {
  /** The words that name it: `up`, or `image inspect`. */
  name: string;
  /** One line for the command list. */
  summary: string;
  /** A paragraph for its `--help`. */
  description?: string;
  /** The arguments in usage notation: `IMAGE [COMMAND] [ARG...]`. */
  usage?: string;
  /** Bounds on the number of positional arguments (0 and 0 by default). */
  minArgs?: number;
  maxArgs?: number;
  /** False when everything after the first argument belongs to it (`run IMAGE CMD -x`). */
  interspersed?: boolean;
  flags: F;
  /**
   * Does the work; resolves with the exit code (0 when nothing is returned).
   * Raises StrataError kinds for failures, which the CLI prints as one
   * sentence with exit code 1, and UsageError for a wrong command line (exit 2).
   */
  run(ctx: CommandContext<FlagValues<F>>): Promise<number | void>;
}

/** Types a command's run() by its flags and erases that type for the command list. */
export function defineCommand<F extends FlagSpecs>(command: Command<F>): Command {
  return command as unknown as Command;
}
