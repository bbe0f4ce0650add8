import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { startNatsServer, type TestNatsServer } from '@strata/events-nats/testing';
import { busyboxImage, buildImage, pushImage, startDistributionRegistry, writeBusyboxRootfs, writeOciLayout, type BuiltImage, type TestDistributionRegistry } from '@strata/image-fixtures';
import { freePort, startProcess, tempDir, type TestProcess } from '@strata/kit/testing';
import { createDirectoryTar, tarBytes } from '@strata/tar';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shortId } from '../framework/human-units.js';
import { processHealthy } from '@strata/grpc-kit/testing';
import { runCaptured, type CapturedRun } from '../testing/run-captured.js';

const run = promisify(execFile);
const strataBin = fileURLToPath(new URL('../../bin/strata.mjs', import.meta.url));
const mirrorBin = fileURLToPath(new URL('../../../registry-mirror/bin/registry-mirror.mjs', import.meta.url));
const layerStoreBin = fileURLToPath(new URL('../../../layer-store/bin/layer-store.mjs', import.meta.url));

const scratch = tempDir('strata-cli-transfer-');
// Every process started here, stopped by pid in afterAll whatever happened.
const processes: TestProcess[] = [];
const closers: Array<() => unknown> = [];
let upstream: TestDistributionRegistry;
let busybox: BuiltImage;
let other: BuiltImage;

const UPSTREAM = 'upstream.test';
const BUSYBOX = `${UPSTREAM}/team/busybox:1.36`;
/** Two stacks, each with its own NATS (image index), layer-store and mirror: `a` has the images, `b` starts empty. */
const runDirs = { a: join(scratch.path, 'a', 'run'), b: join(scratch.path, 'b', 'run') };
type StackName = keyof typeof runDirs;

type Result = CapturedRun;

async function cli(stack: StackName, argv: string[], options: { tty?: boolean } = {}): Promise<Result> {
  return runCaptured([...argv, '--run-dir', runDirs[stack]], options);
}

