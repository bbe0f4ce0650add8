import { makeCloudEvent } from '@strata/kit';
import { describe, expect, it } from 'vitest';
import { dockerStatusOf } from './docker-error.js';
import {
  dockerEventSubject,
  dockerEventsOf,
  formatDockerEvent,
  matchesDockerEventFilters,
  parseDockerEventFilters,
  parseDockerTimestamp,
  unixNanos,
  type DockerEvent,
} from './docker-events.js';

const ID = 'a'.repeat(64);
const TIME = new Date('2026-11-28T03:25:25.123Z');
const event = (type: string, subject: string, data: unknown) => makeCloudEvent('strata/node-agent/n1', type, subject, data, TIME);
const params = (filters: unknown) => new URLSearchParams({ filters: JSON.stringify(filters) });

describe('dockerEventsOf', () => {
  it.each([
    ['container.created', { id: ID, name: 'web', image: 'busybox:1', imageId: 'sha256:b', node: 'n1' }, 'create', { image: 'busybox:1', name: 'web' }],
    ['container.started', { id: ID, name: 'web', pid: 42, node: 'n1' }, 'start', { name: 'web' }],
    ['container.exited', { id: ID, name: 'web', exitCode: 3, node: 'n1' }, 'die', { name: 'web', exitCode: '3' }],
    ['container.exited', { id: ID, name: 'web', node: 'n1' }, 'die', { name: 'web', exitCode: '0' }],
    ['container.oom', { id: ID, name: 'web', node: 'n1' }, 'oom', { name: 'web' }],
    ['container.deleted', { id: ID, name: 'web', node: 'n1' }, 'destroy', { name: 'web' }],
    ['container.paused', { id: ID, name: 'web', node: 'n1' }, 'pause', { name: 'web' }],
    ['container.unpaused', { id: ID, name: 'web', node: 'n1' }, 'unpause', { name: 'web' }],
    ['container.renamed', { id: ID, name: 'api', oldName: 'web', node: 'n1' }, 'rename', { name: 'api', oldName: '/web' }],
    [
      'container.committed',
      { id: ID, name: 'web', imageId: 'sha256:c', reference: 'docker.io/library/app:1', node: 'n1' },
      'commit',
      { name: 'web', imageID: 'sha256:c', imageRef: 'app:1' },
    ],
    ['exec.started', { id: ID, execId: 'e1', args: ['sh', '-c', 'true'], node: 'n1' }, 'exec_start: sh -c true', { execID: 'e1' }],
    ['exec.exited', { id: ID, execId: 'e1', exitCode: 1, node: 'n1' }, 'exec_die', { execID: 'e1', exitCode: '1' }],
  ])('maps %s to the container action', (type, data, action, attributes) => {
    const [docker, ...more] = dockerEventsOf(event(type, ID, data));
    expect(more).toEqual([]);
    expect(docker).toEqual({
      status: action,
      id: ID,
      ...('image' in attributes ? { from: attributes.image } : {}),
      Type: 'container',
      Action: action,
      Actor: { ID, Attributes: attributes },
      scope: 'local',
      time: 1795836325,
      timeNano: '1795836325123000000',
    });
  });

  it('adds what the caller knows of the container, the event winning', () => {
    const [docker] = dockerEventsOf(event('container.started', ID, { id: ID, name: 'web' }), { image: 'busybox', name: 'old', app: 'x' });
    expect(docker?.Actor.Attributes).toEqual({ image: 'busybox', name: 'web', app: 'x' });
    expect(docker?.from).toBe('busybox');
  });

  it.each([
    ['image.pulled', { ref: 'docker.io/library/busybox:latest', digest: 'sha256:d' }, [['pull', 'busybox:latest', { name: 'busybox' }]]],
    ['image.pushed', { ref: 'x', target: 'localhost:5000/app:1', digest: 'sha256:d' }, [['push', 'localhost:5000/app:1', { name: 'localhost:5000/app' }]]],
    ['image.tagged', { ref: 'docker.io/library/app:2', digest: 'sha256:d' }, [['tag', 'sha256:d', { name: 'app:2' }]]],
    ['image.loaded', { ref: 'docker.io/library/app:2', digest: 'sha256:d', imageId: 'sha256:i' }, [['load', 'sha256:i', { name: 'app:2' }]]],
    ['image.deleted', { ref: 'docker.io/library/app:2', digest: 'sha256:d' }, [['untag', 'sha256:d', { name: 'app:2' }]]],
    [
      'image.deleted',
      { ref: 'docker.io/library/app:2', digest: 'sha256:d', imageDeleted: true },
      [
        ['untag', 'sha256:d', { name: 'app:2' }],
        ['delete', 'sha256:d', { name: 'app:2' }],
      ],
    ],
  ])('maps %s to image actions', (type, data, expected) => {
    const docker = dockerEventsOf(event(type, String(data.ref), data));
    expect(docker.map((d) => [d.Action, d.Actor.ID, d.Actor.Attributes])).toEqual(expected);
    expect(docker.every((d) => d.Type === 'image' && d.status === d.Action && d.id === d.Actor.ID && d.from === undefined)).toBe(true);
  });

  it.each(['snapshot.committed', 'blob.stored', 'node.heartbeat'])('has no Docker event for %s', (type) => {
    expect(dockerEventsOf(event(type, 'x', {}))).toEqual([]);
  });
});

