import type { FlagSpecs, FlagValues } from './flags.js';

/** Where a command reads and writes; the process's streams in `strata`, buffers in tests. */
export interface CliIo {
  /** isTTY and columns as on process.stdout: progress bars only on a terminal, cut to its width. */
  stdout: {
    write(chunk: string | Uint8Array): unknown;
    isTTY?: boolean;
    columns?: number;
    rows?: number;
    /** 'resize' when the terminal changed size (after columns and rows are updated). */
    on?(event: 'resize', listener: () => void): unknown;
    off?(event: 'resize', listener: () => void): unknown;
  };
  stderr: { write(chunk: string | Uint8Array): unknown };
  /**
   * Bytes a command reads (`load`, `image import -`): process.stdin in
   * `strata`; absent when there is none (tests), which those commands refuse.
   */
  stdin?: AsyncIterable<Uint8Array> & { isTTY?: boolean; setRawMode?(raw: boolean): unknown; destroy?(): unknown };
  /**
   * Where binary output goes (`save` without -o): process.stdout in
   * `strata`; absent in tests. Written with backpressure (`drain`).
   */
  stdoutBytes?: NodeJS.WritableStream;
  env: Readonly<Record<string, string | undefined>>;
  /**
   * Calls handler each time the CLI gets signal, instead of the default
   * action, until the returned function is called: how `run` forwards
   * signals to its container. Absent in tests.
   */
  onSignal?(signal: NodeJS.Signals, handler: () => void): () => void;
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
   * Exit codes for this command's errors where they differ from the
   * defaults (2 for a UsageError, 1 otherwise): the container commands use
   * Docker's 125 for errors of the CLI or the daemon.
   */
  exitCodes?: { usage?: number; failure?(err: unknown): number };
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
