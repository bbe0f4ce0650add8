import { errorKind } from '@strata/kit';
import { describe, expect, it } from 'vitest';
import { checkPsArgs, containerTop, parsePsOutput } from './top.js';

const PS_EF = [
  'UID          PID    PPID  C STIME TTY          TIME CMD',
  'root           1       0  0 05:41 ?        00:00:03 /sbin/init',
  'root        4242    4200  0 06:12 ?        00:00:00 sh -c while true; do sleep 1; done',
  'nobody      4250    4242  0 06:12 pts/0    00:00:00 sleep 1',
  '',
].join('\n');

const failure = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    return { kind: errorKind(err), message: (err as Error).message };
  }
  return undefined;
};

describe('parsePsOutput', () => {
  it("keeps the rows of the container's pids, the command with its spaces", () => {
    expect(parsePsOutput(PS_EF, new Set([4242, 4250]))).toEqual({
      titles: ['UID', 'PID', 'PPID', 'C', 'STIME', 'TTY', 'TIME', 'CMD'],
      processes: [
        ['root', '4242', '4200', '0', '06:12', '?', '00:00:00', 'sh -c while true; do sleep 1; done'],
        ['nobody', '4250', '4242', '0', '06:12', 'pts/0', '00:00:00', 'sleep 1'],
      ],
    });
  });

  it('finds PID in any column and keeps short rows as they are', () => {
    expect(parsePsOutput('COMMAND PID\nsleep 7\nsh\n', new Set([7]))).toEqual({ titles: ['COMMAND', 'PID'], processes: [['sleep', '7']] });
  });

  it('refuses output without a PID column', () => {
    expect(failure(() => parsePsOutput('USER COMMAND\nroot sh\n', new Set([1])))).toEqual({
      kind: 'InvalidArgument',
      message: "Couldn't find PID field in ps output: the ps options must show the PID column",
    });
  });
});

describe('checkPsArgs', () => {
  it('accepts ordinary options and a pid column renamed to PID', () => {
    expect(() => checkPsArgs(['-ef'])).not.toThrow();
    expect(() => checkPsArgs(['-o', 'pid=PID,comm'])).not.toThrow();
    expect(() => checkPsArgs(['aux'])).not.toThrow();
  });

  it('refuses another column renamed to PID, which would pass for the process ids', () => {
    expect(failure(() => checkPsArgs(['-o', 'pid,comm=PID']))).toEqual({
      kind: 'InvalidArgument',
      message: 'specifying "comm=PID" is not allowed: it would hide which column is the PID',
    });
    expect(failure(() => checkPsArgs(['-o', 'user= PIDX']))).toMatchObject({ kind: 'InvalidArgument' });
  });

  it('bounds the options', () => {
    expect(failure(() => checkPsArgs(Array.from({ length: 65 }, () => '-e')))?.message).toBe('too many ps options: 65, at most 64');
    expect(failure(() => checkPsArgs(['-o', 'x'.repeat(5000)]))?.message).toBe('ps options of 5002 bytes; at most 4096');
  });
});

describe('containerTop', () => {
  it("runs this host's ps and keeps the given pids", async () => {
    const top = await containerTop([process.pid], ['-o', 'pid,comm']);
    expect(top.titles).toEqual(['PID', 'COMMAND']);
    expect(top.processes).toEqual([[String(process.pid), expect.any(String)]]);
  });

  it('reports options ps refuses as InvalidArgument with its message', async () => {
    const err = await containerTop([1], ['--no-such-option']).catch((e: unknown) => e);
    expect(errorKind(err)).toBe('InvalidArgument');
    expect((err as Error).message).toMatch(/^ps --no-such-option failed: .+/);
  });
});
