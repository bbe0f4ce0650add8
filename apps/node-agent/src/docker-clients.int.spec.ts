import { execFile } from 'node:child_process';
import { existsSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { connect } from '@nats-io/transport-node';
import { ContainerSpec, ContainersService, NetworkMode, WaitCondition } from '@strata/api/containers/v1';
import { ImagesService } from '@strata/api/images/v1';
import { createDockerCli, dockerRequest, type DockerCli } from '@strata/docker-api/testing';
import { createClient, type RpcClient } from '@strata/grpc-kit';
import {
  buildImage,
  busyboxImage,
  multiLayerImage,
  singleLayerImage,
  pushImage,
  startDistributionRegistry,
  webImage,
  WEB_PAGES,
  type BuiltImage,
  type TestDistributionRegistry,
} from '@strata/image-fixtures';
import { tempDir } from '@strata/kit/testing';
import type { ContainerConfig } from '@strata/oci';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStack, type TestStack } from './testing/test-stack.js';

const run = promisify(execFile);

/** The upstream's name in references: the mirror maps it to the test registry. */
const UPSTREAM = 'upstream.test';
const BUSYBOX = `${UPSTREAM}/team/busybox:1.36`;
/** An image whose layers the stack does not have yet: its pull downloads them all. */
const LAYERED = `${UPSTREAM}/team/layered:1`;
/** An image whose layer the upstream serves with bytes that do not match its digest. */
const CORRUPT = `${UPSTREAM}/team/corrupt:1`;

const scratch = tempDir('strata-docker-images-');
/** The lock file testcontainers takes for its port allocation; removed after the tests when they made it. */
const TESTCONTAINERS_LOCK = join(tmpdir(), `testcontainers-node-${process.getuid?.() ?? 0}.lock`);
const lockExisted = existsSync(TESTCONTAINERS_LOCK);
/** The node-agent's Docker Engine API socket. */
let socket = '';
let cli: DockerCli | undefined;
let upstream: TestDistributionRegistry | undefined;
let stack: TestStack | undefined;
let images: RpcClient | undefined;
let containers: RpcClient;
let busybox: BuiltImage;
let web = '';
let layered: BuiltImage;

/** Runs the docker CLI against the Strata socket, with a config dir of its own. */
const docker = (...args: string[]) => cli!.run(args);

const shortHex = (digest: string) => digest.slice('sha256:'.length, 'sha256:'.length + 12);

const spec = (over: Partial<ContainerSpec>): ContainerSpec =>
  ContainerSpec.fromPartial({ image: stack!.image, networkMode: NetworkMode.NETWORK_MODE_NONE, ...over });

