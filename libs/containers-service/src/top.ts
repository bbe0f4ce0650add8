import { failedPrecondition, invalidArgument, runProgram, unavailable } from '@strata/kit';

/** The processes of a container as `ps` shows them: its column titles, and one row per process. */
export interface ContainerTop {
  titles: string[];
  processes: string[][];
}

/** What `docker top` runs when it is given no ps options. */
export const DEFAULT_PS_ARGS: readonly string[] = ['-ef'];

/** At most this many ps options, of at most this many bytes in all. */
const MAX_PS_ARGS = 64;
const MAX_PS_ARGS_BYTES = 4096;
/** ps output beyond this is refused rather than parsed (a host with that many processes would not fit a reply). */
const MAX_PS_OUTPUT = 16 << 20;

/**
 * Checks ps options before they run: bounded in number and size, and no
 * column renamed to a PID title (`-o comm=PID`), which would make another
 * column read as the process ids (Docker refuses the same). InvalidArgument.
 */
export function checkPsArgs(args: readonly string[]): void {
  if (args.length > MAX_PS_ARGS) throw invalidArgument(`too many ps options: ${args.length}, at most ${MAX_PS_ARGS}`);
  const bytes = args.reduce((n, a) => n + Buffer.byteLength(a), 0);
  if (bytes > MAX_PS_ARGS_BYTES) throw invalidArgument(`ps options of ${bytes} bytes; at most ${MAX_PS_ARGS_BYTES}`);
  for (const arg of args) {
    if (arg.includes('\0')) throw invalidArgument('a ps option contains a NUL byte');
    for (const m of arg.matchAll(/(?:^|[\s,])([^\s,=]*)=\s*(PID\S*)/g)) {
      if (m[1] !== 'pid') throw invalidArgument(`specifying "${m[1]}=${m[2]}" is not allowed: it would hide which column is the PID`);
    }
  }
}

/** Splits on ASCII whitespace only, as ps pads its columns. */
function fields(line: string): string[] {
  return line.split(/[ \t\n\v\f\r]+/).filter((f) => f !== '');
}

/**
 * The rows of ps output whose PID column is one of pids. The last column
 * (the command) keeps its spaces: a row has as many fields as there are
 * titles. InvalidArgument when the output has no PID column.
 */
export function parsePsOutput(output: string, pids: ReadonlySet<number>): ContainerTop {
  const [header = '', ...lines] = output.split('\n');
  const titles = fields(header);
  const pidIndex = titles.indexOf('PID');
  if (pidIndex < 0) throw invalidArgument("Couldn't find PID field in ps output: the ps options must show the PID column");
  const processes: string[][] = [];
  for (const line of lines) {
    const f = fields(line);
    if (f.length <= pidIndex) continue;
    const pid = Number(f[pidIndex]);
    if (!Number.isInteger(pid) || !pids.has(pid)) continue;
    processes.push(f.length < titles.length ? f : [...f.slice(0, titles.length - 1), f.slice(titles.length - 1).join(' ')]);
  }
  return { titles, processes };
}

/**
 * Runs the host's `ps` with args (DEFAULT_PS_ARGS when empty) and keeps
 * the processes of pids (the container's cgroup), as `docker top` does:
 * the pids are the host's. InvalidArgument for refused options or when ps
 * rejects them (its message); FailedPrecondition when this host has no ps
 * (Debian package procps).
 */
export async function containerTop(pids: readonly number[], args: readonly string[]): Promise<ContainerTop> {
  const psArgs = args.length === 0 ? DEFAULT_PS_ARGS : args;
  checkPsArgs(psArgs);
  const result = await runProgram('ps', psArgs, { timeoutMs: 10_000, maxBuffer: MAX_PS_OUTPUT });
  if (result.error === 'ENOENT') throw failedPrecondition('ps is not installed on this node (Debian package procps): top needs it');
  if (result.signal !== undefined) throw unavailable(`ps ${psArgs.join(' ')} did not finish within 10 s`);
  if (result.code !== 0) {
    const why = result.stderr.trim().split('\n')[0] || result.message || `exit code ${result.code}`;
    throw invalidArgument(`ps ${psArgs.join(' ')} failed: ${why}`);
  }
  return parsePsOutput(result.stdout, new Set(pids));
}
