import { errorKind } from '@strata/kit';
import { describe, expect, it } from 'vitest';
import { withStartFailure } from './container-state.js';
import { listContainers, parseListFilters } from './list-filters.js';
import { recordFixture } from './testing/record-fixture.js';

const running = recordFixture({
  id: `aa${'1'.repeat(62)}`,
  name: 'web',
  image: 'nginx',
  created: '2024-01-02T00:00:00Z',
  state: { status: 'running', pid: 10, exitCode: 0, oomKilled: false, error: '' },
  spec: { ...recordFixture().spec, labels: { tier: 'front', team: 'a' } },
});
const exited = recordFixture({
  id: `bb${'2'.repeat(62)}`,
  name: 'job',
  image: 'busybox:1.36',
  imageId: `sha256:1234${'0'.repeat(60)}`,
  created: '2024-01-03T00:00:00Z',
  state: { status: 'exited', pid: 0, exitCode: 3, oomKilled: false, error: '' },
});
const fresh = recordFixture({ id: `cc${'3'.repeat(62)}`, name: 'new', created: '2024-01-01T00:00:00Z' });
const all = [running, exited, fresh];
const names = (opts: Parameters<typeof listContainers>[1]) => listContainers(all, opts).map((r) => r.name);

describe('listContainers', () => {
  it.each([
    [{}, ['web']],
    [{ all: true }, ['job', 'web', 'new']],
    [{ filters: ['status=exited'] }, ['job']],
    [{ filters: ['status=exited', 'status=created'] }, ['job', 'new']],
    [{ all: true, filters: ['name=e'] }, ['web', 'new']],
    [{ all: true, filters: ['id=bb'] }, ['job']],
    [{ all: true, filters: ['label=tier'] }, ['web']],
    [{ all: true, filters: ['label=tier=back'] }, []],
    [{ all: true, filters: ['label=tier=front', 'label=team=a'] }, ['web']],
    [{ all: true, filters: ['ancestor=nginx:latest'] }, ['web']],
    [{ all: true, filters: ['ancestor=busybox:1.36'] }, ['job']],
    [{ all: true, filters: ['ancestor=1234'] }, ['job']],
    [{ filters: ['exited=3'] }, ['job']],
    [{ filters: ['exited=0'] }, []],
    [{ all: true, filters: ['name=web', 'status=exited'] }, []],
  ])('%j lists %j', (opts, expected) => {
    expect(names(opts)).toEqual(expected);
  });

  it('filters by health: the verdict of a container with checks, none for one without', () => {
    const check = { test: ['CMD', 'true'], intervalMs: 1, timeoutMs: 1, startPeriodMs: 0, startIntervalMs: 1, retries: 1 };
    const healthy = { ...running, name: 'healthy', healthCheck: check, state: { ...running.state, health: { status: 'healthy' as const, failingStreak: 0, log: [] } } };
    const list = (filter: string) => listContainers([running, healthy], { filters: [filter] }).map((r) => r.name);
    expect(list('health=healthy')).toEqual(['healthy']);
    expect(list('health=none')).toEqual(['web']);
    expect(list('health=unhealthy')).toEqual([]);
  });

  // As moby's list: a container whose start failed is created (its exit code matches no exited= filter, which
  // needs a run that started).
  it.each([
    [{ all: true }, ['failed']],
    [{ filters: ['status=created'] }, ['failed']],
    [{ filters: ['status=exited'] }, []],
    [{ filters: ['exited=127'] }, []],
  ])('%j of a container whose start failed lists %j', (opts, expected) => {
    const failed = withStartFailure(recordFixture({ name: 'failed' }), 'exec: "nope": executable file not found in $PATH', 127);
    expect(listContainers([failed], opts).map((r) => r.name)).toEqual(expected);
  });

  it.each([
    ['nope=1', "invalid filter 'nope=1'"],
    ['status', "invalid filter 'status'"],
    ['status=sleeping', 'Unrecognised filter value for status: sleeping'],
    ['exited=x', "invalid filter 'exited=x'"],
    ['health=fine', 'Unrecognised filter value for health: fine'],
  ])('refuses %s', (filter, message) => {
    let err: unknown;
    try {
      parseListFilters([filter]);
    } catch (e) {
      err = e;
    }
    expect({ kind: errorKind(err), message: (err as Error).message }).toEqual({ kind: 'InvalidArgument', message });
  });
});
