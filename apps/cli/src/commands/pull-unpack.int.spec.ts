import { mkdir, readFile, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { viewMismatches } from '@strata/diff-service/testing';
import { startNatsServer } from '@strata/events-nats/testing';
import {
  busyboxImage,
  MULTI_LAYER_VIEW,
  multiLayerImage,
  pushImage,
  startDistributionRegistry,
  type BuiltImage,
} from '@strata/image-fixtures';
import { silentLogger } from '@strata/kit';
import { freePort, startProcess, tempDir, type TestProcess } from '@strata/kit/testing';
import { chainIds } from '@strata/oci';
import type { Snapshotter } from '@strata/snapshots';
import { createGrpcSnapshotter } from '@strata/snapshots-grpc';
import { mountAll, unmountAll } from '@strata/snapshots-local';
import { collect } from '@strata/snapshots/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shortId } from '../framework/human-units.js';
import { processHealthy } from '@strata/grpc-kit/testing';

const strataBin = fileURLToPath(new URL('../../bin/strata.mjs', import.meta.url));
const mirrorBin = fileURLToPath(new URL('../../../registry-mirror/bin/registry-mirror.mjs', import.meta.url));
const layerStoreBin = fileURLToPath(new URL('../../../layer-store/bin/layer-store.mjs', import.meta.url));
const snapshotterBin = fileURLToPath(new URL('../../../snapshotter/bin/snapshotter.mjs', import.meta.url));

const scratch = tempDir('strata-cli-unpack-');
const state = join(scratch.path, 'state');
const runDir = join(scratch.path, 'run');
// Every process started here, stopped by pid in afterAll whatever happened.
const processes: TestProcess[] = [];
const closers: Array<() => unknown> = [];
let layered: BuiltImage;
let busybox: BuiltImage;
let snapshots: Snapshotter | undefined;

const UPSTREAM = 'upstream.test';
const LAYERED = `${UPSTREAM}/team/layered:1`;
const BUSYBOX = `${UPSTREAM}/team/busybox:1.36`;

/** Runs the `strata` executable against the stack under runDir, stdout and stderr on pipes. */
async function strata(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const p = startProcess(process.execPath, [strataBin, ...args, '--run-dir', runDir]);
  processes.push(p);
  let out = '';
  let err = '';
  p.child.stdout?.on('data', (b: Buffer) => (out += b.toString('utf8')));
  p.child.stderr?.on('data', (b: Buffer) => (err += b.toString('utf8')));
  const code = await p.exited;
  return { code: typeof code === 'number' ? code : -1, out, err };
}

const chainsOf = (image: BuiltImage) => chainIds(image.configDocument.rootfs.diff_ids);
/** The Snapshots client of the snapshotter process started in beforeAll. */
function client(): Snapshotter {
  if (snapshots === undefined) throw new Error('the snapshotter did not start');
  return snapshots;
}
const committed = async () => (await collect(client().list())).filter((i) => i.kind === 'committed');

beforeAll(async () => {
  const nats = await startNatsServer();
  closers.push(() => nats.stop());
  const upstream = await startDistributionRegistry();
  closers.push(() => upstream.stop());
  [layered, busybox] = await Promise.all([multiLayerImage(), busyboxImage()]);
  await pushImage(upstream.url, 'team/layered', '1', layered);
  await pushImage(upstream.url, 'team/busybox', '1.36', busybox);

  const common = ['--state-dir', state, '--run-dir', runDir, '--nats-url', nats.url];
  const layerStore = startProcess(process.execPath, [layerStoreBin, ...common]);
  processes.push(layerStore);
  await processHealthy(layerStore, join(runDir, 'layer-store.sock'), 'layer-store');
  const mirror = startProcess(process.execPath, [
    ...[mirrorBin, ...common],
    ...['--listen', `127.0.0.1:${await freePort()}`, '--upstream', `${UPSTREAM}=${upstream.url}`],
  ]);
  processes.push(mirror);
  await processHealthy(mirror, join(runDir, 'registry-mirror.sock'), 'registry-mirror');
  // As `strata up` starts it: the layer-store's data socket and root, so an unpack reads layers while the pull stores them.
  const sameHost = ['--layer-store-data-socket', join(runDir, 'layer-store.data.sock'), '--layer-store-root', join(state, 'layer-store')];
  const snapshotter = startProcess(process.execPath, [snapshotterBin, ...common, ...sameHost]);
  processes.push(snapshotter);
  await processHealthy(snapshotter, join(runDir, 'snapshotter.sock'), 'snapshotter');
  snapshots = createGrpcSnapshotter({ unixSocket: join(runDir, 'snapshotter.sock') }, { logger: silentLogger() });
});

afterAll(async () => {
  await snapshots?.close();
  for (const p of processes.reverse()) await p.stop('SIGTERM', 10_000);
  for (const close of closers.reverse()) await close();
  scratch.remove();
});

describe('strata pull with a snapshotter on this host', () => {
  it('unpacks a multi-layer image with deletions into committed snapshots whose mount shows the merged view', async () => {
    const cold = await strata('pull', LAYERED);
    expect(cold.err).toBe('');
    expect(cold.code).toBe(0);
    const lines = cold.out.trimEnd().split('\n');
    expect(lines.slice(-3)).toEqual([`Digest: ${layered.manifest.digest}`, `Status: Downloaded newer image for ${LAYERED}`, LAYERED]);
    for (const layer of layered.layers) {
      const mine = lines.filter((l) => l.startsWith(`${shortId(layer.digest)}: `));
      expect(mine.slice(-3)).toEqual([`${shortId(layer.digest)}: Download complete`, `${shortId(layer.digest)}: Extracting`, `${shortId(layer.digest)}: Pull complete`]);
    }

    const chains = chainsOf(layered);
    const byName = new Map((await committed()).map((i) => [i.name, i]));
    chains.forEach((chain, i) => expect(byName.get(chain)?.parent ?? '', chain).toBe(i === 0 ? '' : chains[i - 1]));

    const key = `pull-unpack-test-${process.pid}`;
    const target = join(scratch.path, 'rootfs');
    await mkdir(target);
    try {
      await mountAll(await client().prepare(key, chains.at(-1)), target);
      try {
        expect(await viewMismatches(target, MULTI_LAYER_VIEW)).toEqual([]);
        expect(await readFile(join(target, 'replaced'), 'utf8')).toBe('upper version\n');
        await expect(readFile(join(target, 'etc/gone'))).rejects.toThrow(/ENOENT/);
        await expect(readFile(join(target, 'opaque/lower-1'))).rejects.toThrow(/ENOENT/);
      } finally {
        await unmountAll(target);
      }
    } finally {
      await client().remove(key).catch(() => undefined);
      await rmdir(target);
    }

    const warm = await strata('pull', LAYERED);
    expect(warm).toEqual({
      code: 0,
      err: '',
      out: [
        '1: Pulling from team/layered',
        ...layered.layers.map((l) => `${shortId(l.digest)}: Already exists`),
        `Digest: ${layered.manifest.digest}`,
        `Status: Image is up to date for ${LAYERED}`,
        LAYERED,
        '',
      ].join('\n'),
    });
  });

  it('skips the unpack with --no-unpack, and extracts the stored layers on the next pull', async () => {
    const layer = shortId(busybox.layers[0]!.digest);
    const skipped = await strata('pull', '-q', BUSYBOX, '--no-unpack');
    expect(skipped).toEqual({ code: 0, out: `${BUSYBOX}\n`, err: '' });
    const names = new Set((await committed()).map((i) => i.name));
    expect(chainsOf(busybox).filter((c) => names.has(c))).toEqual([]);

    const unpacked = await strata('pull', BUSYBOX);
    expect(unpacked).toEqual({
      code: 0,
      err: '',
      out: [
        '1.36: Pulling from team/busybox',
        `${layer}: Already exists`,
        `${layer}: Extracting`,
        `${layer}: Pull complete`,
        `Digest: ${busybox.manifest.digest}`,
        `Status: Image is up to date for ${BUSYBOX}`,
        BUSYBOX,
        '',
      ].join('\n'),
    });
    const after = new Set((await committed()).map((i) => i.name));
    expect(chainsOf(busybox).every((c) => after.has(c))).toBe(true);
  });
});
