import type { CliIo } from './command.js';

/** The first line of stdin, '' at its end or without one. */
async function firstLine(io: CliIo): Promise<string> {
  if (io.stdin === undefined) return '';
  let text = '';
  for await (const chunk of io.stdin) {
    text += Buffer.from(chunk).toString('utf8');
    if (text.includes('\n')) break;
  }
  return text.split('\n')[0]!.trim();
}

/**
 * Asks as the docker CLI's prune commands do: prints warning and `Are you
 * sure you want to continue? [y/N] `, and resolves true only for y or yes.
 */
export async function confirm(io: CliIo, warning: string): Promise<boolean> {
  io.stdout.write(`WARNING! ${warning}\nAre you sure you want to continue? [y/N] `);
  return /^y(es)?$/i.test(await firstLine(io));
}
