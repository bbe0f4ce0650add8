import { describe, expect, it } from 'vitest';
import { expectError } from './testing/expect-error.js';
import { applyLabelUpdate, MAX_LABEL_BYTES, MAX_LABELS, validateLabels, validateRef } from './validate.js';

const refRule = 'use 1 to 256 of A-Z a-z 0-9 . _ : @ / -, starting with a letter or digit, without ".."';

describe('validateRef', () => {
  it.each(['a', 'layer-store/pull@sha256:abc', 'A.b_c:d@e/f-g', '9', 'r'.repeat(256), 'x/./y', 'a.b'])('accepts %j', (ref) => {
    expect(validateRef(ref)).toBe(ref);
  });

  it.each([
    ['', 'invalid ref: empty'],
    ['../x', `invalid ref "../x": ${refRule}`],
    ['a/../b', `invalid ref "a/../b": ${refRule}`],
    ['a..b', `invalid ref "a..b": ${refRule}`],
    ['/abs', `invalid ref "/abs": ${refRule}`],
    ['-dash', `invalid ref "-dash": ${refRule}`],
    ['.hidden', `invalid ref ".hidden": ${refRule}`],
    ['sp ace', `invalid ref "sp ace": ${refRule}`],
    ['nul\u0000', `invalid ref "nul\\u0000": ${refRule}`],
    ['ünï', `invalid ref "ünï": ${refRule}`],
    ['r'.repeat(257), `invalid ref "${'r'.repeat(257)}": ${refRule}`],
  ])('refuses %j', async (ref, message) => {
    const err = await expectError(() => validateRef(ref), 'InvalidArgument', message);
    if (ref !== '') expect(err.fields.ref).toBe(ref);
  });

  it('refuses what is not a string', async () => {
    await expectError(() => validateRef(42), 'InvalidArgument', 'invalid ref: empty');
  });

  it('shows at most 300 characters of a long ref', async () => {
    const err = await expectError(() => validateRef('r'.repeat(1000)), 'InvalidArgument');
    expect(err.message).toBe(`invalid ref "${'r'.repeat(300)}": ${refRule}`);
  });
});

describe('validateLabels', () => {
  it('accepts labels within the limits', () => {
    const many = Object.fromEntries(Array.from({ length: MAX_LABELS }, (_, i) => [`k${i}`, 'v']));
    expect(validateLabels(many)).toBe(many);
    expect(validateLabels({ k: 'v'.repeat(MAX_LABEL_BYTES - 1) })).toEqual({ k: 'v'.repeat(MAX_LABEL_BYTES - 1) });
    expect(validateLabels({ k: '' })).toEqual({ k: '' });
  });

  it.each([
    ['too many labels', Object.fromEntries(Array.from({ length: MAX_LABELS + 1 }, (_, i) => [`k${i}`, 'v'])), `too many labels: ${MAX_LABELS + 1} (at most ${MAX_LABELS})`],
    ['an empty key', { '': 'v' }, 'invalid label: empty key'],
    ['a value that is not a string', { n: 1 as unknown as string }, 'invalid label "n": value must be a string'],
    ['a key and value over the byte limit', { kk: 'v'.repeat(MAX_LABEL_BYTES - 1) }, `invalid label "kk": key and value exceed ${MAX_LABEL_BYTES} bytes`],
    ['multi-byte characters over the byte limit', { k: 'é'.repeat(MAX_LABEL_BYTES / 2) }, `invalid label "k": key and value exceed ${MAX_LABEL_BYTES} bytes`],
    ['null instead of labels', null as unknown as Record<string, string>, 'invalid labels: expected an object of string keys and values'],
    ['an array instead of labels', [] as unknown as Record<string, string>, 'invalid labels: expected an object of string keys and values'],
  ])('refuses %s', async (_name, labels, message) => {
    await expectError(() => validateLabels(labels), 'InvalidArgument', message);
  });
});

describe('applyLabelUpdate', () => {
  const current = { a: '1', b: '2' };

  it.each([
    ['no paths: replace all', { c: '3' }, [], { c: '3' }],
    ['"labels": replace all', { c: '3' }, ['labels'], { c: '3' }],
    ['one key set', { b: 'new', c: 'ignored' }, ['labels.b'], { a: '1', b: 'new' }],
    ['one key added', { c: '3' }, ['labels.c'], { a: '1', b: '2', c: '3' }],
    ['one key removed', {}, ['labels.a'], { b: '2' }],
    ['several keys', { c: '3' }, ['labels.a', 'labels.c'], { b: '2', c: '3' }],
    ['a key with dots and slashes', { 'strata.gc.ref.content/x': 'd' }, ['labels.strata.gc.ref.content/x'], { a: '1', b: '2', 'strata.gc.ref.content/x': 'd' }],
    ['an inherited name is absent, so removed', {}, ['labels.constructor', 'labels.toString'], { a: '1', b: '2' }],
  ])('%s', (_name, next, paths, expected) => {
    expect(applyLabelUpdate(current, next, paths)).toEqual(expected);
    expect(current).toEqual({ a: '1', b: '2' });
  });

  it('sets a key named __proto__ as a label, not as a prototype', () => {
    const next = JSON.parse('{"__proto__":"x"}') as Record<string, string>;
    const out = applyLabelUpdate(current, next, ['labels.__proto__']);
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(Object.entries(out)).toEqual([['a', '1'], ['b', '2'], ['__proto__', 'x']]);
  });

  it.each([
    [['size'], 'cannot update "size": only "labels" and "labels.<key>" can change'],
    [['labels.'], 'cannot update "labels.": only "labels" and "labels.<key>" can change'],
    [['labelsx'], 'cannot update "labelsx": only "labels" and "labels.<key>" can change'],
  ])('refuses paths %j', async (paths, message) => {
    await expectError(() => applyLabelUpdate(current, {}, paths), 'InvalidArgument', message);
  });

  it('checks the result against the limits', async () => {
    await expectError(
      () => applyLabelUpdate(current, { big: 'v'.repeat(MAX_LABEL_BYTES) }, ['labels.big']),
      'InvalidArgument',
      `invalid label "big": key and value exceed ${MAX_LABEL_BYTES} bytes`,
    );
  });
});
