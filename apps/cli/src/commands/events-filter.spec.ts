import { errorKind, makeCloudEvent, type CloudEvent } from '@strata/kit';
import { describe, expect, it } from 'vitest';
import { eventFilterSubject, matchesEventFilters, parseEventFilters, type EventFilters } from './events-filter.js';

const T = new Date('2026-11-28T03:25:25Z');
const pulled = makeCloudEvent('strata/registry-mirror/n1', 'image.pulled', 'docker.io/library/busybox:latest', {
  ref: 'docker.io/library/busybox:latest',
  digest: 'sha256:aaa',
  imageId: 'sha256:bbb',
}, T);
const deleted = makeCloudEvent('strata/registry-mirror/n2', 'image.deleted', 'docker.io/library/alpine:3.20', {
  ref: 'docker.io/library/alpine:3.20',
  digest: 'sha256:ccc',
}, T);
const exited = makeCloudEvent('strata/node-agent/n1', 'container.exited', '4f2a9c0e1b7d', {
  name: 'web',
  image: 'docker.io/library/busybox:latest',
  exitCode: 0,
}, T);
const exec = makeCloudEvent('strata/node-agent/n1', 'exec.started', '4f2a9c0e1b7d', { id: '4f2a9c0e1b7d', execId: 'e1', node: 'n1' }, T);
const committed = makeCloudEvent('strata/snapshotter/n9', 'snapshot.committed', 'sha256:chain', { name: 'sha256:chain', node: 'n2' }, T);
const all: Array<[string, CloudEvent]> = [
  ['pulled', pulled],
  ['deleted', deleted],
  ['exited', exited],
  ['committed', committed],
  ['exec', exec],
];

const pick = (filters: string[]) => {
  const parsed = parseEventFilters(filters);
  return all.filter(([, e]) => matchesEventFilters(e, parsed)).map(([name]) => name);
};

describe('matchesEventFilters', () => {
  it.each<[string[], string[]]>([
    [[], ['pulled', 'deleted', 'exited', 'committed', 'exec']],
    [['type=image'], ['pulled', 'deleted']],
    [['type=image', 'type=container'], ['pulled', 'deleted', 'exited']],
    [['event=pulled'], ['pulled']],
    [['event=image.deleted'], ['deleted']],
    [['event=pulled', 'event=exited'], ['pulled', 'exited']],
    [['event=started'], ['exec']],
    [['type=image', 'event=exited'], []],
    [['type=image', 'type=container', 'event=exited'], ['exited']],
    [['node=n1'], ['pulled', 'exited', 'exec']],
    [['node=n2'], ['deleted', 'committed']],
    [['node=n1', 'type=container'], ['exited']],
    [['container=4f2a'], ['exited', 'exec']],
    [['container=4f2a', 'type=exec'], ['exec']],
    [['container=web'], ['exited']],
    [['container=we'], []],
    [['container=nope', 'container=web'], ['exited']],
    [['image=busybox'], ['pulled', 'exited']],
    [['image=busybox:latest'], ['pulled', 'exited']],
    [['image=busybox:1.36'], []],
    [['image=docker.io/library/alpine'], ['deleted']],
    [['image=sha256:bbb'], ['pulled']],
    [['image=busybox', 'type=image'], ['pulled']],
    [['image=alpine', 'image=busybox', 'node=n2'], ['deleted']],
  ])('%j keeps %j', (filters, kept) => {
    expect(pick(filters)).toEqual(kept);
  });
});

describe('parseEventFilters', () => {
  it('groups values by key', () => {
    expect(parseEventFilters(['type=image', 'node=n1', 'type=container', 'Event=pulled'])).toEqual({
      type: ['image', 'container'],
      node: ['n1'],
      event: ['pulled'],
    });
  });

  it.each([
    ['label=a=b', 'invalid filter "label": the event filters are container=, event=, image=, node=, type='],
    ['nope', 'bad format of filter (expected name=value): "nope"'],
    ['=x', 'bad format of filter (expected name=value): "=x"'],
    ['node=', 'filter node= needs a value'],
    ['type=Image', 'invalid filter type=Image: an event type is a lower-case word such as container, image, snapshot or node'],
    ['type=image.>', 'invalid filter type=image.>: an event type is a lower-case word such as container, image, snapshot or node'],
    [
      'event=*',
      'invalid filter event=*: an event is a lower-case word such as exited or pulled, or a type and event such as image.pulled',
    ],
  ])('refuses %s', (text, message) => {
    let caught: unknown;
    try {
      parseEventFilters([text]);
    } catch (err) {
      caught = err;
    }
    expect(errorKind(caught)).toBe('InvalidArgument');
    expect((caught as Error).message).toBe(message);
  });
});

describe('eventFilterSubject', () => {
  it.each<[EventFilters, string]>([
    [{}, 'strata.events.>'],
    [{ type: ['image'] }, 'strata.events.image.>'],
    [{ event: ['exited'] }, 'strata.events.*.exited'],
    [{ type: ['image'], event: ['pulled'] }, 'strata.events.image.pulled'],
    [{ event: ['image.pulled'] }, 'strata.events.image.pulled'],
    [{ type: ['image'], event: ['image.pulled'] }, 'strata.events.image.pulled'],
    [{ type: ['container'], event: ['image.pulled'] }, 'strata.events.>'],
    [{ type: ['image', 'container'] }, 'strata.events.>'],
    [{ event: ['pulled', 'exited'], node: ['n1'] }, 'strata.events.>'],
    [{ node: ['n1'], image: ['busybox'] }, 'strata.events.>'],
  ])('%j → %s', (filters, subject) => {
    expect(eventFilterSubject(filters)).toBe(subject);
  });
});
