import { raised } from '@strata/kit/testing';
import { describe, expect, it } from 'vitest';
import { decodeRecord, encodeRecord } from './record-format.js';
import { checkRestartPolicy, formatRestartPolicy, nextRestartDelay, parseRestartPolicy, shouldRestart } from './restart-policy.js';
import { recordFixture } from './testing/record-fixture.js';

describe('parseRestartPolicy', () => {
  it.each([
    ['no', { name: 'no', maximumRetryCount: 0 }],
    ['', { name: 'no', maximumRetryCount: 0 }],
    ['always', { name: 'always', maximumRetryCount: 0 }],
    ['unless-stopped', { name: 'unless-stopped', maximumRetryCount: 0 }],
    ['on-failure', { name: 'on-failure', maximumRetryCount: 0 }],
    ['on-failure:2', { name: 'on-failure', maximumRetryCount: 2 }],
    ['on-failure:', { name: 'on-failure', maximumRetryCount: 0 }],
  ])('reads %j as the docker CLI does', (text, policy) => {
    expect(parseRestartPolicy(text)).toEqual(policy);
  });

  // The texts of docker/cli's ParseRestartPolicy and of the daemon's validateRestartPolicy.
  it.each([
    [':3', 'invalid restart policy format: no policy provided before colon'],
    ['on-failure:x', 'invalid restart policy format: maximum retry count must be an integer'],
    ['on-failure:1.5', 'invalid restart policy format: maximum retry count must be an integer'],
    ['on-failure:-1', 'invalid restart policy: maximum retry count cannot be negative'],
    ['always:3', "invalid restart policy: maximum retry count can only be used with 'on-failure'"],
    ['unless-stopped:-2', "invalid restart policy: maximum retry count can only be used with 'on-failure' and cannot be negative"],
    ['no:1', "invalid restart policy: maximum retry count can only be used with 'on-failure'"],
    ['sometimes', "invalid restart policy: unknown policy 'sometimes'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'"],
    ['Always', "invalid restart policy: unknown policy 'Always'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'"],
  ])('refuses %j', (text, message) => {
    expect(raised(() => parseRestartPolicy(text))).toEqual({ kind: 'InvalidArgument', message });
  });

  it('checks a policy given as fields (the API) with the same rules; an empty name is no', () => {
    expect(checkRestartPolicy({ name: '', maximumRetryCount: 0 })).toEqual({ name: 'no', maximumRetryCount: 0 });
    expect(raised(() => checkRestartPolicy({ name: 'always', maximumRetryCount: 1 }))?.message).toBe(
      "invalid restart policy: maximum retry count can only be used with 'on-failure'",
    );
  });

  it('writes a policy back as --restart takes it', () => {
    expect(['no', 'always', 'on-failure', 'on-failure:3', 'unless-stopped'].map((t) => formatRestartPolicy(parseRestartPolicy(t)))).toEqual([
      'no',
      'always',
      'on-failure',
      'on-failure:3',
      'unless-stopped',
    ]);
  });
});

describe('nextRestartDelay', () => {
  it("grows as Docker's restart manager does: 100 ms, doubled, at most a minute", () => {
    const delays: number[] = [];
    let delay = 0;
    for (let i = 0; i < 12; i++) delays.push((delay = nextRestartDelay(delay, 50)));
    expect(delays).toEqual([100, 200, 400, 800, 1600, 3200, 6400, 12_800, 25_600, 51_200, 60_000, 60_000]);
  });

  it('starts again at 100 ms after a run of 10 seconds or more', () => {
    expect(nextRestartDelay(60_000, 9_999)).toBe(60_000);
    expect(nextRestartDelay(60_000, 10_000)).toBe(100);
    expect(nextRestartDelay(800, 12_000)).toBe(100);
  });
});

describe('shouldRestart', () => {
  const facts = (over: Partial<Parameters<typeof shouldRestart>[1]> = {}) => ({ exitCode: 0, manuallyStopped: false, restartCount: 0, ...over });

  it.each([
    ['no', {}, false],
    ['no', { exitCode: 1 }, false],
    ['always', {}, true],
    ['always', { manuallyStopped: true }, true],
    ['unless-stopped', { exitCode: 3 }, true],
    ['unless-stopped', { manuallyStopped: true }, false],
    ['on-failure', {}, false],
    ['on-failure', { exitCode: 1, restartCount: 1000 }, true],
    ['on-failure:2', { exitCode: 3, restartCount: 1 }, true],
    ['on-failure:2', { exitCode: 3, restartCount: 2 }, false],
    ['on-failure:2', { exitCode: 3, manuallyStopped: true }, true],
  ])('%s after %j: %s', (text, over, expected) => {
    expect(shouldRestart(parseRestartPolicy(text), facts(over))).toBe(expected);
  });
});

describe('restart policy in the record', () => {
  it('keeps the policy and the manual stop, and reads a record without them as no policy, not stopped by hand', () => {
    const r = recordFixture();
    const withPolicy = { ...r, spec: { ...r.spec, restartPolicy: { name: 'on-failure' as const, maximumRetryCount: 2 } }, manuallyStopped: true };
    expect(decodeRecord(encodeRecord(withPolicy))).toEqual(withPolicy);
    const old = decodeRecord(encodeRecord(r));
    expect(old.spec.restartPolicy).toBeUndefined();
    expect(old.manuallyStopped).toBeUndefined();
  });

  it.each([
    [{ restartPolicy: { name: 'sometimes', maximumRetryCount: 0 } }, {}],
    [{ restartPolicy: { name: 'always' } }, {}],
    [{}, { manuallyStopped: 'yes' }],
  ])('refuses a record with spec %j and %j', (spec, top) => {
    const r = recordFixture();
    const text = encodeRecord({ ...r, ...top, spec: { ...r.spec, ...spec } } as unknown as typeof r);
    const got = raised(() => decodeRecord(text, 'f'));
    expect(got?.kind).toBe('InvalidArgument');
    expect(got?.message).toMatch(/^container record f: bad (restart policy|manuallyStopped)$/);
  });
});
