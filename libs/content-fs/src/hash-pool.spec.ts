import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDir } from '@strata/kit/testing';
import { digestOf } from '@strata/oci';
import { randomBytesOf } from '@strata/content/testing';
import { createHashPool, inlineHashStream, type HashPool } from './hash-pool.js';

describe('hash pool', () => {
  const pools: HashPool[] = [];
  const cleanups: Array<() => void> = [];
  afterEach(async () => {
    for (const p of pools.splice(0)) await p.close();
    for (const c of cleanups.splice(0)) c();
  });

  it('hashes many streams at once, each in order', async () => {
    const pool = createHashPool(2);
    pools.push(pool);
    const blobs = Array.from({ length: 5 }, (_, i) => randomBytesOf(300_000 + i));
    const streams = blobs.map(() => pool.stream());
    const sends: Promise<void>[] = [];
    for (let p = 0; p < 300_005; p += 65_536) blobs.forEach((b, i) => sends.push(streams[i]!.update(b.subarray(p, p + 65_536))));
    const digests = await Promise.all(streams.map((s) => s.digest()));
    await Promise.all(sends);
    expect(digests).toEqual(blobs.map((b) => digestOf(b)));
    for (const s of streams) s.dispose();
  });

  it('hashes views of shared memory in place, leaving them usable', async () => {
    const pool = createHashPool(1);
    pools.push(pool);
    const s = pool.stream();
    const data = randomBytesOf(300_000);
    const shared = Buffer.from(new SharedArrayBuffer(data.length));
    data.copy(shared);
    await s.update(shared.subarray(0, 100_000));
    await s.update(shared.subarray(100_000));
    expect(shared.buffer.byteLength).toBe(data.length);
    expect(Buffer.compare(shared, data)).toBe(0);
    expect(await s.digest()).toBe(digestOf(data));
    s.dispose();
  });

  it('copies what it is given, resets, and loads a file', async () => {
    const pool = createHashPool(1);
    pools.push(pool);
    const s = pool.stream();
    const data = Buffer.from('abcdef');
    const sent = s.update(data);
    data.fill(0);
    await sent;
    expect(await s.digest()).toBe(digestOf('abcdef'));
    expect(await s.digest()).toBe(digestOf('abcdef'));
    await s.reset();
    expect(await s.digest()).toBe(digestOf(''));
    const dir = tempDir('strata-hash-');
    cleanups.push(dir.remove);
    const file = join(dir.path, 'f');
    const content = randomBytesOf(3 * 1024 * 1024 + 5);
    writeFileSync(file, content);
    expect(await s.loadFile(file)).toBe(content.length);
    await s.update(Buffer.from('tail'));
    expect(await s.digest()).toBe(digestOf(Buffer.concat([content, Buffer.from('tail')])));
    await expect(s.loadFile(join(dir.path, 'absent'))).rejects.toMatchObject({ kind: 'Internal', message: /hashing failed: ENOENT/ });
    s.dispose();
  });

  it('warms one worker, which close stops and a later warm starts again', async () => {
    const pool = createHashPool(2);
    pools.push(pool);
    expect(pool.running).toBe(0);
    pool.warm();
    pool.warm();
    expect(pool.running).toBe(1);
    const s = pool.stream();
    await s.update(Buffer.from('warm'));
    expect(await s.digest()).toBe(digestOf('warm'));
    s.dispose();
    expect(pool.running).toBe(1);
    await pool.close();
    expect(pool.running).toBe(0);
    pool.warm();
    expect(pool.running).toBe(1);
  });

  it('fails pending and later work with Internal once closed', async () => {
    const pool = createHashPool(1);
    const s = pool.stream();
    await s.update(Buffer.from('x'));
    await pool.close();
    await expect(s.digest()).rejects.toMatchObject({ kind: 'Internal', message: /the hashing worker stopped/ });
  });
});

describe('inline hash stream', () => {
  const cleanups: Array<() => void> = [];
  afterEach(() => {
    for (const c of cleanups.splice(0)) c();
  });

  it('hashes in call order, resets, and restarts from a file', async () => {
    const stream = inlineHashStream();
    const blob = randomBytesOf(3 << 20);
    await stream.update(blob.subarray(0, 1000));
    await stream.update(blob.subarray(1000));
    expect(await stream.digest()).toBe(digestOf(blob));
    await stream.reset();
    expect(await stream.digest()).toBe(digestOf(new Uint8Array()));
    const dir = tempDir('inline-hash-');
    cleanups.push(() => dir.remove());
    const path = join(dir.path, 'data');
    writeFileSync(path, blob);
    expect(await stream.loadFile(path)).toBe(blob.length);
    await stream.update(Buffer.from('more'));
    expect(await stream.digest()).toBe(digestOf(Buffer.concat([blob, Buffer.from('more')])));
    stream.dispose();
  });
});
