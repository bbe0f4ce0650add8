import { describe, expect, it } from 'vitest';
import { expectError } from '@strata/content/testing';
import { matchesReferences, parseListFilters, referenceForms, referencePattern } from './list-filters.js';

const forms = (full: string, familiar: string) => referenceForms(full, familiar);
const busybox = forms('docker.io/library/busybox:1.36', 'busybox:1.36');
const ghcr = forms('ghcr.io/org/app:v1', 'ghcr.io/org/app:v1');

describe('list filters', () => {
  it.each([
    ['busybox', busybox, true],
    ['busybox:1.*', busybox, true],
    ['busy*', busybox, true],
    ['docker.io/library/*:1.*', busybox, true],
    ['docker.io/*', busybox, false],
    ['*', ghcr, false],
    ['ghcr.io/org/*', ghcr, true],
    ['ghcr.io/*/app:v?', ghcr, true],
    ['ghcr.io/org/[a-b]pp', ghcr, true],
    ['ghcr.io/org/[^a]pp', ghcr, false],
  ])('reference=%s on %j is %s', (pattern, tagForms, expected) => {
    expect(matchesReferences([referencePattern(pattern)], tagForms)).toBe(expected);
  });

  it('parses every kind', () => {
    const f = parseListFilters(['reference=busybox', 'label=a', 'label=b=c=d', 'before=x', 'since=y']);
    expect(f.references).toHaveLength(1);
    expect(f.labels).toEqual([{ key: 'a' }, { key: 'b', value: 'c=d' }]);
    expect(f.before).toEqual(['x']);
    expect(f.since).toEqual(['y']);
  });

  it.each([
    ['dangling', 'bad format of filter (expected name=value)'],
    ['reference=', 'bad format of filter (expected name=value)'],
    ['=x', 'bad format of filter (expected name=value)'],
    ['colour=red', "invalid filter 'colour'"],
    ['reference=[abc', 'invalid reference filter "[abc": "[" without a closing "]"'],
    ['reference=abc\\', 'invalid reference filter "abc\\\\": it ends with a backslash'],
  ])('refuses %j', async (filter, message) => {
    await expectError(() => parseListFilters([filter]), 'InvalidArgument', message);
  });
});
