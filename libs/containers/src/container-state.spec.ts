import { errorKind } from '@strata/kit';
import { describe, expect, it } from 'vitest';
import { checkRemovable, checkStartable, describeStatus, startFailureCode, withExited, withRestarting, withStartFailure, withStarted } from './container-state.js';
import { decodeRecord, encodeRecord } from './record-format.js';
import { recordFixture } from './testing/record-fixture.js';

const raised = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    return { kind: errorKind(e), message: (e as Error).message };
  }
  return undefined;
};

describe('container state', () => {
  it('resets the OOM count on each start', () => {
    const once = withStarted(recordFixture(), 42, '2024-01-01T00:00:01Z');
    expect(once.state).toEqual({ status: 'running', pid: 42, exitCode: 0, oomKilled: false, startedAt: '2024-01-01T00:00:01Z', error: '' });
    expect(once.restartCount).toBe(0);
    const ended = withExited({ ...once, oomKillsSeen: 2 }, { exitCode: 137, oomKilled: true, finishedAt: '2024-01-01T00:00:02Z' });
    expect(ended.state).toMatchObject({ status: 'exited', pid: 0, exitCode: 137, oomKilled: true, finishedAt: '2024-01-01T00:00:02Z' });
    const again = withStarted(ended, 43, '2024-01-01T00:00:03Z');
    expect(again).toMatchObject({ restartCount: 0, oomKillsSeen: 0, state: { status: 'running', oomKilled: false } });
  });

  // moby: RestartCount++ when the restart manager decides to restart; a start by hand (ResetRestartManager) sets it
  // to 0 and clears HasBeenManuallyStopped.
  it('counts restarts by the policy, and a start by hand resets the count and the manual stop', () => {
    const ran = withStarted(recordFixture(), 42, '2024-01-01T00:00:01Z');
    const restarting = withRestarting(ran, { exitCode: 3, oomKilled: false, finishedAt: '2024-01-01T00:00:02Z' });
    expect(restarting).toMatchObject({ restartCount: 1, state: { status: 'restarting', pid: 0, exitCode: 3, finishedAt: '2024-01-01T00:00:02Z' } });
    expect(describeStatus(restarting.state, new Date('2024-01-01T00:00:04Z'))).toBe('Restarting (3) 2 seconds ago');
    const byPolicy = withStarted(restarting, 43, '2024-01-01T00:00:03Z', true);
    expect(byPolicy).toMatchObject({ restartCount: 1, state: { status: 'running', pid: 43, exitCode: 0 } });
    const stopped = withExited({ ...byPolicy, manuallyStopped: true }, { exitCode: 143, oomKilled: false, finishedAt: '2024-01-01T00:00:04Z' });
    const byHand = withStarted(stopped, 44, '2024-01-01T00:00:05Z');
    expect(byHand.restartCount).toBe(0);
    expect(byHand.manuallyStopped).toBeUndefined();
  });

  it.each([
    ['a running container without force', 'running', false, "cannot remove container \"/test_container\": container is running: stop the container before removing or force remove"],
    ['a restarting container without force', 'restarting', false, "cannot remove container \"/test_container\": container is restarting: stop the container before removing or force remove"],
  ])('refuses to remove %s', (_what, status, force, message) => {
    const r = recordFixture({ state: { status: status as 'running', pid: 1, exitCode: 0, oomKilled: false, error: '' } });
    expect(raised(() => checkRemovable(r, force))).toEqual({ kind: 'FailedPrecondition', message });
    expect(raised(() => checkRemovable(r, true))).toBeUndefined();
  });

  it.each([
    ['removing', '', 'container test_container is being removed'],
    ['dead', 'rootfs lost', 'container test_container is dead: rootfs lost; remove it'],
  ])('refuses to start a %s container', (status, error, message) => {
    const r = recordFixture({ state: { status: status as 'dead', pid: 0, exitCode: 0, oomKilled: false, error } });
    expect(raised(() => checkStartable(r))).toEqual({ kind: 'FailedPrecondition', message });
  });

  // moby's containerStart records the error and exit code of a start that failed and leaves the rest: State.Status
  // is derived from StartedAt (created until a run started, exited after), FinishedAt stays the last run's.
  it('keeps a container whose first start failed created, with the exit code and error, as Docker', () => {
    const failed = withStartFailure(recordFixture(), 'exec: "nope": executable file not found in $PATH', 127);
    expect(failed.state).toEqual({ status: 'created', pid: 0, exitCode: 127, oomKilled: false, error: 'exec: "nope": executable file not found in $PATH' });
    expect(describeStatus(failed.state)).toBe('Created');
    expect(raised(() => checkStartable(failed))).toBeUndefined();
    expect(raised(() => checkRemovable(failed, false))).toBeUndefined();
    const retried = withStarted(failed, 42, '2024-01-01T00:00:01Z');
    expect(retried).toMatchObject({ restartCount: 0, state: { status: 'running', exitCode: 0, error: '' } });
  });

  it('keeps a container that ran before exited with its last run\'s times when a start fails, as Docker', () => {
    const ran = withExited(withStarted(recordFixture(), 42, '2024-01-01T00:00:01Z'), { exitCode: 0, oomKilled: false, finishedAt: '2024-01-01T00:00:02Z' });
    const failed = withStartFailure(ran, 'exec: "sh": executable file not found in $PATH', 127);
    expect(failed.state).toEqual({
      status: 'exited',
      pid: 0,
      exitCode: 127,
      oomKilled: false,
      startedAt: '2024-01-01T00:00:01Z',
      finishedAt: '2024-01-01T00:00:02Z',
      error: 'exec: "sh": executable file not found in $PATH',
    });
    expect(describeStatus(failed.state, new Date('2024-01-01T00:00:07Z'))).toBe('Exited (127) 5 seconds ago');
  });

  it.each([
    ['exec: "nope": executable file not found in $PATH', 127],
    ['exec: /etc: permission denied', 126],
    ['something else', 128],
  ])('maps start failure %j to exit code %d', (message, code) => {
    expect(startFailureCode(message)).toBe(code);
  });

  it.each([
    [{ status: 'created' }, 'Created'],
    [{ status: 'running', startedAt: '2024-01-01T00:00:00Z' }, 'Up 5 seconds'],
    [{ status: 'exited', exitCode: 2, finishedAt: '2024-01-01T00:00:00Z' }, 'Exited (2) 5 seconds ago'],
  ])('describes %j as %s', (state, text) => {
    const full = { pid: 0, exitCode: 0, oomKilled: false, error: '', ...state } as Parameters<typeof describeStatus>[0];
    expect(describeStatus(full, new Date('2024-01-01T00:00:05Z'))).toBe(text);
  });
});

