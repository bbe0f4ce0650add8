import { describe, expect, it } from 'vitest';
import { coalesce, parseContentRange, parseRange, type RangeRequest } from './http-io.js';
import { toRegistryErrorResponse } from './registry-error.js';

describe('parseRange', () => {
  it.each<[string | undefined, number, RangeRequest]>([
    [undefined, 100, { kind: 'whole' }],
    ['bytes=0-9', 100, { kind: 'range', start: 0, end: 9 }],
    ['bytes=90-', 100, { kind: 'range', start: 90, end: 99 }],
    ['bytes=90-500', 100, { kind: 'range', start: 90, end: 99 }],
    ['bytes=-10', 100, { kind: 'range', start: 90, end: 99 }],
    ['bytes=-500', 100, { kind: 'range', start: 0, end: 99 }],
    ['bytes=100-', 100, { kind: 'unsatisfiable' }],
    ['bytes=100-200', 100, { kind: 'unsatisfiable' }],
    ['bytes=-0', 100, { kind: 'unsatisfiable' }],
    ['bytes=0-', 0, { kind: 'unsatisfiable' }],
    ['bytes=5-1', 100, { kind: 'whole' }],
    ['bytes=0-1,5-6', 100, { kind: 'whole' }],
    ['items=0-1', 100, { kind: 'whole' }],
    ['bytes=-', 100, { kind: 'whole' }],
    ['bytes=99999999999999999999-', 100, { kind: 'whole' }],
  ])('%s of %i bytes', (header, size, expected) => {
    expect(parseRange(header, size)).toEqual(expected);
  });
});

describe('parseContentRange', () => {
  it.each([
    ['0-99', { start: 0, length: 100 }],
    ['100-100', { start: 100, length: 1 }],
    ['bytes 5-9', { start: 5, length: 5 }],
  ])('reads %s', (header, expected) => {
    expect(parseContentRange(header)).toEqual(expected);
  });

  it.each([
    ['bytes=0-9', 400, 'BLOB_UPLOAD_INVALID', 'Content-Range "bytes=0-9" is not <start>-<end>'],
    ['0-', 400, 'BLOB_UPLOAD_INVALID', 'Content-Range "0-" is not <start>-<end>'],
    ['-1-5', 400, 'BLOB_UPLOAD_INVALID', 'Content-Range "-1-5" is not <start>-<end>'],
    ['9-5', 416, 'RANGE_INVALID', 'Content-Range 9-5 ends before it starts'],
  ])('refuses %s with %i %s', (header, status, code, message) => {
    let answer: unknown;
    try {
      parseContentRange(header);
    } catch (err) {
      answer = toRegistryErrorResponse(err);
    }
    expect(answer).toMatchObject({ status, code, message, internal: false });
  });
});

describe('coalesce', () => {
  it('gathers small chunks into blocks and passes large ones whole, keeping every byte in order', async () => {
    async function* source() {
      for (let i = 0; i < 10; i++) yield Buffer.alloc(3, i);
      yield Buffer.alloc(0);
      yield Buffer.alloc(20, 0xff);
      yield Buffer.alloc(1, 0xee);
    }
    const blocks: Buffer[] = [];
    for await (const block of coalesce(source(), 8)) blocks.push(Buffer.from(block));
    expect(blocks.map((b) => b.length)).toEqual([9, 9, 9, 23, 1]);
    const expected = Buffer.concat([...Array.from({ length: 10 }, (_, i) => Buffer.alloc(3, i)), Buffer.alloc(20, 0xff), Buffer.alloc(1, 0xee)]);
    expect(Buffer.concat(blocks).equals(expected)).toBe(true);
  });

  it('yields what arrived before the source failed, then the failure', async () => {
    async function* source() {
      yield Buffer.from('abc');
      yield Buffer.from('de');
      throw new Error('client went away');
    }
    const blocks: string[] = [];
    await expect(
      (async () => {
        for await (const block of coalesce(source(), 100)) blocks.push(Buffer.from(block).toString());
      })(),
    ).rejects.toThrow('client went away');
    expect(blocks).toEqual(['abcde']);
  });
});
