import { failedPrecondition } from '@strata/kit';
import { describe, expect, it } from 'vitest';
import { defineCommand, type CliIo } from './command.js';
import { flags } from './flags.js';
import { runCli, type Program } from './run-cli.js';

function capture(env: Record<string, string> = {}): CliIo & { out: () => string; err: () => string } {
  let out = '';
  let err = '';
  return {
    stdout: { write: (t: string) => (out += t) },
    stderr: { write: (t: string) => (err += t) },
    env,
    interrupts: () => new AbortController().signal,
    out: () => out,
    err: () => err,
  };
}

const calls: unknown[] = [];
const program: Program = {
  name: 'strata',
  description: 'Test program.',
  commands: [
    defineCommand({
      name: 'echo',
      summary: 'Print its arguments',
      usage: 'WORD...',
      minArgs: 1,
      maxArgs: 3,
      flags: { upper: flags.switch('Shout', { short: 'u' }) },
      async run({ flags: f, args, io }) {
        calls.push({ f, args });
        io.stdout.write(`${(f.upper ? args.map((a) => a.toUpperCase()) : args).join(' ')}\n`);
      },
    }),
    defineCommand({
      name: 'image inspect',
      summary: 'Inspect an image',
      usage: 'IMAGE',
      minArgs: 1,
      flags: {},
      async run({ args, io }) {
        io.stdout.write(`inspect ${args[0]}\n`);
        return 3;
      },
    }),
    defineCommand({
      name: 'fail',
      summary: 'Fail',
      flags: {},
      async run() {
        throw failedPrecondition('the stack is not running; start it with strata up');
      },
    }),
    defineCommand({
      name: 'crash',
      summary: 'Crash',
      flags: {},
      async run() {
        throw new TypeError('x is not a function');
      },
    }),
  ],
};

describe('runCli', () => {
  it('runs a command with its flags and arguments', async () => {
    const io = capture();
    expect(await runCli(program, ['echo', '-u', 'a', 'b'], io)).toBe(0);
    expect(io.out()).toBe('A B\n');
    expect(io.err()).toBe('');
  });

  it('finds commands of two words and returns their exit code', async () => {
    const io = capture();
    expect(await runCli(program, ['image', 'inspect', 'busybox'], io)).toBe(3);
    expect(io.out()).toBe('inspect busybox\n');
  });

  it.each([[[]], [['--help']], [['-h']], [['help']]])('prints the command list for %j', async (argv) => {
    const io = capture();
    expect(await runCli(program, argv, io)).toBe(0);
    expect(io.out()).toBe(
      [
        'Usage:  strata COMMAND [OPTIONS]',
        '',
        'Test program.',
        '',
        'Commands:',
        '  echo           Print its arguments',
        '  image inspect  Inspect an image',
        '  fail           Fail',
        '  crash          Crash',
        '',
        "Run 'strata COMMAND --help' for more information on a command.",
        '',
      ].join('\n'),
    );
  });

  it.each([[['echo', '--help']], [['echo', 'x', '-h']], [['help', 'echo']]])('prints a command help for %j', async (argv) => {
    const io = capture();
    const before = calls.length;
    expect(await runCli(program, argv, io)).toBe(0);
    expect(calls.length).toBe(before);
    expect(io.out()).toBe(
      [
        'Usage:  strata echo [OPTIONS] WORD...',
        '',
        'Print its arguments',
        '',
        'Options:',
        '  -u, --upper  Shout',
        '  -h, --help   Show this help',
        '',
      ].join('\n'),
    );
  });

  it.each<[string[], string]>([
    [['frob'], `strata: unknown command "frob"; see 'strata --help'\n`],
    [['--debug', 'echo'], `strata: unknown flag --debug before the command; see 'strata --help'\n`],
    [['echo', '--loud', 'x'], `strata: unknown flag --loud; see 'strata echo --help'\n`],
    [['echo'], `strata: "echo" needs WORD...; see 'strata echo --help'\n`],
    [['echo', 'a', 'b', 'c', 'd'], `strata: "echo" takes at most 3 argument(s), got 4; see 'strata echo --help'\n`],
    [['fail', 'x'], `strata: "fail" takes no arguments, got "x"; see 'strata fail --help'\n`],
  ])('exits 2 on the usage error %j', async (argv, message) => {
    const io = capture();
    expect(await runCli(program, argv, io)).toBe(2);
    expect(io.err()).toBe(message);
    expect(io.out()).toBe('');
  });

  it.each<[string[], string]>([
    [['fail'], 'strata: the stack is not running; start it with strata up\n'],
    [['crash'], 'strata: x is not a function\n'],
  ])('exits 1 with one sentence when %j fails', async (argv, message) => {
    const io = capture();
    expect(await runCli(program, argv, io)).toBe(1);
    expect(io.err()).toBe(message);
  });

  it('adds the stack of an unexpected error when STRATA_DEBUG is set', async () => {
    const io = capture({ STRATA_DEBUG: '1' });
    expect(await runCli(program, ['crash'], io)).toBe(1);
    expect(io.err()).toMatch(/^strata: x is not a function\nTypeError: x is not a function\n\s+at /);
  });
});
