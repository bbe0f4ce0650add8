import { randomBytes } from 'node:crypto';
import { invalidArgument } from '@strata/kit';

/** A full container id: 64 lower-case hex characters. */
export const CONTAINER_ID = /^[0-9a-f]{64}$/;

/** Length of the short id that `ps` shows and that is the default hostname. */
export const SHORT_ID_LENGTH = 12;

/**
 * A new random container id (64 lower-case hex characters) whose short form
 * is not all digits (so it can never be mistaken for a number), and that
 * taken does not contain. Raises nothing.
 */
export function generateContainerId(taken: (id: string) => boolean = () => false, random: (n: number) => Uint8Array = randomBytes): string {
  for (;;) {
    const id = Buffer.from(random(32)).toString('hex');
    if (/^[0-9]+$/.test(id.slice(0, SHORT_ID_LENGTH))) continue;
    if (!taken(id)) return id;
  }
}

/** The short id: the first 12 characters. */
export function shortId(id: string): string {
  return id.slice(0, SHORT_ID_LENGTH);
}

/** Checks a full id. Raises InvalidArgument for anything but 64 lower-case hex characters. */
export function checkContainerId(id: string): string {
  if (!CONTAINER_ID.test(id)) throw invalidArgument(`invalid container id ${JSON.stringify(id)}: expected 64 lower-case hex characters`);
  return id;
}
