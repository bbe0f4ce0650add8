import { describe, expect, it } from 'vitest';
import { errorKind } from './errors.js';
import { eventSubject, makeCloudEvent, parseCloudEvent, shortEventType } from './events.js';

describe('CloudEvents helpers', () => {
  it('round-trips an event through JSON', () => {
    const ce = makeCloudEvent('strata/test/n1', 'image.pulled', 'docker.io/library/busybox:latest', { ref: 'x' }, new Date(0));
    expect(parseCloudEvent(JSON.stringify(ce))).toEqual(ce);
    expect(shortEventType(ce.type)).toBe('image.pulled');
    expect(eventSubject('image.pulled')).toBe('strata.events.image.pulled');
  });

  it('keeps a type without the Strata prefix as it is', () => {
    expect(shortEventType('com.example.thing')).toBe('com.example.thing');
  });

  const valid = { specversion: '1.0', id: 'a', source: 's', type: 'io.strata.x.y', subject: 'o', time: '2026-01-01T00:00:00.000Z' };
  it.each([
    ['not JSON', '{', /^event is not JSON: /],
    ['an array', '[]', /^event is not a JSON object$/],
    ['another spec version', JSON.stringify({ ...valid, specversion: '0.3' }), /^event specversion must be "1.0", got "0.3"$/],
    ['no id', JSON.stringify({ ...valid, id: undefined }), /^event attribute id must be a non-empty string$/],
    ['an empty subject', JSON.stringify({ ...valid, subject: '' }), /^event attribute subject must be a non-empty string$/],
    ['a bad time', JSON.stringify({ ...valid, time: 'yesterday' }), /^event time "yesterday" is not an RFC 3339 time$/],
  ])('refuses %s', (_name, text, message) => {
    let caught: unknown;
    try {
      parseCloudEvent(text);
    } catch (err) {
      caught = err;
    }
    expect(errorKind(caught)).toBe('InvalidArgument');
    expect((caught as Error).message).toMatch(message);
  });
});
