import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { errorKind } from '@strata/kit';
import { digestOf } from '@strata/oci';
import { createWorkerDigester } from './hash-worker.js';

describe('createWorkerDigester', () => {
  it('hashes what it is given in order, across batch boundaries, many streams at once', async () => {
    const blobs = Array.from({ length: 4 }, (_, i) => randomBytes(300_000 + i));
    const digesters = blobs.map(() => createWorkerDigester({ batchBytes: 64 * 1024 }));
    for (let at = 0; at < 300_003; at += 10_000) {
      for (const [i, blob] of blobs.entries()) await digesters[i]!.update(blob.subarray(at, at + 10_000));
    }
    expect(await Promise.all(digesters.map((d) => d.digest()))).toEqual(blobs.map((b) => digestOf(b)));
    for (const d of digesters) d.dispose();
  });

  it('copies its input: the caller may reuse a buffer at once', async () => {
    const digester = createWorkerDigester();
    const data = Buffer.from('abcdef');
    await digester.update(data);
    data.fill(0);
    expect(await digester.digest()).toBe(digestOf('abcdef'));
  });

  it('asks the caller to wait once too many bytes are in flight, and then lets it go on', async () => {
    const digester = createWorkerDigester({ batchBytes: 1024, maxInFlightBytes: 4096 });
    const data = randomBytes(64 * 1024);
    let waits = 0;
    for (let at = 0; at < data.length; at += 1024) {
      const wait = digester.update(data.subarray(at, at + 1024));
      if (wait !== undefined) {
        waits++;
        await wait;
      }
    }
    expect(waits).toBeGreaterThan(0);
    expect(await digester.digest()).toBe(digestOf(data));
  });

  it('digests nothing as the digest of no bytes', async () => {
    expect(await createWorkerDigester().digest()).toBe(digestOf(''));
  });

  it.each([
    ['an update after the digest', async () => {
      const d = createWorkerDigester();
      await d.digest();
      return d.update(Buffer.from('x'));
    }, 'a worker digester was updated after its digest'],
    ['a second digest', async () => {
      const d = createWorkerDigester();
      await d.digest();
      return d.digest();
    }, 'a worker digester was asked for its digest twice'],
  ])('refuses %s with Internal', async (_name, misuse, message) => {
    const err = await misuse().then(
      () => expect.fail('expected an error'),
      (e: unknown) => e as Error,
    );
    expect({ kind: errorKind(err), message: err.message }).toEqual({ kind: 'Internal', message });
  });

  it('frees a stream that is disposed of before its digest', async () => {
    const digester = createWorkerDigester({ batchBytes: 1024 });
    await digester.update(randomBytes(10_000));
    digester.dispose();
    digester.dispose();
    const next = createWorkerDigester();
    await next.update(Buffer.from('still works'));
    expect(await next.digest()).toBe(digestOf('still works'));
  });
});
