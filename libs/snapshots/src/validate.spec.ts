import { describe, expect, it } from 'vitest';
import { isInvalidArgument } from '@strata/kit';
import { applyLabelUpdate, MAX_LABEL_BYTES, validateKey, validateLabels } from './validate.js';

function messageOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(isInvalidArgument(err)).toBe(true);
    return (err as Error).message;
  }
  throw new Error('expected InvalidArgument, but it succeeded');
}

describe('validateKey', () => {
  it.each(['sha256:' + 'a'.repeat(64), 'extract-1 sha256:abc', 'ctr/1', '../x', 'ü'])('accepts %j', (key) => {
    expect(validateKey(key)).toBe(key);
  });

  it.each<[unknown, 'key' | 'name' | 'parent', string]>([
    ['', 'key', 'invalid snapshot key: empty'],
    [undefined, 'name', 'invalid snapshot name: empty'],
    ['a\u0000b', 'parent', 'invalid snapshot parent "a\\u0000b": control characters are not allowed'],
    ['line\nbreak', 'key', 'invalid snapshot key "line\\nbreak": control characters are not allowed'],
    ['k'.repeat(513), 'key', `invalid snapshot key "${'k'.repeat(64)}…": longer than 512 characters`],
  ])('refuses %j as %s', (key, what, message) => {
    expect(messageOf(() => validateKey(key, what))).toBe(message);
  });
});

describe('labels', () => {
  it.each<[unknown, string]>([
    [null, 'invalid labels: expected an object of string keys and values'],
    [['a'], 'invalid labels: expected an object of string keys and values'],
    [{ '': 'x' }, 'invalid label: empty key'],
    [{ k: 1 }, 'invalid label "k": value must be a string'],
    [{ k: 'v'.repeat(MAX_LABEL_BYTES) }, 'invalid label "k": key and value exceed 4096 bytes'],
    [Object.fromEntries(Array.from({ length: 257 }, (_, i) => [`k${i}`, 'v'])), 'too many labels: 257 (at most 256)'],
  ])('refuses %j', (labels, message) => {
    expect(messageOf(() => validateLabels(labels))).toBe(message);
  });

  it('copies labels, __proto__ keys included, without touching prototypes', () => {
    const input = JSON.parse('{"__proto__":"x","a":"1"}') as Record<string, string>;
    const out = validateLabels(input);
    expect(Object.keys(out)).toEqual(['__proto__', 'a']);
    expect(out).not.toBe(input);
  });

  it.each<[string[], Record<string, string>]>([
    [[], { b: '3' }],
    [['labels'], { b: '3' }],
    [['labels.a'], {}],
    [['labels.b'], { a: '1', b: '3' }],
    [['labels.a', 'labels.b'], { b: '3' }],
  ])('applies an update with paths %j', (paths, expected) => {
    expect(applyLabelUpdate({ a: '1' }, { b: '3' }, paths)).toEqual(expected);
  });

  it.each([
    ['name', 'cannot update "name": only "labels" and "labels.<key>" can change'],
    ['labels.', 'cannot update "labels.": only "labels" and "labels.<key>" can change'],
    ['parent', 'cannot update "parent": only "labels" and "labels.<key>" can change'],
  ])('refuses update path %j', (path, message) => {
    expect(messageOf(() => applyLabelUpdate({}, {}, [path]))).toBe(message);
    expect(messageOf(() => applyLabelUpdate({}, {}, ['labels', path]))).toBe(message);
  });
});
