import { constants } from 'node:os';
import { invalidArgument } from '@strata/kit';

const byNumber = new Map<number, NodeJS.Signals>(Object.entries(constants.signals).map(([name, n]) => [n, name as NodeJS.Signals]));

/**
 * A signal as `docker kill -s` takes it: a name with or without `SIG`
 * (any case) or a number; empty is SIGKILL. Raises InvalidArgument
 * "invalid signal: x" for anything else.
 */
export function parseSignal(text: string): NodeJS.Signals {
  if (text === '') return 'SIGKILL';
  if (/^[0-9]+$/.test(text)) {
    const name = byNumber.get(Number(text));
    if (name !== undefined) return name;
  } else {
    const upper = text.toUpperCase();
    const name = (upper.startsWith('SIG') ? upper : `SIG${upper}`) as NodeJS.Signals;
    if (name in constants.signals) return name;
  }
  throw invalidArgument(`invalid signal: ${text}`);
}
