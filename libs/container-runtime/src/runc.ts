import { failedPrecondition, internal, notFound, runProgram, type StrataError } from '@strata/kit';

/** Settings of {@link createRunc}. */
export interface RuncOptions {
  /** The runc binary; `runc` on PATH by default. */
  path: string;
  /** runc's state root (`runc --root`); runc's default (/run/runc) when absent. */
  root?: string;
}

/** Runs runc commands and turns their failures into Strata errors. */
export interface Runc {
  /** Global flags (--root) to put before a runc subcommand. */
  readonly globalArgs: readonly string[];
  /**
   * Runs `runc <args>` for container id and returns its stdout. Raises
   * NotFound when runc does not know the container, FailedPrecondition when
   * the container is in the wrong state for the command, Internal otherwise.
   */
  run(id: string, args: readonly string[]): Promise<string>;
}

/** The message of runc's last error line (`level=error msg="…"`), or its whole stderr. */
export function runcErrorMessage(stderr: string): string {
  const lines = stderr.trim().split('\n').reverse();
  for (const line of lines) {
    const m = /msg="((?:[^"\\]|\\.)*)"/.exec(line);
    if (m) return m[1]!.replace(/\\"/g, '"');
    try {
      const rec = JSON.parse(line) as { level?: string; msg?: string };
      if (rec.level === 'error' && rec.msg) return rec.msg;
    } catch {
      /* not a JSON log line */
    }
  }
  return stderr.trim();
}

function classify(id: string, command: string, message: string, cause: unknown): StrataError {
  const fields = { containerId: id };
  if (/does not exist|not found/i.test(message)) {
    return notFound(`container ${id} does not exist`, { cause, fields });
  }
  if (/not running|stopped|cannot|is paused|is not|running container|already/i.test(message)) {
    return failedPrecondition(`runc ${command} ${id}: ${message}`, { cause, fields });
  }
  return internal(`runc ${command} ${id} failed: ${message}`, { cause, fields });
}

/** A {@link Runc} over the given binary and state root. */
export function createRunc(options: RuncOptions): Runc {
  const globalArgs = options.root ? ['--root', options.root] : [];
  return {
    globalArgs,
    async run(id, args) {
      // Started off the event loop (runProgram): the agent runs runc for every container.
      const result = await runProgram(options.path, [...globalArgs, ...args], { maxBuffer: 16 * 1024 * 1024 });
      if (result.code === 0 && result.error === undefined) return result.stdout;
      if (result.error === 'ENOENT') throw failedPrecondition(`runc binary ${options.path} not found; install Debian's runc`);
      const cause = new Error(result.message ?? `runc exited with ${result.code}`);
      throw classify(id, args[0] ?? '', runcErrorMessage(result.stderr) || (result.message ?? ''), cause);
    },
  };
}
