import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startNatsServer, type TestNatsServer } from '@strata/events-nats/testing';
import {
  busyboxImage,
  multiLayerImage,
  multiPlatformIndex,
  pushImage,
  startDistributionRegistry,
  type BuiltImage,
  type BuiltIndex,
  type TestDistributionRegistry,
} from '@strata/image-fixtures';
import { freePort, startProcess, tempDir, type TestProcess } from '@strata/kit/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { humanSize, shortId } from '../framework/human-units.js';
import { processHealthy } from '@strata/grpc-kit/testing';
import { runCaptured, type CapturedRun } from '../testing/run-captured.js';

const strataBin = fileURLToPath(new URL('../../bin/strata.mjs', import.meta.url));
const mirrorBin = fileURLToPath(new URL('../../../registry-mirror/bin/registry-mirror.mjs', import.meta.url));
const layerStoreBin = fileURLToPath(new URL('../../../layer-store/bin/layer-store.mjs', import.meta.url));

const scratch = tempDir('strata-cli-images-');
const state = join(scratch.path, 'state');
const runDir = join(scratch.path, 'run');
// Every process started here, stopped by pid in afterAll whatever happened.
const processes: TestProcess[] = [];
const closers: Array<() => unknown> = [];
let upstream: TestDistributionRegistry;
let busybox: BuiltImage;
let layered: BuiltImage;
let multi: BuiltIndex;

/** The upstream's name in references: the mirror maps it to the test registry. */
const UPSTREAM = 'upstream.test';
const BUSYBOX = `${UPSTREAM}/team/busybox:1.36`;
const LAYERED = `${UPSTREAM}/team/layered:1`;
const MULTI = `${UPSTREAM}/team/multi:1`;
/** What a pull says on stderr here: this stack has no snapshotter (pull-unpack.int.spec.ts runs one). */
const NOT_UNPACKED = `strata: not unpacked: no snapshotter at ${runDir}/snapshotter.sock (strata up starts it as root; --no-unpack skips this)\n`;

type Result = CapturedRun;

/** Runs the CLI in this process against the stack under runDir. */
async function cli(argv: string[], options: { tty?: boolean } = {}): Promise<Result> {
  return runCaptured([...argv, '--run-dir', runDir], options);
}

/** Runs the `strata` executable with stdout and stderr on pipes (not a terminal). */
async function strataProcess(...args: string[]): Promise<Result> {
  const p = startProcess(process.execPath, [strataBin, ...args, '--run-dir', runDir]);
  processes.push(p);
  let out = '';
  let err = '';
  p.child.stdout?.on('data', (b: Buffer) => (out += b.toString('utf8')));
  p.child.stderr?.on('data', (b: Buffer) => (err += b.toString('utf8')));
  const code = await p.exited;
  return { code: typeof code === 'number' ? code : -1, out, err };
}

const storedSize = (image: BuiltImage) => image.manifest.size + image.config.size + image.layers.reduce((n, l) => n + l.size, 0);

interface Row {
  Repository: string;
  Tag: string;
  ID: string;
  Size: string;
}
const listed = async (): Promise<Row[]> => JSON.parse((await cli(['images', '--format', 'json'])).out) as Row[];

beforeAll(async () => {
  const nats: TestNatsServer = await startNatsServer();
  closers.push(() => nats.stop());
  upstream = await startDistributionRegistry();
  closers.push(() => upstream.stop());
  [busybox, layered, multi] = await Promise.all([busyboxImage(), multiLayerImage(), multiPlatformIndex()]);
  await pushImage(upstream.url, 'team/busybox', '1.36', busybox);
  await pushImage(upstream.url, 'team/layered', '1', layered);
  await pushImage(upstream.url, 'team/multi', '1', multi);

  const layerStore = startProcess(process.execPath, [layerStoreBin, '--state-dir', state, '--run-dir', runDir, '--nats-url', nats.url]);
  processes.push(layerStore);
  await processHealthy(layerStore, join(runDir, 'layer-store.sock'), 'layer-store');
  const mirror = startProcess(process.execPath, [
    ...[mirrorBin, '--state-dir', state, '--run-dir', runDir, '--nats-url', nats.url],
    ...['--listen', `127.0.0.1:${await freePort()}`, '--upstream', `${UPSTREAM}=${upstream.url}`],
  ]);
  processes.push(mirror);
  await processHealthy(mirror, join(runDir, 'registry-mirror.sock'), 'registry-mirror');
});

