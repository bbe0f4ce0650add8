import { describe, expect, it } from 'vitest';
import { fieldsOf, parseFilters } from './filters.js';
import { expectError } from './testing/expect-error.js';

const blob = {
  digest: 'sha256:abc123',
  size: 42,
  createdAt: new Date('2024-05-01T10:00:00Z'),
  labels: { kind: 'layer', 'strata.gc.root': '', 'a/b.c': 'x=y', spaced: 'two words' },
};
const matches = (filters: string[], object: Record<string, unknown> = blob) => parseFilters(filters)(fieldsOf(object));

describe('parseFilters', () => {
  it.each([
    [[], true],
    [[''], true],
    [['  '], true],
    [['digest==sha256:abc123'], true],
    [['digest==sha256:abc'], false],
    [['digest!=sha256:abc'], true],
    [['digest~=^sha256:ab'], true],
    [['digest~=^sha256:b'], false],
    [['size==42'], true],
    [['size!=42'], false],
    [['createdAt==2024-05-01T10:00:00.000Z'], true],
    [['labels.kind==layer'], true],
    [['labels.kind == layer'], true],
    [['labels.kind=="layer"'], true],
    [['labels.kind~=lay'], true],
    [['labels.kind~=^(config|index)$'], false],
    [['labels.kind'], true],
    [['labels.strata.gc.root'], true],
    [['labels.strata.gc.root=='], true],
    [['labels.missing'], false],
    [['labels.missing!=x'], true],
    [['labels.missing~=.*'], false],
    [['labels.a/b.c==x=y'], true],
    [['labels.spaced==two words'], true],
    [['labels.kind==layer', 'size==42'], true],
    [['labels.kind==layer', 'size==43'], false],
    [['digest'], true],
    [['ref'], false],
  ])('%j matches: %s', (filters, expected) => {
    expect(matches(filters)).toBe(expected);
  });

  it('does not see inherited properties as fields or labels', () => {
    expect(matches(['labels.constructor'])).toBe(false);
    expect(matches(['labels.toString~=.'])).toBe(false);
    expect(matches(['constructor'])).toBe(false);
    expect(matches(['hasOwnProperty'])).toBe(false);
  });

  it('treats a missing labels object as no labels', () => {
    expect(matches(['labels.kind'], { ref: 'r' })).toBe(false);
    expect(matches(['ref==r'], { ref: 'r', expected: undefined })).toBe(true);
    expect(matches(['expected'], { ref: 'r', expected: undefined })).toBe(false);
  });

  it.each([
    ['labels.kind=layer', 'invalid filter "labels.kind=layer": expected field==value, field!=value, field~=regexp or field'],
    ['bad name==x', 'invalid filter "bad name==x": expected field==value, field!=value, field~=regexp or field'],
    ['==x', 'invalid filter "==x": expected field==value, field!=value, field~=regexp or field'],
    ['labels.kind~=(', 'invalid filter "labels.kind~=(": bad regexp: Invalid regular expression: /(/: Unterminated group'],
    [`digest~=${'a'.repeat(257)}`, `invalid filter "digest~=${'a'.repeat(257)}": bad regexp: longer than 256 characters`],
  ])('refuses %j', async (filter, message) => {
    await expectError(() => parseFilters([filter]), 'InvalidArgument', message);
  });
});
