import { describe, expect, it } from 'vitest';
import { isInvalidArgument } from '@strata/kit';
import { parseFilters } from './filters.js';
import type { Info } from './types.js';

const at = new Date(0);
const snapshots: Info[] = [
  { name: 'base', kind: 'committed', labels: { 'strata.io/gc.root': 'yes', tier: 'a' }, created: at, updated: at },
  { name: 'mid', parent: 'base', kind: 'committed', labels: { 'a,b': 'x' }, created: at, updated: at },
  { name: 'ctr-1', parent: 'mid', kind: 'active', labels: { tier: 'b' }, created: at, updated: at },
  { name: 'ro view', parent: 'mid', kind: 'view', labels: {}, created: at, updated: at },
];
const names = (filters: string[]) => snapshots.filter(parseFilters(filters)).map((s) => s.name);

describe('parseFilters', () => {
  it.each<[string[], string[]]>([
    [[], ['base', 'mid', 'ctr-1', 'ro view']],
    [['', '  '], ['base', 'mid', 'ctr-1', 'ro view']],
    [['kind==committed'], ['base', 'mid']],
    [['kind!=committed'], ['ctr-1', 'ro view']],
    [['parent==mid'], ['ctr-1', 'ro view']],
    [['parent'], ['mid', 'ctr-1', 'ro view']],
    [['name~=^c'], ['ctr-1']],
    [['name=="ro view"'], ['ro view']],
    [['labels."strata.io/gc.root"==yes'], ['base']],
    [['labels.strata.io/gc.root'], ['base']],
    [['labels."a,b"==x'], ['mid']],
    [['labels.tier'], ['base', 'ctr-1']],
    [['labels.tier==a,kind==committed'], ['base']],
    [['labels.tier==b , kind==committed'], []],
    [['kind==view', 'kind==active'], ['ctr-1', 'ro view']],
    [['name==mid', 'parent==mid,kind==view'], ['mid', 'ro view']],
    [['name=="q\\"uote"'], []],
  ])('%j selects %j', (filters, expected) => {
    expect(names(filters)).toEqual(expected);
  });

  it.each<[string, string]>([
    ['size==1', 'invalid filter "size==1": unknown field "size"; use name, parent, kind or labels.<key>'],
    ['labels==x', 'invalid filter "labels==x": labels needs a key: labels.<key> or labels."<key>"'],
    ['kind.x==y', 'invalid filter "kind.x==y": field "kind" has no sub-fields'],
    ['name=x', 'invalid filter "name=x": expected ==, != or ~= at position 4'],
    ['name==a,', 'invalid filter "name==a,": expected a field name at position 8'],
    ['name~=(', 'invalid filter "name~=(": bad regexp: Invalid regular expression: /(/: Unterminated group'],
    ['labels."open==x', 'invalid filter "labels.\\"open==x": unterminated quoted string at position 7'],
    ['name=="a" b', 'invalid filter "name==\\"a\\" b": expected "," or the end at position 10'],
    [`name~=${'a'.repeat(257)}`, /regexp longer than 256 characters$/.source],
  ])('refuses %j', (filter, message) => {
    let caught: unknown;
    try {
      parseFilters([filter]);
    } catch (err) {
      caught = err;
    }
    expect(isInvalidArgument(caught)).toBe(true);
    if (message.endsWith('$')) expect((caught as Error).message).toMatch(new RegExp(message));
    else expect((caught as Error).message).toBe(message);
  });
});
