import { errorKind } from '@strata/kit';
import { describe, expect, it } from 'vitest';
import { constraintMismatch, constraintTarget, formatConstraint, parseConstraint, validateConstraint, type Constraint } from './constraint.js';

function failure(fn: () => unknown): { kind: string; message: string } {
  try {
    fn();
  } catch (err) {
    return { kind: errorKind(err), message: (err as Error).message };
  }
  throw new Error('expected an error');
}

describe('parseConstraint', () => {
  it.each([
    ['zone=us-2', { key: 'zone', op: '==', value: 'us-2' }],
    ['zone==us-2', { key: 'zone', op: '==', value: 'us-2' }],
    ['zone!=us-2', { key: 'zone', op: '!=', value: 'us-2' }],
    [' node.labels.disk = ssd ', { key: 'node.labels.disk', op: '==', value: 'ssd' }],
    ['node.name!=node-a', { key: 'node.name', op: '!=', value: 'node-a' }],
    ['example.com/tier=a=b', { key: 'example.com/tier', op: '==', value: 'a=b' }],
  ] as const)('reads %j', (text, constraint) => {
    expect(parseConstraint(text)).toEqual(constraint);
  });

  it.each([
    ['zone', 'invalid constraint "zone": expected key=value or key!=value'],
    ['=us-2', 'invalid constraint "=us-2": the key is empty'],
    ['zone=', 'invalid constraint "zone=": the value is empty'],
    ['zone!=', 'invalid constraint "zone!=": the value is empty'],
    ['zone===x', 'invalid constraint "zone===x": expected key=value or key!=value'],
    ['zone=!x', 'invalid constraint "zone=!x": expected key=value or key!=value'],
    ['node.address=x', 'invalid constraint key "node.address": the node attributes are node.name and node.labels.<label>'],
    ['node.labels.=x', 'invalid constraint key "node.labels.": name a node label, node.labels.<label> or node.name'],
    ['my zone=x', `invalid constraint key "my zone": a label is letters, digits, '.', '_', '/' and '-', starting with a letter or digit`],
  ])('refuses %j', (text, message) => {
    expect(failure(() => parseConstraint(text))).toEqual({ kind: 'InvalidArgument', message });
  });

  it('round-trips through formatConstraint', () => {
    for (const text of ['zone=us-2', 'node.name!=node-a', 'node.labels.ssd=true']) expect(formatConstraint(parseConstraint(text))).toBe(text);
  });
});

describe('validateConstraint', () => {
  it.each([
    [{ key: 'zone', value: 'a', op: '~=' }, 'invalid constraint operator "~=" in "zone": use == or !='],
    [{ key: ' ', value: 'a', op: '==' }, 'invalid constraint: the key is empty'],
    [{ key: 'zone', value: '', op: '!=' }, 'invalid constraint "zone!=": the value is empty'],
    [{ key: 'node.id', value: 'a', op: '==' }, 'invalid constraint key "node.id": the node attributes are node.name and node.labels.<label>'],
  ])('refuses %j', (c, message) => {
    expect(failure(() => validateConstraint(c as Constraint))).toEqual({ kind: 'InvalidArgument', message });
  });
});

describe('constraintMismatch', () => {
  const node = { name: 'node-b', labels: { zone: 'eu-1', ssd: 'true' } };
  it.each([
    ['zone=eu-1', undefined],
    ['node.labels.zone=eu-1', undefined],
    ['zone=us-2', 'label zone=eu-1 does not match zone=us-2'],
    ['zone!=eu-1', 'label zone=eu-1 does not match zone!=eu-1'],
    ['zone!=us-2', undefined],
    ['gpu=yes', 'label gpu is not set, does not match gpu=yes'],
    ['gpu!=yes', undefined],
    ['node.name=node-b', undefined],
    ['node.name=node-a', 'name node-b does not match node.name=node-a'],
    ['node.name!=node-b', 'name node-b does not match node.name!=node-b'],
    ['constructor=x', 'label constructor is not set, does not match constructor=x'],
  ])('%s → %s', (text, reason) => {
    expect(constraintMismatch(parseConstraint(text), node)).toBe(reason);
  });

  it('reads plain keys and node.labels keys as the same label', () => {
    expect(constraintTarget('zone')).toEqual(constraintTarget('node.labels.zone'));
    expect(constraintTarget('node.name')).toEqual({ kind: 'name' });
  });
});
