/**
 * Layer-store throughput (issue #2):
 *  - write and read of a 1 GiB blob through gRPC over the unix socket, against
 *    `cp` of the same file on the same disk (targets: write ≥ 0.5×, read ≥ 0.7×);
 *  - 64 concurrent writers of distinct 4 MiB blobs: all succeed, total throughput;
 *  - two bounds of what is achievable here: the hash floor (a verifying write
 *    hashes every byte: `sha256sum`, and node:crypto's sha256 on one thread,
 *    which Strata uses) and the transport ceiling (a plain grpc-js
 *    server-streaming echo of 1 MiB messages over a unix socket).
 * Run: npm run bench -- content   (or: npx tsx bench/content-throughput.ts [sizeMiB])
 */
import { createReadStream, createWriteStream, statSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGrpcStore } from '@strata/content-grpc';
import { silentLogger } from '@strata/kit';
import { Digester, type Digest } from '@strata/oci';
import { bound, grpcEchoCeiling, median, report, run, startLayerStore, timed, workDir } from './lib.js';

const sizeMiB = Number(process.argv[2] ?? 1024);
const size = sizeMiB * 1024 * 1024;
const runs = 3;
const dir = workDir('content');
const source = join(dir, 'source.bin');

console.log(`layer-store throughput: ${sizeMiB} MiB blob, median of ${runs} runs, work dir ${dir}`);
await pipeline(
  (async function* () {
    for (let left = size; left > 0; left -= 1 << 24) yield randomBytes(Math.min(left, 1 << 24));
  })(),
  createWriteStream(source),
);
const hasher = new Digester();
for await (const chunk of createReadStream(source, { highWaterMark: 1 << 20 })) hasher.update(chunk as Buffer);
const digest: Digest = hasher.digest();

const cpSeconds = await median(runs, () => run('cp', [source, join(dir, 'copy.bin')]), () => run('rm', ['-f', join(dir, 'copy.bin')]));
const sha256sumSeconds = await median(runs, () => run('sha256sum', [source]));
const nodeHashSeconds = await median(runs, async () => {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(source, { highWaterMark: 1 << 20 })) h.update(chunk as Buffer);
  h.digest();
});
const echoMiBs = await grpcEchoCeiling(dir, sizeMiB, runs);

const service = await startLayerStore(join(dir, 'state'));
const store = createGrpcStore({ unixSocket: service.socket }, { logger: silentLogger() });
try {
  let ref = 0;
  const writeSeconds = await median(
    runs,
    async () => {
      const writer = await store.writer({ ref: `bench-${ref++}`, total: size, expected: digest });
      for await (const chunk of createReadStream(source, { highWaterMark: 1 << 20 })) await writer.write(chunk as Buffer);
      await writer.commit();
    },
    async () => {
      await store.delete(digest).catch(() => undefined);
    },
  );
  const readSeconds = await median(runs, async () => {
    const blob = await store.read(digest);
    await pipeline(blob.chunks, createWriteStream(join(dir, 'read.bin')));
  });
  if (statSync(join(dir, 'read.bin')).size !== size) throw new Error('read back a different size');

  const mib = (s: number) => sizeMiB / s;
  report('write 1 blob (MiB/s) vs cp', mib(writeSeconds), mib(cpSeconds), 'MiB/s', 0.5);
  bound('  hash floor: sha256sum', mib(writeSeconds), mib(sha256sumSeconds));
  bound('  hash floor: node sha256', mib(writeSeconds), mib(nodeHashSeconds));
  report('read 1 blob (MiB/s) vs cp', mib(readSeconds), mib(cpSeconds), 'MiB/s', 0.7);
  bound('  ceiling: grpc-js echo', mib(readSeconds), echoMiBs);

  const writers = 64;
  const blobs = Array.from({ length: writers }, () => randomBytes(4 * 1024 * 1024));
  const concurrentSeconds = await timed(() =>
    Promise.all(
      blobs.map(async (data, i) => {
        const w = await store.writer({ ref: `concurrent-${i}`, total: data.length });
        for (let off = 0; off < data.length; off += 1 << 20) await w.write(data.subarray(off, off + (1 << 20)));
        return w.commit();
      }),
    ),
  );
  let stored = 0;
  for await (const info of store.walk()) if (info.size === 4 * 1024 * 1024) stored++;
  console.log(
    `64 concurrent writers × 4 MiB              ${stored}/${writers} stored, ${((writers * 4) / concurrentSeconds).toFixed(1)} MiB/s total in ${concurrentSeconds.toFixed(2)} s`,
  );
  if (stored !== writers) process.exitCode = 1;
} finally {
  await store.close();
  await service.stop();
  run('rm', ['-rf', dir]);
}
