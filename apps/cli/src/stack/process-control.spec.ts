import { startProcess, type TestProcess } from '@strata/kit/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { isRunning, processStartTime, stopProcess } from './process-control.js';

const procs: TestProcess[] = [];
const start = (script: string) => {
  const p = startProcess('sh', ['-c', script]);
  procs.push(p);
  return p;
};

afterEach(async () => {
  await Promise.all(procs.splice(0).map((p) => p.stop('SIGKILL')));
});

describe('process control', () => {
  it('tells a running process from one that reuses its pid later', () => {
    const p = start('exec sleep 30');
    const startTime = processStartTime(p.pid);
    expect(startTime).toBeGreaterThan(0);
    expect(isRunning(p.pid)).toBe(true);
    expect(isRunning(p.pid, startTime)).toBe(true);
    expect(isRunning(p.pid, startTime! + 1)).toBe(false);
  });

  it.each([[0], [-1], [1.5]])('sees no process at pid %d', (pid) => {
    expect(isRunning(pid)).toBe(false);
  });

  it('stops a process with SIGTERM and reports it', async () => {
    const p = start('exec sleep 30');
    const startTime = processStartTime(p.pid);
    expect(await stopProcess(p.pid, { startTime })).toBe('stopped');
    expect(await p.exited).toBe('SIGTERM');
    expect(isRunning(p.pid, startTime)).toBe(false);
    expect(await stopProcess(p.pid, { startTime })).toBe('not-running');
  });

  it('kills a process that ignores SIGTERM after the timeout', async () => {
    const p = start('trap "" TERM; exec sleep 30');
    await new Promise((r) => setTimeout(r, 100));
    expect(await stopProcess(p.pid, { startTime: processStartTime(p.pid), timeoutMs: 200 })).toBe('killed');
    expect(await p.exited).toBe('SIGKILL');
  });

  it('leaves alone a process whose start time differs (a reused pid)', async () => {
    const p = start('exec sleep 30');
    expect(await stopProcess(p.pid, { startTime: processStartTime(p.pid)! - 1 })).toBe('not-running');
    expect(isRunning(p.pid)).toBe(true);
  });
});
