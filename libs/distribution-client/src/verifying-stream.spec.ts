import { describe, expect, it } from 'vitest';
import { expectError } from '@strata/content/testing';
import { Digester, digestOf } from '@strata/oci';
import { verifyingStream } from './verifying-stream.js';

const content = Buffer.from('hello, verified world');
const digest = digestOf(content);

async function* chunksOf(...parts: Uint8Array[]): AsyncGenerator<Uint8Array> {
  for (const part of parts) yield part;
}

async function drain(stream: AsyncIterable<Uint8Array>, into: Buffer[] = []): Promise<Buffer> {
  for await (const chunk of stream) into.push(Buffer.from(chunk));
  return Buffer.concat(into);
}

describe('verifyingStream', () => {
  it('passes matching content through unchanged', async () => {
    expect(await drain(verifyingStream(chunksOf(content.subarray(0, 5), content.subarray(5)), digest, content.length))).toEqual(content);
  });

  it('verifies an empty blob', async () => {
    expect((await drain(verifyingStream(chunksOf(), digestOf(''), 0))).length).toBe(0);
  });

  it('resumes from an offset with the digester of the prefix', async () => {
    const digester = new Digester().update(content.subarray(0, 7));
    const rest = await drain(verifyingStream(chunksOf(content.subarray(7)), digest, content.length, { offset: 7, digester }));
    expect(rest).toEqual(content.subarray(7));
  });

  it.each([
    ['a corrupted byte', [Buffer.concat([content.subarray(0, 20), Buffer.from('?')])],
      `blob ${digest}: content has digest ${digestOf(Buffer.concat([content.subarray(0, 20), Buffer.from('?')]))}, not the expected ${digest}; nothing of it may be kept`],
    ['a short body', [content.subarray(0, 10)], `blob ${digest}: body ended after 10 of 21 bytes`],
    ['a long body', [content, Buffer.from('x')], `blob ${digest}: body is longer than the declared size of 21 bytes (got at least 22)`],
    ['a chunk crossing the size', [Buffer.concat([content, Buffer.from('xyz')])], `blob ${digest}: body is longer than the declared size of 21 bytes (got at least 24)`],
  ])('fails on %s', async (_, parts, message) => {
    await expectError(drain(verifyingStream(chunksOf(...parts), digest, content.length)), 'FailedPrecondition', message);
  });

  it('withholds the completing chunk when the digest does not match', async () => {
    const received: Buffer[] = [];
    const corrupt = Buffer.from(content);
    corrupt[0] = 0;
    await expectError(drain(verifyingStream(chunksOf(corrupt.subarray(0, 10), corrupt.subarray(10)), digest, content.length), received), 'FailedPrecondition');
    expect(Buffer.concat(received)).toEqual(corrupt.subarray(0, 10));
  });

  it.each([
    ['a malformed digest', 'sha256:abc', 3, {}, 'invalid digest "sha256:abc": sha256 needs 64 hex characters, got 3'],
    ['a negative size', digest, -1, {}, `blob ${digest}: size must be a non-negative integer, got -1`],
    ['an offset past the size', digest, 3, { offset: 4, digester: new Digester() }, `blob ${digest}: offset must be an integer between 0 and the size 3, got 4`],
    ['an offset without a digester', digest, 30, { offset: 4 }, `blob ${digest}: resuming at offset 4 needs the digester of the first 4 bytes`],
  ])('refuses %s', async (_, d, size, options, message) => {
    await expectError(() => verifyingStream(chunksOf(), d, size, options), 'InvalidArgument', message);
  });
});
