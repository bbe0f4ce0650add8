import { join } from 'node:path';
// The node-agent's reusable test stack lives in its app, beside startNodeAgent which it starts.
// eslint-disable-next-line @nx/enforce-module-boundaries
import { startTestStack, type TestStack } from '@strata/app-node-agent/testing';
import { createGrpcStore, type GrpcStore } from '@strata/content-grpc';
import { silentLogger } from '@strata/kit';
import { waitFor } from '@strata/kit/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCaptured, type CapturedRun } from '../testing/run-captured.js';

let stack: TestStack;
let layerStore: GrpcStore;

type Result = CapturedRun;

/** Runs the CLI in this process against the test stack; `--run-dir` goes right after the command's words. */
async function cli(...argv: string[]): Promise<Result> {
  const words = argv[0] === 'image' ? 2 : 1;
  return runCaptured([...argv.slice(0, words), '--run-dir', stack.runDir, ...argv.slice(words)]);
}

/** Runs the CLI and expects success; returns stdout. */
async function ok(...argv: string[]): Promise<string> {
  const r = await cli(...argv);
  expect(r, `strata ${argv.join(' ')}`).toMatchObject({ code: 0, err: '' });
  return r.out;
}

const unique = (prefix: string) => `${prefix}-${process.pid}-${Math.floor(Math.random() * 1e6)}`;

/** Every blob digest in the layer-store. */
async function blobs(): Promise<Set<string>> {
  const out = new Set<string>();
  for await (const info of layerStore.walk()) out.add(info.digest);
  return out;
}

async function ipOf(container: string): Promise<string> {
  const [c] = JSON.parse(await ok('inspect', container)) as Array<{ NetworkSettings: { IPAddress: string } }>;
  return c!.NetworkSettings.IPAddress;
}

/** The HTTP status of GET url, once the server answers. */
async function statusOf(url: string): Promise<number> {
  let status = 0;
  await waitFor(
    async () => {
      status = (await fetch(url)).status;
      return true;
    },
    () => `HTTP at ${url}`,
    15_000,
    100,
  );
  return status;
}

interface InspectedImage {
  Id: string;
  Author: string;
  Comment: string;
  Config: { Cmd: string[] | null; Env: string[] | null; ExposedPorts?: Record<string, object>; Labels?: Record<string, string> | null; WorkingDir: string };
  RootFS: { Layers: string[] };
}

async function inspectImage(ref: string): Promise<InspectedImage> {
  return (JSON.parse(await ok('image', 'inspect', ref)) as InspectedImage[])[0]!;
}

/**
 * A listing of the root filesystem a container sees, one line per entry:
 * path, type, mode, owner and (files) content hash or (links) target;
 * /proc, /sys, /dev and the agent's /etc files are left out.
 */
const LIST_ROOT = [
  'cd / && find . -xdev \\( -path ./proc -o -path ./sys -o -path ./dev -o -path ./etc/hosts -o -path ./etc/hostname -o -path ./etc/resolv.conf \\) -prune -o -print',
  '| sort | while read -r f; do',
  '  t=$(stat -c "%F %a %u:%g" "$f");',
  '  if [ -L "$f" ]; then x=$(readlink "$f"); elif [ -f "$f" ]; then x=$(md5sum < "$f"); else x=; fi;',
  '  echo "$f $t $x";',
  'done',
].join(' ');

beforeAll(async () => {
  stack = await startTestStack();
  await stack.startAgentProcess();
  layerStore = createGrpcStore({ unixSocket: join(stack.runDir, 'layer-store.sock') }, { logger: silentLogger() });
}, 180_000);

afterAll(async () => {
  await layerStore?.close();
  await stack?.stop();
}, 120_000);

