import { writeFileSync } from 'node:fs';
import { errorKind } from '@strata/kit';
import { startProcess, tempDir } from '@strata/kit/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { processStartTime } from './process-control.js';
import { claimUpState, liveParts, readUpState, removeUpState, upStatePath, writeUpState, type UpState } from './up-state.js';

const dirs: Array<{ remove: () => void }> = [];
function runDir(): string {
  const d = tempDir('strata-cli-');
  dirs.push(d);
  return `${d.path}/run`;
}
afterEach(() => dirs.splice(0).forEach((d) => d.remove()));

const state = (dir: string, services: UpState['services'] = []): UpState => ({
  version: 1,
  owner: { pid: 999_999_999 },
  detached: true,
  startedAt: new Date(0).toISOString(),
  stateDir: '/s',
  runDir: dir,
  services,
});

describe('up.json', () => {
  it('is claimed once, read back, replaced and removed', () => {
    const dir = runDir();
    expect(readUpState(dir)).toBeUndefined();
    expect(claimUpState(state(dir))).toBe(true);
    expect(claimUpState(state(dir))).toBe(false);
    const record = { name: 'nats', pid: 1, log: '/s/logs/nats.log', endpoints: [{ protocol: 'nats', address: 'nats://127.0.0.1:1' }] };
    writeUpState(state(dir, [record]));
    expect(readUpState(dir)).toEqual(state(dir, [record]));
    removeUpState(dir);
    removeUpState(dir);
    expect(readUpState(dir)).toBeUndefined();
  });

  it.each([
    ['not JSON', '{', 'is not valid JSON; check that nothing it lists runs, then remove it'],
    ['another JSON', '{"version":2}', 'is not a record written by strata up; check that nothing it lists runs, then remove it'],
  ])('refuses a file that is %s', (_name, text, message) => {
    const dir = runDir();
    claimUpState(state(dir));
    writeFileSync(upStatePath(dir), text);
    let caught: unknown;
    try {
      readUpState(dir);
    } catch (err) {
      caught = err;
    }
    expect(errorKind(caught)).toBe('FailedPrecondition');
    expect((caught as Error).message).toBe(`${upStatePath(dir)} ${message}`);
  });

  it('tells which recorded processes still run', async () => {
    const p = startProcess('sleep', ['30']);
    try {
      const live = { name: 'a', pid: p.pid, startTime: processStartTime(p.pid), log: '', endpoints: [] };
      const reused = { ...live, name: 'b', startTime: live.startTime! + 1 };
      const gone = { name: 'c', pid: 999_999_999, log: '', endpoints: [] };
      expect(liveParts(state('/r', [live, reused, gone]))).toEqual({ owner: false, services: [live] });
      expect(liveParts({ ...state('/r'), owner: { pid: p.pid } }).owner).toBe(true);
    } finally {
      await p.stop();
    }
  });
});