/** Runs the `strata` executable with stdin from a file (or nothing) and stdout collected as bytes. */
async function strataProcess(stack: StackName, args: string[], stdin?: string): Promise<{ code: number; out: Buffer; err: string }> {
  const p = startProcess(process.execPath, [strataBin, ...args, '--run-dir', runDirs[stack]], { stdio: [stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
  processes.push(p);
  const out: Buffer[] = [];
  let err = '';
  p.child.stdout?.on('data', (b: Buffer) => out.push(b));
  p.child.stderr?.on('data', (b: Buffer) => (err += b.toString('utf8')));
  if (stdin !== undefined) p.child.stdin?.end(await readFile(stdin));
  const code = await p.exited;
  return { code: typeof code === 'number' ? code : -1, out: Buffer.concat(out), err };
}

async function startStack(name: StackName): Promise<void> {
  const nats: TestNatsServer = await startNatsServer();
  closers.push(() => nats.stop());
  const state = join(scratch.path, name, 'state');
  const runDir = runDirs[name];
  const layerStore = startProcess(process.execPath, [layerStoreBin, '--state-dir', state, '--run-dir', runDir, '--nats-url', nats.url]);
  processes.push(layerStore);
  await processHealthy(layerStore, join(runDir, 'layer-store.sock'), `layer-store ${name}`);
  const mirror = startProcess(process.execPath, [
    ...[mirrorBin, '--state-dir', state, '--run-dir', runDir, '--nats-url', nats.url],
    ...['--listen', `127.0.0.1:${await freePort()}`, '--upstream', `${UPSTREAM}=${upstream.url}`],
  ]);
  processes.push(mirror);
  await processHealthy(mirror, join(runDir, 'registry-mirror.sock'), `registry-mirror ${name}`);
}

interface Inspected {
  Id: string;
  RepoTags: string[];
  RootFS: { Layers: string[] };
  Config: Record<string, unknown>;
  Descriptor?: { digest: string };
}
const inspect = async (stack: StackName, ref: string): Promise<Inspected> => {
  const result = await cli(stack, ['image', 'inspect', ref]);
  expect(result.err).toBe('');
  return (JSON.parse(result.out) as Inspected[])[0]!;
};

beforeAll(async () => {
  upstream = await startDistributionRegistry();
  closers.push(() => upstream.stop());
  [busybox, other] = await Promise.all([busyboxImage(), buildImage({ layers: [{ items: [{ file: 'etc/other', content: 'other\n' }] }] })]);
  await pushImage(upstream.url, 'team/busybox', '1.36', busybox);
  await Promise.all([startStack('a'), startStack('b')]);
  const pulled = await cli('a', ['pull', '-q', '--no-unpack', BUSYBOX]);
  expect(pulled).toEqual({ code: 0, out: `${BUSYBOX}\n`, err: '' });
}, 120_000);

afterAll(async () => {
  for (const p of processes.reverse()) await p.stop('SIGTERM', 10_000);
  for (const close of closers.reverse()) await close();
  scratch.remove();
});

describe('strata save and load', () => {
  it('round-trips an image into a fresh layer-store and mirror with every digest kept', async () => {
    const file = join(scratch.path, 'busybox.tar');
    expect(await cli('a', ['save', '-o', file, BUSYBOX])).toEqual({ code: 0, out: '', err: '' });
    const piped = await strataProcess('a', ['save', BUSYBOX]);
    expect(piped.code).toBe(0);
    expect(Buffer.compare(piped.out, await readFile(file))).toBe(0);

    expect(await cli('b', ['load', '-i', file])).toEqual({ code: 0, out: `Loaded image: ${BUSYBOX}\n`, err: '' });
    const [before, after] = [await inspect('a', BUSYBOX), await inspect('b', BUSYBOX)];
    expect(after.Id).toBe(busybox.config.digest);
    expect(after).toMatchObject({ Id: before.Id, RootFS: before.RootFS, RepoTags: [BUSYBOX], Descriptor: { digest: busybox.manifest.digest } });
  }, 60_000);

  it('loads a docker-archive made by skopeo from stdin', async () => {
    const layout = join(scratch.path, 'other-layout');
    await writeOciLayout(layout, other, { tag: 'v1' });
    const archive = join(scratch.path, 'other-docker.tar');
    await run('skopeo', ['copy', `oci:${layout}:v1`, `docker-archive:${archive}:example.com/skopeo/made:1`]);
    const loaded = await strataProcess('b', ['load'], archive);
    expect({ code: loaded.code, out: loaded.out.toString(), err: loaded.err }).toEqual({ code: 0, out: 'Loaded image: example.com/skopeo/made:1\n', err: '' });
    const inspected = await inspect('b', 'example.com/skopeo/made:1');
    expect(inspected.Id).toBe(other.config.digest);
    expect(inspected.RootFS.Layers).toEqual(other.configDocument.rootfs.diff_ids);
  }, 60_000);

  it('writes a docker-archive that skopeo reads back to the same image', async () => {
    const file = join(scratch.path, 'busybox-docker.tar');
    expect(await cli('a', ['save', '--format', 'docker-archive', '-o', file, BUSYBOX])).toEqual({ code: 0, out: '', err: '' });
    const { stdout } = await run('skopeo', ['inspect', '--config', `docker-archive:${file}`]);
    expect(JSON.parse(stdout)).toMatchObject({ rootfs: { diff_ids: busybox.configDocument.rootfs.diff_ids } });
  }, 60_000);

  it('refuses a hostile archive and tags nothing; refuses to write to a terminal', async () => {
    const evil = join(scratch.path, 'evil.tar');
    await writeFile(evil, await tarBytes([{ entry: { name: '../evil', type: 'file', size: 1 }, data: Buffer.from('x') }]));
    const before = (await cli('b', ['images', '-q'])).out;
    expect(await cli('b', ['load', '-i', evil])).toEqual({ code: 1, out: '', err: 'strata: archive entry "../evil" points outside the archive; refusing the archive\n' });
    expect((await cli('b', ['images', '-q'])).out).toBe(before);
    expect(await cli('a', ['save', BUSYBOX], { tty: true })).toEqual({
      code: 1,
      out: '',
      err: 'strata: cowardly refusing to save to a terminal. Use the -o flag or redirect\n',
    });
  });
});

describe('strata push', () => {
  it('pushes to a registry like docker push, and skopeo copies it back byte-identical', async () => {
    const target = `${upstream.host}/pushed/busybox:1`;
    const first = await cli('a', ['push', BUSYBOX, target]);
    expect(first.err).toBe('');
    expect(first.code).toBe(0);
    const lines = first.out.trimEnd().split('\n');
    expect(lines[0]).toBe(`The push refers to repository [${upstream.host}/pushed/busybox]`);
    expect(lines.at(-1)).toBe(`1: digest: ${busybox.manifest.digest} size: ${busybox.manifest.size}`);
    for (const blob of busybox.blobs) expect(lines).toContain(`${shortId(blob.digest)}: Pushed`);

    const dir = join(scratch.path, 'copied');
    await run('skopeo', ['copy', '--preserve-digests', '--src-tls-verify=false', `docker://${target}`, `oci:${dir}:copied`]);
    for (const blob of [...busybox.blobs, busybox.manifest]) {
      expect(Buffer.compare(await readFile(join(dir, 'blobs', 'sha256', blob.digest.slice(7))), Buffer.from(blob.bytes))).toBe(0);
    }

    const again = await cli('a', ['push', BUSYBOX, target]);
    expect(again.code).toBe(0);
    for (const blob of busybox.blobs) expect(again.out).toContain(`${shortId(blob.digest)}: Layer already exists\n`);
    expect(await cli('a', ['push', BUSYBOX, 'Bad/Name'])).toEqual({ code: 1, out: '', err: 'strata: invalid reference format: repository name must be lowercase\n' });
  }, 60_000);
});

describe('strata image import', () => {
  it('makes a single-layer image of a busybox root filesystem directory whose diff_id is the digest of its tar', async () => {
    const rootfs = join(scratch.path, 'rootfs');
    await mkdir(rootfs);
    await writeBusyboxRootfs(rootfs);
    const made = await cli('b', ['image', 'import', rootfs, 'rootfs/busybox:1', '-c', 'CMD ["/bin/sh"]', '-c', 'ENV A=1', '-m', 'imported']);
    expect(made.err).toBe('');
    expect(made.code).toBe(0);
    expect(made.out).toMatch(/^sha256:[a-f0-9]{64}\n$/);
    const hash = createHash('sha256');
    for await (const chunk of createDirectoryTar(rootfs)) hash.update(chunk as Buffer);
    const inspected = await inspect('b', 'rootfs/busybox:1');
    expect(inspected.Id).toBe(made.out.trim());
    expect(inspected.RootFS.Layers).toEqual([`sha256:${hash.digest('hex')}`]);
    expect(inspected.Config).toMatchObject({ Cmd: ['/bin/sh'], Env: ['A=1'] });
    const history = JSON.parse((await cli('b', ['history', '--format', 'json', 'rootfs/busybox:1'])).out) as Array<{ CreatedBy: string; Comment: string }>;
    expect(history).toMatchObject([{ CreatedBy: 'strata image import', Comment: 'imported' }]);

    expect(await cli('b', ['image', 'import', rootfs, 'rootfs/busybox:2', '-c', 'RUN rm -rf /'])).toEqual({
      code: 1,
      out: '',
      err: 'strata: RUN is not a valid change command; use one of CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR\n',
    });
  }, 60_000);
});