describe('record format', () => {
  it('round-trips a record', () => {
    const r = recordFixture({ spec: { ...recordFixture().spec, entrypoint: [], resources: { memoryBytes: 1 << 24 } } });
    expect(decodeRecord(encodeRecord(r))).toEqual(r);
  });

  it('reads a version 1 record (before mounts) as a container without mounts', () => {
    const { mounts: _none, ...oldSpec } = recordFixture().spec;
    const old = JSON.stringify({ version: 1, ...recordFixture(), spec: oldSpec });
    expect(decodeRecord(old).spec.mounts).toEqual([]);
    expect(encodeRecord(decodeRecord(old))).toContain('"version": 2');
  });

  it('round-trips mounts', () => {
    const mounts = [
      { type: 'bind' as const, source: '/srv/data', target: '/data', readOnly: true, mode: 'ro', createMountpoint: true },
      { type: 'tmpfs' as const, source: '', target: '/run', readOnly: false, tmpfsSizeBytes: 1 << 20, tmpfsMode: 0o700 },
    ];
    const r = recordFixture({ spec: { ...recordFixture().spec, mounts } });
    expect(decodeRecord(encodeRecord(r)).spec.mounts).toEqual(mounts);
  });

  it.each([
    ['{', 'container record f: not JSON'],
    ['[]', 'container record f: not a JSON object'],
    ['{"version":3}', 'container record f: unknown format version 3'],
    [JSON.stringify({ ...recordFixture(), version: 1, id: '../x' }), 'container record f: bad id'],
    [JSON.stringify({ ...recordFixture(), version: 1, state: { status: 'zombie' } }), 'container record f: bad state'],
    [JSON.stringify({ ...recordFixture(), version: 2, spec: { ...recordFixture().spec, mounts: [{ type: 'nfs' }] } }), 'container record f: bad mounts'],
    [JSON.stringify({ ...recordFixture(), version: 2, spec: { ...recordFixture().spec, mounts: undefined } }), 'container record f: bad mounts'],
  ])('refuses %s', (text, message) => {
    const got = raised(() => decodeRecord(text, 'f'));
    expect(got?.kind).toBe('InvalidArgument');
    expect(got?.message.startsWith(message)).toBe(true);
  });
});
