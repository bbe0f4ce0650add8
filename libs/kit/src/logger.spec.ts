import { describe, expect, it } from 'vitest';
import { createLogger, silentLogger } from './logger.js';

describe('createLogger', () => {
  it('writes JSON lines at warn and above by default, through write when given', () => {
    const lines: string[] = [];
    const logger = createLogger({ name: 'strata-test', write: (line) => lines.push(line) });
    logger.info('not shown');
    logger.child({ digest: 'sha256:x' }).warn({ n: 1 }, 'shown');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: 40, service: 'strata-test', pid: process.pid, digest: 'sha256:x', n: 1, msg: 'shown' });
  });

  it('honours the level', () => {
    const lines: string[] = [];
    createLogger({ name: 'strata-test', level: 'debug', write: (line) => lines.push(line) }).debug('shown');
    expect(lines.map((l) => (JSON.parse(l) as { msg: string }).msg)).toEqual(['shown']);
  });
});

describe('silentLogger', () => {
  it('drops everything, children included', () => {
    const logger = silentLogger();
    expect(logger.level).toBe('silent');
    expect(logger.child({ a: 1 }).isLevelEnabled('error')).toBe(false);
  });
});
