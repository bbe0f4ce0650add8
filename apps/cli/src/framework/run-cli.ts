import { isStrataError } from '@strata/kit';
import type { CliIo, Command } from './command.js';
import { describeFlags, parseArgs } from './flags.js';
import { UsageError, isUsageError } from './usage-error.js';

/** The program a set of commands makes up. */
export interface Program {
  /** `strata`. */
  name: string;
  /** One paragraph for the top-level help. */
  description: string;
  commands: readonly Command[];
}

/** Exit code for a failed command. */
export const EXIT_FAILURE = 1;
/** Exit code for a wrong command line. */
export const EXIT_USAGE = 2;

function programHelp(program: Program): string {
  const width = Math.max(...program.commands.map((c) => c.name.length)) + 2;
  const list = program.commands.map((c) => `  ${c.name.padEnd(width)}${c.summary}`).join('\n');
  return [
    `Usage:  ${program.name} COMMAND [OPTIONS]`,
    '',
    program.description,
    '',
    'Commands:',
    list,
    '',
    `Run '${program.name} COMMAND --help' for more information on a command.`,
    '',
  ].join('\n');
}

function commandHelp(program: Program, command: Command): string {
  const usage = [program.name, command.name, '[OPTIONS]', command.usage].filter(Boolean).join(' ');
  return [
    `Usage:  ${usage}`,
    '',
    command.description ?? command.summary,
    '',
    'Options:',
    describeFlags(command.flags),
    '',
  ].join('\n');
}

/** The command named by the longest run of leading words, and the words it used. */
function findCommand(program: Program, argv: readonly string[]): { command: Command; rest: string[] } | undefined {
  let best: { command: Command; rest: string[] } | undefined;
  for (const command of program.commands) {
    const words = command.name.split(' ');
    if (words.every((w, i) => argv[i] === w) && (!best || words.length > best.command.name.split(' ').length)) {
      best = { command, rest: argv.slice(words.length) };
    }
  }
  return best;
}

/**
 * Runs the command argv names and resolves with the process exit code. It
 * never throws: a UsageError is printed as `<program>: <message>` plus a
 * pointer to `--help`, exit code 2; any other error as `<program>: <message>`,
 * exit code 1; or the codes the command's exitCodes give (a non-Strata error is unexpected, so its stack goes along
 * when STRATA_DEBUG is set).
 */
export async function runCli(program: Program, argv: readonly string[], io: CliIo): Promise<number> {
  const [first] = argv;
  if (first === undefined || first === '--help' || first === '-h') {
    io.stdout.write(programHelp(program));
    return 0;
  }
  if (first === 'help') {
    const found = findCommand(program, argv.slice(1));
    io.stdout.write(found ? commandHelp(program, found.command) : programHelp(program));
    return 0;
  }
  const found = findCommand(program, argv);
  let command: Command | undefined;
  try {
    if (!found) {
      throw new UsageError(
        first.startsWith('-') ? `unknown flag ${first} before the command` : `unknown command ${JSON.stringify(first)}`,
      );
    }
    command = found.command;
    const parsed = parseArgs(found.rest, command.flags, { env: io.env, interspersed: command.interspersed ?? true });
    if (parsed.help) {
      io.stdout.write(commandHelp(program, command));
      return 0;
    }
    const min = command.minArgs ?? 0;
    const max = command.maxArgs ?? min;
    if (parsed.args.length < min) {
      throw new UsageError(`"${command.name}" needs ${command.usage ?? `${min} argument(s)`}`);
    }
    if (parsed.args.length > max) {
      throw new UsageError(
        max === 0
          ? `"${command.name}" takes no arguments, got ${JSON.stringify(parsed.args[0])}`
          : `"${command.name}" takes at most ${max} argument(s), got ${parsed.args.length}`,
      );
    }
    return (await command.run({ flags: parsed.flags, args: parsed.args, io })) ?? 0;
  } catch (err) {
    if (isUsageError(err)) {
      const helpFor = command ? `${program.name} ${command.name} --help` : `${program.name} --help`;
      io.stderr.write(`${program.name}: ${err.message}; see '${helpFor}'\n`);
      return command?.exitCodes?.usage ?? EXIT_USAGE;
    }
    const message = err instanceof Error ? err.message : String(err);
    io.stderr.write(`${program.name}: ${message}\n`);
    if (!isStrataError(err) && err instanceof Error && io.env.STRATA_DEBUG) io.stderr.write(`${err.stack ?? ''}\n`);
    return command?.exitCodes?.failure?.(err) ?? EXIT_FAILURE;
  }
}
