import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger } from 'pino';

export interface LoggerOptions {
  /** Service or program name, put on every line as `service`. */
  name: string;
  /** Minimum level; quiet (`warn`) by default. */
  level?: LevelWithSilent;
  /** Write to this file descriptor instead of stderr (2). */
  fd?: number;
}

/**
 * Creates the root pino logger of a program. Libraries never create loggers:
 * they take one and narrow it with `logger.child({ digest })`.
 */
export function createLogger(options: LoggerOptions): Logger {
  return pino(
    { name: options.name, level: options.level ?? 'warn', base: { service: options.name, pid: process.pid } },
    pino.destination({ fd: options.fd ?? 2, sync: true }),
  );
}

/** A logger that drops everything: for tests and optional dependencies. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