afterAll(async () => {
  for (const p of processes.reverse()) await p.stop('SIGTERM', 10_000);
  for (const close of closers.reverse()) await close();
  scratch.remove();
});

describe('strata pull', () => {
  it.each([
    [['pull', 'Busybox'], 'strata: invalid reference format: repository name must be lowercase\n'],
    [['pull', `${UPSTREAM}/Team/busybox`], 'strata: invalid reference format: repository name must be lowercase\n'],
    [['pull', 'busybox:'], 'strata: invalid reference format\n'],
    [['pull', 'busybox', '--platform', 'linux/arm/v7/x'], 'strata: invalid platform "linux/arm/v7/x": expected os[/arch[/variant]], e.g. linux/arm64\n'],
    [['tag', 'busybox', 'Busybox'], 'strata: invalid reference format: repository name must be lowercase\n'],
    [['tag', 'busybox', `busybox@sha256:${'a'.repeat(64)}`], 'strata: refusing to create a tag with a digest reference\n'],
    [['rmi', 'busybox', 'Busybox'], 'strata: invalid reference format: repository name must be lowercase\n'],
    [['image', 'inspect', 'Busybox'], 'strata: invalid reference format: repository name must be lowercase\n'],
    [['history', 'Busybox'], 'strata: invalid reference format: repository name must be lowercase\n'],
  ])('%j fails with exit code 1 and Docker\'s text before any request', async (argv, message) => {
    // A run dir without sockets: a request would fail with "cannot reach …" instead.
    expect(await runCaptured([...argv, '--run-dir', join(scratch.path, 'nothing-here')])).toEqual({ code: 1, out: '', err: message });
  });

  it('exits 1 for strata pull Busybox as an executable too', async () => {
    expect(await strataProcess('pull', 'Busybox')).toEqual({
      code: 1,
      out: '',
      err: 'strata: invalid reference format: repository name must be lowercase\n',
    });
  });

  it('pulls an image with a line per layer state when stdout is not a terminal, then finds it up to date', async () => {
    const layer = shortId(busybox.layers[0]!.digest);
    const cold = await strataProcess('pull', BUSYBOX);
    expect(cold.err).toBe(NOT_UNPACKED);
    expect(cold.code).toBe(0);
    const lines = cold.out.trimEnd().split('\n');
    expect(lines[0]).toBe('1.36: Pulling from team/busybox');
    expect(lines.slice(-3)).toEqual([`Digest: ${busybox.manifest.digest}`, `Status: Downloaded newer image for ${BUSYBOX}`, BUSYBOX]);
    const layerLines = lines.slice(1, -3);
    expect(layerLines.length).toBeGreaterThan(0);
    for (const line of layerLines) expect(line).toMatch(new RegExp(`^${layer}: (Waiting|Downloading|Verifying Checksum|Download complete|Pull complete)$`));
    expect(new Set(layerLines).size).toBe(layerLines.length);
    expect(cold.out).not.toContain('\x1b');

    const warm = await strataProcess('pull', BUSYBOX, '--no-unpack');
    expect(warm).toEqual({
      code: 0,
      err: '',
      out: [
        '1.36: Pulling from team/busybox',
        `${layer}: Already exists`,
        `Digest: ${busybox.manifest.digest}`,
        `Status: Image is up to date for ${BUSYBOX}`,
        BUSYBOX,
        '',
      ].join('\n'),
    });
  });

  it('draws progress in place on a terminal, and -q prints only the reference', async () => {
    const tty = await cli(['pull', LAYERED], { tty: true });
    expect(tty.err).toBe(NOT_UNPACKED);
    expect(tty.code).toBe(0);
    for (const l of layered.layers) expect(tty.out).toContain(`${shortId(l.digest)}: `);
    expect(tty.out.endsWith(`Status: Downloaded newer image for ${LAYERED}\n${LAYERED}\n`)).toBe(true);
    expect(await cli(['pull', '-q', LAYERED])).toEqual({ code: 0, out: `${LAYERED}\n`, err: NOT_UNPACKED });
  });

  it('pulls the platform asked for from a multi-platform index', async () => {
    const arm64 = multi.images.find((i) => i.platform.architecture === 'arm64')!;
    const pulled = await cli(['pull', MULTI, '--platform', 'linux/arm64', '--no-unpack']);
    expect(pulled.err).toBe('');
    expect(pulled.out).toContain(`Digest: ${multi.index.digest}\n`);
    const [inspected] = JSON.parse((await cli(['image', 'inspect', MULTI, '--platform', 'linux/arm64'])).out) as Array<Record<string, unknown>>;
    expect(inspected).toMatchObject({ Id: arm64.config.digest, Architecture: 'arm64', Os: 'linux' });
  });

  it('reports what the mirror says about an image the upstream does not have', async () => {
    const r = await cli(['pull', `${UPSTREAM}/team/absent:1`]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^strata: .+\n$/);
    expect(r.err).not.toContain('cannot reach');
  });
});

