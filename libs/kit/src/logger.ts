import { createRequire } from 'node:module';
import type { Logger, LevelWithSilent } from 'pino';

export type { Logger } from 'pino';

type Pino = typeof import('pino');
let loaded: Pino | undefined;

/**
 * pino, loaded when the first logger is made: a program that never logs
 * (most `strata` commands) does not load it (~12 ms of CPU per command on a
 * 2-core machine). The CLI's bundler turns this require into a bundled one
 * (tools/scripts/build-cli.mjs).
 */
function pinoModule(): Pino {
  loaded ??= createRequire(import.meta.url)('pino') as Pino;
  return loaded;
}

export interface LoggerOptions {
  /** Service or program name, put on every line as `service`. */
  name: string;
  /** Minimum level; quiet (`warn`) by default. */
  level?: LevelWithSilent;
  /** Write to this file descriptor instead of stderr (2). */
  fd?: number;
  /** Hand each line to this function instead of writing it to a file descriptor. */
  write?: (line: string) => void;
}

/**
 * Creates the root pino logger of a program. Libraries never create loggers:
 * they take one and narrow it with `logger.child({ digest })`.
 */
export function createLogger(options: LoggerOptions): Logger {
  const { pino } = pinoModule();
  return pino(
    { name: options.name, level: options.level ?? 'warn', base: { service: options.name, pid: process.pid } },
    options.write === undefined ? pino.destination({ fd: options.fd ?? 2, sync: true }) : { write: options.write },
  );
}

/** A logger that drops everything: for tests and optional dependencies. */
export function silentLogger(): Logger {
  return pinoModule().pino({ level: 'silent' });
}
