import { appendFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tempDir } from '@strata/kit/testing';
import { readLogFiles, type LogRecord } from './log-reader.js';

const rec = (log: string, stream: 'stdout' | 'stderr' = 'stdout'): string =>
  `${JSON.stringify({ log, stream, time: '2024-01-01T00:00:00.000000000Z' })}\n`;

async function collect(it: AsyncIterable<LogRecord>): Promise<string[]> {
  const out: string[] = [];
  for await (const r of it) out.push(r.log);
  return out;
}

describe('readLogFiles', () => {
  let dir: { path: string; remove: () => void };
  beforeEach(() => {
    dir = tempDir('strata-logs-');
  });
  afterEach(() => dir.remove());

  async function layout(): Promise<void> {
    await writeFile(join(dir.path, 'log.json.2'), rec('a\n') + rec('b\n'));
    await writeFile(join(dir.path, 'log.json.1'), rec('c\n') + rec('d\n', 'stderr'));
    await writeFile(join(dir.path, 'log.json'), rec('e\n') + '{"log":"torn');
  }

  it('reads rotated files oldest first and skips a torn last line', async () => {
    await layout();
    expect(await collect(readLogFiles(dir.path))).toEqual(['a\n', 'b\n', 'c\n', 'd\n', 'e\n']);
  });

  it.each([
    [0, []],
    [1, ['e\n']],
    [3, ['c\n', 'd\n', 'e\n']],
    [10, ['a\n', 'b\n', 'c\n', 'd\n', 'e\n']],
  ])('tails %i records across files', async (tail, expected) => {
    await layout();
    expect(await collect(readLogFiles(dir.path, { tail }))).toEqual(expected);
  });

  it('follows across a rotation until done', async () => {
    const path = join(dir.path, 'log.json');
    await writeFile(path, rec('1\n'));
    let finished = false;
    const reading = collect(readLogFiles(dir.path, { follow: true, pollMs: 10, done: async () => finished }));
    await new Promise((r) => setTimeout(r, 50));
    await appendFile(path, rec('2\n'));
    await rename(path, join(dir.path, 'log.json.1'));
    await writeFile(path, rec('3\n'));
    await new Promise((r) => setTimeout(r, 50));
    await appendFile(path, rec('4\n'));
    finished = true;
    expect(await reading).toEqual(['1\n', '2\n', '3\n', '4\n']);
  });
});