describe('strata images, image inspect, history, tag and rmi', () => {
  beforeAll(async () => {
    const r = await cli(['pull', '-q', BUSYBOX]);
    expect(r.code, r.err).toBe(0);
  });

  it('lists images as a table and as JSON', async () => {
    const table = await cli(['images']);
    expect(table.code).toBe(0);
    const [header, ...rows] = table.out.trimEnd().split('\n');
    expect(header).toMatch(/^REPOSITORY +TAG +IMAGE ID +CREATED +SIZE$/);
    const row = rows.find((r) => r.startsWith(`${UPSTREAM}/team/busybox `));
    expect(row).toMatch(
      new RegExp(`^${UPSTREAM}/team/busybox +1\\.36 +${shortId(busybox.config.digest)} +\\d+ (years|months) ago +${humanSize(storedSize(busybox))}$`),
    );

    const json = await listed();
    expect(json).toContainEqual(
      expect.objectContaining({ Repository: `${UPSTREAM}/team/busybox`, Tag: '1.36', ID: shortId(busybox.config.digest), Size: humanSize(storedSize(busybox)) }),
    );

    const quiet = await cli(['images', '-q', '--no-trunc', `${UPSTREAM}/team/busybox`]);
    expect(quiet).toEqual({ code: 0, out: `${busybox.config.digest}\n`, err: '' });
    const digests = await cli(['images', '--digests', `${UPSTREAM}/team/busybox:1.36`]);
    expect(digests.out.split('\n')[0]).toMatch(/^REPOSITORY +TAG +DIGEST +IMAGE ID +CREATED +SIZE$/);
    expect(digests.out).toContain(` ${busybox.manifest.digest} `);
  });

  it('inspects an image as docker image inspect does, with the config diff_ids as RootFS.Layers', async () => {
    const r = await cli(['image', 'inspect', BUSYBOX]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const [image, ...more] = JSON.parse(r.out) as Array<Record<string, unknown>>;
    expect(more).toEqual([]);
    expect(image).toMatchObject({
      Id: busybox.config.digest,
      RepoTags: [BUSYBOX],
      RepoDigests: [`${UPSTREAM}/team/busybox@${busybox.manifest.digest}`],
      Created: '2024-01-01T00:00:00Z',
      Architecture: 'amd64',
      Os: 'linux',
      Size: storedSize(busybox),
      Config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['sh'], Entrypoint: null },
      RootFS: { Type: 'layers', Layers: busybox.configDocument.rootfs.diff_ids },
    });
    const byId = JSON.parse((await cli(['image', 'inspect', shortId(busybox.config.digest)])).out) as Array<{ Id: string }>;
    expect(byId.map((i) => i.Id)).toEqual([busybox.config.digest]);
  });

  it('prints what it found and exits 1 when one of the images is not here', async () => {
    const r = await cli(['image', 'inspect', BUSYBOX, `${UPSTREAM}/team/absent:1`]);
    expect(r.code).toBe(1);
    expect((JSON.parse(r.out) as Array<{ Id: string }>).map((i) => i.Id)).toEqual([busybox.config.digest]);
    expect(r.err).toMatch(/^strata: .+\n$/);
  });

  it("prints Docker's --format templates: images rows and table, image inspect -f, history", async () => {
    const ref = `${UPSTREAM}/team/busybox:1.36`;
    expect(await cli(['images', '--format', '{{.Repository}}:{{.Tag}}', ref])).toEqual({ code: 0, out: `${ref}\n`, err: '' });
    const table = await cli(['images', '--format', 'table {{.ID}}\\t{{.Repository}}\\t{{.Size}}', ref]);
    expect(table).toEqual({
      code: 0,
      out: [
        `IMAGE ID      REPOSITORY${' '.repeat(`${UPSTREAM}/team/busybox`.length - 'REPOSITORY'.length)}  SIZE`,
        `${shortId(busybox.config.digest)}  ${UPSTREAM}/team/busybox  ${humanSize(storedSize(busybox))}`,
        '',
      ].join('\n'),
      err: '',
    });
    expect(await cli(['image', 'inspect', '-f', '{{.Id}} {{json .Config.Cmd}} {{.Os}}/{{.Architecture}}', BUSYBOX])).toEqual({
      code: 0,
      out: `${busybox.config.digest} ["sh"] linux/amd64\n`,
      err: '',
    });
    const missing = await cli(['image', 'inspect', '--format', '{{.Config.Nope}}', BUSYBOX]);
    expect(missing).toMatchObject({ code: 1, out: '' });
    expect(missing.err).toMatch(/^strata: template: :1:2: executing at <\.Config\.Nope>: can't evaluate field Nope \(the fields of \.Config are .*Cmd/);
    const steps = await cli(['history', '--format', '{{.ID}}', BUSYBOX]);
    expect(steps.out.split('\n')[0]).toBe(shortId(busybox.config.digest));
  });

  it('shows the history newest first, as a table and as JSON', async () => {
    const steps = busybox.configDocument.history ?? [];
    const table = await cli(['history', BUSYBOX]);
    expect(table.code).toBe(0);
    const [header, ...rows] = table.out.trimEnd().split('\n');
    expect(header).toMatch(/^IMAGE +CREATED +CREATED BY +SIZE +COMMENT$/);
    expect(rows).toHaveLength(steps.length);
    expect(rows[0]).toMatch(new RegExp(`^${shortId(busybox.config.digest)} +\\d+ (years|months) ago +`));

    const json = JSON.parse((await cli(['history', BUSYBOX, '--format', 'json', '--no-trunc', '--human=false'])).out) as Array<
      Record<string, string>
    >;
    expect(json.map((s) => s.CreatedBy)).toEqual(steps.map((s) => s.created_by ?? '').reverse());
    expect(json[0]).toMatchObject({ ID: busybox.config.digest, CreatedAt: '2024-01-01T00:00:00Z', CreatedSince: '2024-01-01T00:00:00Z' });
    const layerStep = json.find((s) => s.Size !== '0');
    expect(layerStep?.Size).toBe(String(busybox.layers[0]!.size));
  });

  it('tags an image and removes tags and images as docker rmi does', async () => {
    expect(await cli(['tag', BUSYBOX, 'mybox:v1'])).toEqual({ code: 0, out: '', err: '' });
    expect(await listed()).toContainEqual(expect.objectContaining({ Repository: 'mybox', Tag: 'v1', ID: shortId(busybox.config.digest) }));

    expect(await cli(['rmi', 'mybox:v1'])).toEqual({ code: 0, out: 'Untagged: mybox:v1\n', err: '' });
    expect((await listed()).filter((r) => r.Repository === 'mybox')).toEqual([]);

    const removed = await cli(['rmi', BUSYBOX]);
    expect(removed.err).toBe('');
    expect(removed.code).toBe(0);
    const lines = removed.out.trimEnd().split('\n');
    expect(lines[0]).toBe(`Untagged: ${BUSYBOX}`);
    expect(lines).toContain(`Deleted: ${busybox.config.digest}`);
    expect(lines.every((l) => /^(Untagged|Deleted): /.test(l))).toBe(true);
    expect((await listed()).filter((r) => r.ID === shortId(busybox.config.digest))).toEqual([]);

    const gone = await cli(['image', 'inspect', BUSYBOX]);
    expect(gone.code).toBe(1);
    expect(gone.out).toBe('[]\n');
    const again = await cli(['rmi', BUSYBOX]);
    expect(again.code).toBe(1);
    expect(again.err).toMatch(/^strata: .+\n$/);
  });
});