describe('volume events', () => {
  it('are Docker volume create and destroy events, without the legacy fields, matched by the volume filter', () => {
    const [created] = dockerEventsOf(event('volume.created', 'data', { name: 'data', driver: 'local', node: 'n1' }));
    expect(created).toEqual({
      Type: 'volume',
      Action: 'create',
      Actor: { ID: 'data', Attributes: { driver: 'local' } },
      scope: 'local',
      time: Math.floor(TIME.getTime() / 1000),
      timeNano: `${TIME.getTime()}000000`,
    });
    const [deleted] = dockerEventsOf(event('volume.deleted', 'data', { name: 'data', node: 'n1' }));
    expect(deleted).toMatchObject({ Type: 'volume', Action: 'destroy', Actor: { ID: 'data' } });
    expect(matchesDockerEventFilters(created!, parseDockerEventFilters(params({ volume: ['data'], type: ['volume'] })))).toBe(true);
    expect(matchesDockerEventFilters(created!, parseDockerEventFilters(params({ volume: ['other'] })))).toBe(false);
  });
});

describe('unixNanos and formatDockerEvent', () => {
  it('keeps every digit of the time', () => {
    expect(unixNanos('2026-11-28T03:25:25.123456789Z')).toBe(1795836325123456789n);
    expect(unixNanos('2026-11-28T03:25:25Z')).toBe(1795836325000000000n);
    expect(unixNanos('not a time')).toBeUndefined();
  });

  it('writes timeNano as an exact JSON integer', () => {
    const [docker] = dockerEventsOf(event('container.oom', ID, { id: ID, name: 'web' }));
    const line = formatDockerEvent({ ...(docker as DockerEvent), timeNano: '1795836325123456789' });
    expect(line.endsWith(',"timeNano":1795836325123456789}')).toBe(true);
    expect(JSON.parse(line)).toMatchObject({ Type: 'container', Action: 'oom', scope: 'local', time: 1795836325 });
  });
});

describe('Docker event filters', () => {
  const [create] = dockerEventsOf(event('container.created', ID, { id: ID, name: 'web', image: 'docker.io/library/busybox:1' }), {
    app: 'shop',
    tier: 'front',
  });
  const [execStart] = dockerEventsOf(event('exec.started', ID, { id: ID, execId: 'e', args: ['ls'] }));
  const [pull] = dockerEventsOf(event('image.pulled', 'r', { ref: 'docker.io/library/busybox:latest' }));

  it.each([
    [{ type: ['container'] }, true, false],
    [{ type: { image: true } }, false, true],
    [{ type: ['container', 'image'] }, true, true],
    [{ event: ['create'] }, true, false],
    [{ event: ['pull', 'create'] }, true, true],
    [{ container: ['web'] }, true, false],
    [{ container: [ID.slice(0, 12)] }, true, false],
    [{ container: ['other'] }, false, false],
    [{ image: ['busybox'] }, true, true],
    [{ image: ['busybox:1'] }, true, false],
    [{ image: ['busybox:latest'] }, false, true],
    [{ label: ['app'] }, true, false],
    [{ label: ['app=shop', 'tier=front'] }, true, false],
    [{ label: ['app=shop', 'tier=back'] }, false, false],
    [{ scope: ['local'] }, true, true],
    [{ scope: ['swarm'] }, false, false],
    [{ network: ['bridge'] }, false, false],
    [{ type: ['container'], event: ['start'] }, false, false],
  ])('%j matches the create: %s, the pull: %s', (filters, onCreate, onPull) => {
    const parsed = parseDockerEventFilters(params(filters));
    expect(matchesDockerEventFilters(create as DockerEvent, parsed)).toBe(onCreate);
    expect(matchesDockerEventFilters(pull as DockerEvent, parsed)).toBe(onPull);
  });

  it('matches an exec_start by the action before its command', () => {
    expect(matchesDockerEventFilters(execStart as DockerEvent, parseDockerEventFilters(params({ event: ['exec_start'] })))).toBe(true);
  });

  it.each([
    [params({ colour: ['red'] }), "invalid filter 'colour'"],
    [new URLSearchParams({ filters: '{' }), 'invalid filters: '],
    [params(['type']), 'invalid filters: expected a JSON object of filter name to values'],
  ])('refuses %s with 400', (query, message) => {
    let caught: unknown;
    try {
      parseDockerEventFilters(query);
    } catch (err) {
      caught = err;
    }
    expect(dockerStatusOf(caught)).toBe(400);
    expect((caught as Error).message.startsWith(message)).toBe(true);
  });

  it('reads only image events from NATS for type=image', () => {
    expect(dockerEventSubject(parseDockerEventFilters(params({ type: ['image'] })))).toBe('strata.events.image.>');
    expect(dockerEventSubject(parseDockerEventFilters(params({ type: ['container'] })))).toBe('strata.events.>');
    expect(dockerEventSubject(new Map())).toBe('strata.events.>');
  });
});

describe('parseDockerTimestamp', () => {
  it.each([
    ['1795836325', '2026-11-28T03:25:25.000Z'],
    ['1795836325.5', '2026-11-28T03:25:25.500Z'],
    ['1795836325.123456789', '2026-11-28T03:25:25.123Z'],
    ['2026-11-28T03:25:25Z', '2026-11-28T03:25:25.000Z'],
  ])('reads %s', (value, iso) => {
    expect(parseDockerTimestamp(new URLSearchParams({ since: value }), 'since')?.toISOString()).toBe(iso);
  });

  it('is undefined when absent', () => {
    expect(parseDockerTimestamp(new URLSearchParams(), 'since')).toBeUndefined();
  });

  it.each(['10m', 'yesterday', '-5'])('refuses %s with 400', (value) => {
    let caught: unknown;
    try {
      parseDockerTimestamp(new URLSearchParams({ until: value }), 'until');
    } catch (err) {
      caught = err;
    }
    expect(dockerStatusOf(caught)).toBe(400);
    expect((caught as Error).message).toBe(
      `invalid value for until: ${JSON.stringify(value)} is neither Unix seconds (1764300325.5) nor an RFC 3339 time`,
    );
  });
});