describe('strata commit', () => {
  const web01 = `web01-${process.pid}:1.0`;
  const web02 = `web02-${process.pid}:1.1`;

  it('builds a web image from a stopped container, with the --change instructions applied', async () => {
    const builder = unique('builder');
    await ok(
      ...['run', '--name', builder, '-e', 'SITE=demo', stack.image],
      ...['sh', '-c', 'mkdir /www && echo index > /www/index.html && echo second > /www/page2.html'],
    );
    const id = (await ok('commit', '-c', 'CMD ["httpd", "-f", "-p", "80", "-h", "/www"]', '-c', 'EXPOSE 80', '-c', 'LABEL tier=web', builder, web01)).trim();
    expect(id).toMatch(/^sha256:[a-f0-9]{64}$/);
    const image = await inspectImage(web01);
    expect(image.Id).toBe(id);
    expect(image.Config).toMatchObject({ Cmd: ['httpd', '-f', '-p', '80', '-h', '/www'], ExposedPorts: { '80/tcp': {} }, Labels: { tier: 'web' } });
    expect(image.Config.Env).toContain('SITE=demo');
    await ok('rm', builder);
  });

  it("keeps a page deleted in a container out of the committed image, while the original image still serves it", async () => {
    const a = unique('web-a');
    await ok('run', '-d', '--name', a, web01);
    const ipA = await ipOf(a);
    expect(await statusOf(`http://${ipA}/page2.html`)).toBe(200);
    await ok('exec', a, 'rm', '/www/page2.html');
    expect(await statusOf(`http://${ipA}/page2.html`)).toBe(404);

    const before = await blobs();
    const id = (await ok('commit', '-m', 'page2 removed', '-a', 'Jane Doe <jane@example.com>', a, web02)).trim();
    const after = await blobs();
    const added = [...after].filter((d) => !before.has(d));
    expect(added).toHaveLength(3);
    expect(added).toContain(id);
    expect((await cli('inspect', a)).out).toContain('"Running": true');

    const base = await inspectImage(web01);
    const committed = await inspectImage(web02);
    expect(committed.Id).toBe(id);
    expect(committed.RootFS.Layers).toHaveLength(base.RootFS.Layers.length + 1);
    expect(committed.RootFS.Layers.slice(0, -1)).toEqual(base.RootFS.Layers);
    expect(committed).toMatchObject({ Author: 'Jane Doe <jane@example.com>', Comment: 'page2 removed' });

    const history = JSON.parse(await ok('history', '--no-trunc', '--format', 'json', web02)) as Array<{ ID: string; CreatedBy: string; Comment: string }>;
    expect(history[0]).toMatchObject({ ID: id, CreatedBy: 'httpd -f -p 80 -h /www', Comment: 'page2 removed' });
    expect(history).toHaveLength(JSON.parse(await ok('history', '--format', 'json', web01)).length + 1);

    const listed = JSON.parse(await ok('images', '--format', 'json')) as Array<{ Repository: string; Tag: string; Size: string }>;
    expect(listed).toContainEqual(expect.objectContaining({ Repository: `web02-${process.pid}`, Tag: '1.1', Size: expect.stringMatching(/^[0-9.]+[kMG]?B$/) }));

    const b = unique('web-b');
    const c = unique('web-c');
    await ok('run', '-d', '--name', b, web02);
    await ok('run', '-d', '--name', c, web01);
    const [ipB, ipC] = [await ipOf(b), await ipOf(c)];
    expect(await statusOf(`http://${ipB}/index.html`)).toBe(200);
    expect(await statusOf(`http://${ipB}/page2.html`)).toBe(404);
    expect(await statusOf(`http://${ipC}/page2.html`)).toBe(200);
    for (const name of [a, b, c]) await ok('rm', '-f', name);
  });

  it('makes an image whose merged view matches the container: opaque directory, mode change, file replaced by a symlink', async () => {
    const baseRef = `view-base-${process.pid}:1`;
    const viewRef = `view-${process.pid}:1`;
    const builder = unique('view-builder');
    await ok(
      ...['run', '--name', builder, stack.image, 'sh', '-c'],
      'mkdir -p /data/sub /data2 && echo a > /data/a && echo c > /data/sub/c && echo f > /data2/f && chmod 644 /data2/f && echo g > /data2/g',
    );
    await ok('commit', builder, baseRef);
    await ok('rm', builder);

    const v = unique('view');
    await ok(
      ...['run', '-d', '--name', v, baseRef, 'sh', '-c'],
      'rm -rf /data && mkdir /data && echo new > /data/n && chmod 600 /data2/f && rm /data2/g && ln -s f /data2/g && rm /bin/wc && touch /ready && exec sleep 1000',
    );
    await waitFor(async () => (await cli('exec', v, 'test', '-f', '/ready')).code === 0, () => 'the container to make its changes', 15_000, 100);
    const seen = await ok('exec', v, 'sh', '-c', LIST_ROOT);
    expect(seen).toContain('./data/n regular file 644');
    expect(seen).not.toContain('./data/a ');
    expect(seen).not.toContain('./data/sub');
    expect(seen).toContain('./data2/f regular file 600');
    expect(seen).toMatch(/\.\/data2\/g symbolic link 777 0:0 f\n/);
    expect(seen).not.toContain('./bin/wc ');

    await ok('commit', '-c', 'CMD ["sleep", "1000"]', v, viewRef);
    const fresh = await ok('run', '--rm', viewRef, 'sh', '-c', LIST_ROOT);
    expect(fresh.split('\n')).toEqual(seen.split('\n'));
    await ok('rm', '-f', v);
  });

  it.each([
    ['an upper-case repository', 'Web02:1.1', 'strata: invalid reference format: repository name must be lowercase\n'],
    ['a digest', `web02@sha256:${'a'.repeat(64)}`, 'strata: refusing to create a tag with a digest reference\n'],
    ['a malformed tag', 'web02:-bad', 'strata: invalid reference format\n'],
  ])('refuses %s before anything is written', async (_name, ref, message) => {
    const c = unique('refused');
    await ok('run', '--name', c, stack.image, 'sh', '-c', 'echo x > /x');
    const before = await blobs();
    expect(await cli('commit', c, ref)).toEqual({ code: 1, out: '', err: message });
    expect(await blobs()).toEqual(before);
    await ok('rm', c);
  });

  it('refuses an unknown --change instruction on the agent before anything is written', async () => {
    const c = unique('refused-change');
    await ok('run', '--name', c, stack.image, 'true');
    const before = await blobs();
    const r = await cli('commit', '-c', 'RUN rm -rf /', c, `refused-${process.pid}:1`);
    expect(r).toEqual({ code: 1, out: '', err: expect.stringMatching(/^strata: RUN is not a valid change command; use one of CMD, ENTRYPOINT/) });
    expect(await blobs()).toEqual(before);
    await ok('rm', c);
  });
});