beforeAll(async () => {
  upstream = await startDistributionRegistry();
  [busybox, layered] = await Promise.all([busyboxImage(), multiLayerImage()]);
  await pushImage(upstream.url, 'team/busybox', '1.36', busybox);
  await pushImage(upstream.url, 'team/layered', '1', layered);
  const corrupt = await singleLayerImage();
  await pushImage(upstream.url, 'team/corrupt', '1', corrupt);
  const hex = corrupt.layers[0]!.digest.slice('sha256:'.length);
  const blob = join(upstream.storageDir, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
  writeFileSync(blob, Buffer.from(readFileSync(blob).map((b) => b ^ 0xff)));
  const upstreams = join(scratch.path, 'upstreams.json');
  writeFileSync(upstreams, JSON.stringify([{ host: UPSTREAM, endpoint: upstream.url }]));
  stack = await startTestStack({ mirrorFlags: ['--upstreams', upstreams] });
  await pushImage(stack.mirrorUrl, 'local/web', 'test', await webImage());
  web = `${stack.mirrorUrl.replace('http://', '')}/local/web:test`;
  containers = stack.client();
  images = createClient({ unixSocket: join(stack.runDir, 'registry-mirror.sock') });
  const agent = await stack.startAgent();
  if (agent.dockerSocket === undefined) throw new Error('the node-agent serves no Docker API socket');
  socket = agent.dockerSocket;
  cli = await createDockerCli(socket);
  // testcontainers reads its settings from the environment when it first runs.
  process.env.DOCKER_HOST = `unix://${socket}`;
  process.env.TESTCONTAINERS_RYUK_DISABLED = 'true';
  process.env.DOCKER_CONFIG = cli.env['DOCKER_CONFIG'];
}, 240_000);

afterAll(async () => {
  if (!lockExisted) rmSync(TESTCONTAINERS_LOCK, { force: true, recursive: true });
  for (const name of ['DOCKER_HOST', 'TESTCONTAINERS_RYUK_DISABLED', 'DOCKER_CONFIG']) delete process.env[name];
  await cli?.remove();
  images?.close();
  await stack?.stop();
  await upstream?.stop();
  scratch.remove();
}, 120_000);

describe('docker pull', () => {
  it('pulls through the registry-mirror with Docker progress lines, then finds it up to date', async () => {
    const pulled = await docker('pull', LAYERED);
    expect(pulled).toMatchObject({ code: 0, err: '' });
    const lines = pulled.out.trimEnd().split('\n');
    expect(lines[0]).toBe('1: Pulling from team/layered');
    for (const layer of layered.layers) {
      const id = shortHex(layer.digest);
      const at = (state: string) => lines.indexOf(`${id}: ${state}`);
      expect(at('Pulling fs layer')).toBeGreaterThan(0);
      expect(at('Download complete')).toBeGreaterThan(at('Pulling fs layer'));
      expect(at('Pull complete')).toBeGreaterThan(at('Download complete'));
    }
    expect(lines.slice(-3)).toEqual([`Digest: ${layered.manifest.digest}`, `Status: Downloaded newer image for ${LAYERED}`, LAYERED]);

    const again = await docker('pull', LAYERED);
    expect(again.code).toBe(0);
    expect(again.out.trimEnd().split('\n')).toEqual([
      '1: Pulling from team/layered',
      `Digest: ${layered.manifest.digest}`,
      `Status: Image is up to date for ${LAYERED}`,
      LAYERED,
    ]);

    // The stack already holds busybox's layers (its local copy): they are not downloaded again.
    const busyboxPull = await docker('pull', BUSYBOX);
    expect(busyboxPull.code).toBe(0);
    for (const layer of busybox.layers) expect(busyboxPull.out).toContain(`${shortHex(layer.digest)}: Already exists\n`);
    expect(busyboxPull.out).toContain(`Status: Downloaded newer image for ${BUSYBOX}\n`);
  }, 60_000);

  it('reports an error after the progress started as Docker does: the CLI prints it and fails', async () => {
    const pulled = await docker('pull', CORRUPT);
    expect(pulled.code).toBe(1);
    expect(pulled.out.split('\n')[0]).toBe('1: Pulling from team/corrupt');
    expect(pulled.err).not.toBe('');
    expect(pulled.err).not.toMatch(/Error response from daemon/);
    const raw = await dockerRequest(socket, 'POST', `/images/create?fromImage=${UPSTREAM}/team/corrupt&tag=1`);
    expect(raw.status).toBe(200);
    const last = JSON.parse(raw.body.toString('utf8').trimEnd().split('\n').at(-1)!) as { error: string; errorDetail: { message: string } };
    expect(last.errorDetail.message).toBe(last.error);
    expect(pulled.err).toBe(`${last.error}\n`);
  }, 60_000);

  it.each([
    [['pull', 'Busybox'], 'invalid reference format: repository name must be lowercase\n'],
    [['pull', `${UPSTREAM}/team/nothing:1`], /^Error response from daemon: .*team\/nothing/],
  ])('refuses docker %j', async (args, message) => {
    const result = await docker(...args);
    expect(result.code).toBe(1);
    if (typeof message === 'string') expect(result.err).toBe(message);
    else expect(result.err).toMatch(message);
  });

  it.each([
    ['/v1.41/images/create?fromImage=Busybox', 400, 'invalid reference format: repository name must be lowercase'],
    ['/images/create?fromImage=busybox&tag=a%20b', 400, 'invalid tag format: "a b"'],
    ['/images/create', 400, 'fromImage is required: the image to pull, e.g. fromImage=busybox&tag=latest'],
    [`/images/create?fromImage=${UPSTREAM}/team/busybox&tag=1.36&platform=linux/x/y/z`, 400, 'invalid platform "linux/x/y/z": expected os[/arch[/variant]], e.g. linux/arm64'],
  ])('answers POST %s with %i and Docker text', async (path, status, message) => {
    const res = await dockerRequest(socket, 'POST', path);
    expect([res.status, res.json()]).toEqual([status, { message }]);
  });
});

describe('docker images, image inspect, tag, history, rmi', () => {
  it('lists, inspects, tags, shows history and removes as Docker', async () => {
    const { image } = await images!.unary(ImagesService.inspect, { ref: BUSYBOX });
    const id = image!.id;

    const listed = await docker('images');
    expect(listed.code).toBe(0);
    const [header, ...rows] = listed.out.trimEnd().split('\n');
    expect(header!.split(/\s{2,}/)).toEqual(['REPOSITORY', 'TAG', 'IMAGE ID', 'CREATED', 'SIZE']);
    expect(rows.map((r) => r.split(/\s{2,}/).slice(0, 3))).toContainEqual([`${UPSTREAM}/team/busybox`, '1.36', shortHex(id)]);

    const inspected = await docker('image', 'inspect', BUSYBOX);
    expect(inspected.code).toBe(0);
    const [doc] = JSON.parse(inspected.out) as Array<Record<string, unknown>>;
    expect(doc).toMatchObject({
      Id: id,
      RepoTags: expect.arrayContaining([BUSYBOX]),
      Os: busybox.configDocument.os,
      Architecture: busybox.configDocument.architecture,
      RootFS: { Type: 'layers', Layers: busybox.configDocument.rootfs.diff_ids },
    });
    expect((await docker('image', 'inspect', '--format', '{{.Id}} {{len .RootFS.Layers}}', BUSYBOX)).out).toBe(
      `${id} ${busybox.configDocument.rootfs.diff_ids.length}\n`,
    );

    const byDigest = await docker('image', 'inspect', '--format', '{{.Id}}', `${UPSTREAM}/team/busybox@${busybox.manifest.digest}`);
    expect(byDigest.out).toBe(`${id}\n`);
    expect((await docker('image', 'inspect', '--format', '{{.Id}}', shortHex(id))).out).toBe(`${id}\n`);

    const since = Math.floor(Date.now() / 1000) - 1;
    expect(await docker('tag', BUSYBOX, 'mine/app:v1')).toEqual({ code: 0, out: '', err: '' });
    const tagged = await docker('images', '--format', '{{.Repository}}:{{.Tag}} {{.ID}}', 'mine/app');
    expect(tagged.out).toBe(`mine/app:v1 ${shortHex(id)}\n`);

    const history = await docker('history', 'mine/app:v1');
    expect(history.code).toBe(0);
    const [historyHeader, first] = history.out.split('\n');
    expect(historyHeader!.split(/\s{2,}/)).toEqual(['IMAGE', 'CREATED', 'CREATED BY', 'SIZE', 'COMMENT']);
    expect(first!.startsWith(shortHex(id))).toBe(true);

    expect(await docker('rmi', 'mine/app:v1')).toEqual({ code: 0, out: 'Untagged: mine/app:v1\n', err: '' });
    expect((await docker('images', '-q', 'mine/app')).out).toBe('');
    const events = await docker(
      ...['events', '--filter', 'type=image', '--filter', 'image=mine/app', '--since', String(since)],
      ...['--until', String(Math.ceil(Date.now() / 1000) + 1), '--format', '{{.Type}} {{.Action}} {{.Actor.ID}} {{.Actor.Attributes.name}}'],
    );
    expect(events.out.trimEnd().split('\n')).toEqual([
      `image tag ${busybox.manifest.digest} mine/app:v1`,
      `image untag ${busybox.manifest.digest} mine/app:v1`,
    ]);
    const missing = await docker('rmi', 'mine/app:v1');
    expect([missing.code, missing.err]).toEqual([1, 'Error: No such image: mine/app:v1\n']);
    const badInspect = await docker('image', 'inspect', 'Busybox');
    expect(badInspect.code).toBe(1);
  }, 60_000);
});

describe('docker commit and docker events', () => {
  it('commits a container with message and author, and shows its create, start and die events', async () => {
    const since = Math.floor(Date.now() / 1000) - 1;
    const { container } = await containers.unary(ContainersService.create, {
      spec: spec({ cmd: ['sh', '-c', 'echo committed > /hello.txt'], labels: { suite: 'docker-api' } }),
    });
    const id = container!.id;
    await containers.unary(ContainersService.start, { id });
    await containers.unary(ContainersService.wait, { id, condition: WaitCondition.WAIT_CONDITION_NOT_RUNNING });

    const committed = await docker('commit', '-m', 'added hello.txt', '-a', 'Jane Doe <jane@example.com>', id, 'committed/app:1');
    expect(committed.code).toBe(0);
    expect(committed.out).toMatch(/^sha256:[a-f0-9]{64}\n$/);
    const history = await docker('history', '--format', '{{.Comment}}|{{.CreatedBy}}', 'committed/app:1');
    expect(history.out.split('\n')[0]).toMatch(/^added hello\.txt\|/);
    expect((await docker('image', 'inspect', '--format', '{{.Id}} {{.Author}}', 'committed/app:1')).out).toBe(
      `${committed.out.trim()} Jane Doe <jane@example.com>\n`,
    );
    const noRepo = await dockerRequest(socket, 'POST', `/commit?container=${id}`, 'null');
    expect([noRepo.status, noRepo.json()]).toEqual([
      400,
      { message: 'a commit needs a repository name (repo=…): Strata keeps no untagged images, so name the new image' },
    ]);
    const noContainer = await docker('commit', 'no-such-container', 'x:1');
    expect([noContainer.code, noContainer.err]).toEqual([1, 'Error response from daemon: No such container: no-such-container\n']);

    const until = Math.ceil(Date.now() / 1000) + 1;
    const events = await docker('events', '--filter', 'type=container', '--filter', `container=${id}`, '--since', String(since), '--until', String(until));
    expect(events.code).toBe(0);
    const lines = events.out.trimEnd().split('\n');
    const actions = lines.map((l) => l.split(' ').slice(1, 4).join(' '));
    expect(actions.slice(0, 3)).toEqual([`container create ${id}`, `container start ${id}`, `container die ${id}`]);
    expect(actions).toContain(`container commit ${id}`);
    expect(lines[2]).toContain(`(exitCode=0, image=${stack!.image}, name=${container!.name}, suite=docker-api)`);

    const labelled = await docker('events', '--filter', 'label=suite=docker-api', '--filter', 'event=die', '--since', String(since), '--until', String(until), '--format', '{{json .}}');
    const parsed = labelled.out.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(parsed).toHaveLength(1);
    expect(parsed[0]).toMatchObject({ Type: 'container', Action: 'die', Actor: { ID: id }, scope: 'local', status: 'die', id, from: stack!.image });

    const bad = await dockerRequest(socket, 'GET', `/events?filters=${encodeURIComponent('{"colour":["red"]}')}`);
    expect([bad.status, bad.json()]).toEqual([400, { message: "invalid filter 'colour'" }]);
    await containers.unary(ContainersService.remove, { id, force: true });
  }, 90_000);
});

/**
 * An image of a host binary and the shared libraries `ldd` names for it
 * (Debian's own files, at the paths the dynamic loader looks for them), run
 * as entrypoint.
 */
async function hostBinaryImage(binary: string, config: ContainerConfig): Promise<BuiltImage> {
  const { stdout } = await run('ldd', [binary]);
  const libraries = [...stdout.matchAll(/(?:=> )?(\/\S+) \(0x[0-9a-f]+\)/g)].map((m) => m[1] as string);
  const files = [binary, ...libraries].map((path) => ({ file: path, content: readFileSync(realpathSync(path)), mode: 0o755 }));
  return buildImage({
    layers: [{ items: [...files, { dir: 'tmp', mode: 0o1777 }], createdBy: `COPY ${binary} and its libraries` }],
    config: { Entrypoint: [binary], ...config },
  });
}

describe('testcontainers-node against Strata', () => {
  // The default wait strategy execs `cat /proc/net/tcp*…`, `nc -vz …` and `/bin/bash -c </dev/tcp/localhost/80` in the
  // container and needs an exec of a missing binary to start and end with ExitCode 127, as Docker's does. Inside a
  // container (/.dockerenv, as here) testcontainers reaches mapped ports through the gateway of GET /networks/bridge.
  it('starts a web server with a mapped port (the default wait strategy: its port listens), execs in it, and stops it', async () => {
    const { GenericContainer } = await import('testcontainers');
    const container = await new GenericContainer(web).withExposedPorts(80).start();
    try {
      const bridge = (await dockerRequest(socket, 'GET', '/networks/bridge')).json() as {
        IPAM: { Config: Array<{ Subnet: string; Gateway: string }> };
        Containers: Record<string, { Name: string; IPv4Address: string }>;
      };
      expect(bridge.IPAM.Config).toEqual([{ Subnet: stack!.network.subnet, Gateway: expect.stringMatching(/^\d+\.\d+\.\d+\.1$/) }]);
      expect(container.getHost()).toBe(existsSync('/.dockerenv') ? bridge.IPAM.Config[0]!.Gateway : 'localhost');
      expect(bridge.Containers[container.getId()]).toEqual({
        Name: container.getName().replace(/^\//, ''),
        EndpointID: '',
        MacAddress: '',
        IPv4Address: `${container.getIpAddress('bridge')}/${stack!.network.subnet.split('/')[1]}`,
        IPv6Address: '',
      });
      const page = await fetch(`http://${container.getHost()}:${container.getMappedPort(80)}/index.html`);
      expect(await page.text()).toBe(WEB_PAGES['index.html']);
      const exec = await container.exec(['cat', '/var/www/about.html']);
      expect({ exitCode: exec.exitCode, output: exec.output }).toEqual({ exitCode: 0, output: WEB_PAGES['about.html'] });
      const failing = await container.exec(['sh', '-c', 'echo oops >&2; exit 3']);
      expect({ exitCode: failing.exitCode, stderr: failing.stderr }).toEqual({ exitCode: 3, stderr: 'oops\n' });
      const missing = await container.exec(['/bin/bash', '-c', 'true']);
      expect(missing.exitCode).toBe(127);
      expect(missing.output).toMatch(/\/bin\/bash.*no such file or directory\r\n$/);
    } finally {
      await container.stop();
    }
  }, 120_000);

  it('waits for an HTTP answer', async () => {
    const { GenericContainer, Wait } = await import('testcontainers');
    const container = await new GenericContainer(web).withExposedPorts(80).withWaitStrategy(Wait.forHttp('/index.html', 80)).start();
    try {
      expect(container.getMappedPort(80)).toBeGreaterThan(0);
    } finally {
      await container.stop();
    }
  }, 120_000);

  // The log-message wait strategy reads GET /containers/{id}/logs?follow=1&tail=-1: Docker reads a negative tail as all.
  it('waits for a log message', async () => {
    const { GenericContainer, Wait } = await import('testcontainers');
    const container = await new GenericContainer(web)
      .withExposedPorts(80)
      .withCommand(['sh', '-c', 'echo web is ready; exec httpd -f -p 80 -h /var/www'])
      .withWaitStrategy(Wait.forLogMessage('web is ready'))
      .start();
    try {
      const page = await fetch(`http://${container.getHost()}:${container.getMappedPort(80)}/about.html`);
      expect(await page.text()).toBe(WEB_PAGES['about.html']);
    } finally {
      await container.stop();
    }
  }, 120_000);

  // A throwaway service for a test, the testcontainers way, on Strata itself: Debian's nats-server as a local image.
  it('runs a throwaway NATS server from a local image and publishes and subscribes through it', async () => {
    const { GenericContainer, Wait } = await import('testcontainers');
    await pushImage(stack!.mirrorUrl, 'local/nats', 'test', await hostBinaryImage('/usr/sbin/nats-server', { Cmd: ['--port', '4222'], ExposedPorts: { '4222/tcp': {} } }));
    const container = await new GenericContainer(`${new URL(stack!.mirrorUrl).host}/local/nats:test`)
      .withExposedPorts(4222)
      .withWaitStrategy(Wait.forLogMessage(/Server is ready/))
      .start();
    try {
      const nc = await connect({ servers: `${container.getHost()}:${container.getMappedPort(4222)}` });
      try {
        const sub = nc.subscribe('strata.test.>', { max: 1 });
        nc.publish('strata.test.hello', 'from the host');
        for await (const message of sub) expect([message.subject, message.string()]).toEqual(['strata.test.hello', 'from the host']);
        expect(sub.getProcessed()).toBe(1);
      } finally {
        await nc.close();
      }
    } finally {
      await container.stop();
    }
  }, 120_000);
});
