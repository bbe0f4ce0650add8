import { execFileSync } from 'node:child_process';
import { chmod, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { jetstream } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect as natsConnect, type Msg, type NatsConnection } from '@nats-io/transport-node';
import {
  ChangeKind,
  ContainerStatus,
  ContainersService,
  Mount,
  MountType,
  NetworkMode,
  Protocol,
  RestartPolicyName,
  WaitCondition,
  type Container,
  type CopyToResponse,
  type PathStat,
  ContainerSpec,
  type AttachResponse,
  type ExecResponse,
} from '@strata/api/containers/v1';
import { detectCgroupVersion, openCgroup } from '@strata/cgroups';
import { tarBytes } from '@strata/tar';
import { cgroupMounts } from '@strata/cgroups/testing';
import { createBridgeNetwork } from '@strata/container-network';
import type { RpcClient } from '@strata/grpc-kit';
import { errorKind, silentLogger, type CloudEvent } from '@strata/kit';
import { waitFor } from '@strata/kit/testing';
import { gnuTar } from '@strata/tar/testing';
import { createGrpcSnapshotter } from '@strata/snapshots-grpc';
import { mountPoints, unmountAll } from '@strata/snapshots-local';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningNodeAgent } from './node-agent.js';
import { startTestStack, type TestStack } from './testing/test-stack.js';

let stack: TestStack;
let agent: RunningNodeAgent;
let client: RpcClient;
let nc: NatsConnection;
const received: CloudEvent[] = [];
const created: string[] = [];

const spec = (over: Partial<ContainerSpec>): ContainerSpec =>
  ContainerSpec.fromPartial({ image: stack.image, networkMode: NetworkMode.NETWORK_MODE_BRIDGE, ...over });

async function create(over: Partial<ContainerSpec>): Promise<Container> {
  const { container } = await client.unary(ContainersService.create, { spec: spec(over) });
  created.push(container!.id);
  return container!;
}

async function run(over: Partial<ContainerSpec>): Promise<Container> {
  const c = await create(over);
  await client.unary(ContainersService.start, { id: c.id });
  return c;
}

async function output(id: string): Promise<string> {
  let text = '';
  for await (const r of client.serverStream(ContainersService.logs, { id, follow: false, tail: -1 })) text += r.data.toString('utf8');
  return text;
}

async function exec(id: string, args: string[], workingDir = ''): Promise<{ code: number; out: string; err: string }> {
  const call = client.bidiStream(ContainersService.exec);
  call.write({ message: { $case: 'start', value: { id, args, env: [], workingDir, user: '', tty: false, stdin: false } } });
  call.end();
  let out = '';
  let err = '';
  let code = -1;
  try {
    for await (const m of call as AsyncIterable<ExecResponse>) {
      const msg = m.message;
      if (msg?.$case === 'stdout') out += msg.value.toString('utf8');
      else if (msg?.$case === 'stderr') err += msg.value.toString('utf8');
      else if (msg?.$case === 'exit') code = msg.value.exitCode;
    }
  } catch (e) {
    throw client.translate(e);
  }
  return { code, out, err };
}

const eventsOf = (type: string, subject: string) => received.filter((e) => e.type === `io.strata.${type}` && e.subject === subject);
const refusal = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: unknown) => ({ kind: errorKind(e), message: (e as Error).message }),
  );
const cgroupOf = (id: string) => openCgroup(`${stack.cgroupParent}/${id}`, { logger: silentLogger(), parent: stack.cgroupParent });
const statusOf = async (id: string) => (await client.unary(ContainersService.inspect, { id })).container!.state!.status;

function httpGet(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path: '/', timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
    req.end();
  });
}

beforeAll(async () => {
  stack = await startTestStack();
  nc = await natsConnect({ servers: stack.nats.url });
  const sub = nc.subscribe('strata.events.>');
  void (async () => {
    for await (const m of sub as AsyncIterable<Msg>) received.push(m.json<CloudEvent>());
  })();
  await nc.flush();
  agent = await stack.startAgent();
  client = stack.client();
}, 120_000);

afterAll(async () => {
  await nc?.close();
  await stack?.stop();
}, 120_000);

describe('node-agent', { timeout: 30_000 }, () => {
  it('creates, starts and waits for an echo container, and serves its logs and inspect', async () => {
    const c = await run({ cmd: ['echo', 'hello from strata'] });
    const { status } = await client.unary(ContainersService.wait, { id: c.id.slice(0, 12), condition: WaitCondition.WAIT_CONDITION_NOT_RUNNING });
    expect(status?.exitCode).toBe(0);
    expect(await output(c.id)).toBe('hello from strata\n');
    const { container } = await client.unary(ContainersService.inspect, { id: c.name });
    expect(container).toMatchObject({ id: c.id, image: stack.image, command: ['echo', 'hello from strata'], node: 'test-node', snapshotKey: c.id });
    expect(container?.state).toMatchObject({ status: ContainerStatus.CONTAINER_STATUS_EXITED, exitCode: 0, oomKilled: false });
    await waitFor(() => eventsOf('container.exited', c.id).length === 1, () => 'container.exited');
    expect(eventsOf('container.created', c.id).map((e) => e.data)).toEqual([{ id: c.id, name: c.name, image: stack.image, imageId: stack.busybox.config.digest, node: 'test-node' }]);
    expect(eventsOf('container.exited', c.id)[0]?.source).toBe('strata/node-agent/test-node');
  });
});

describe('isolation and limits', { timeout: 30_000 }, () => {
  it('gives a container its own processes, hostname and network', async () => {
    const c = await run({ cmd: ['sh', '-c', 'ps -o pid,comm; hostname; ip -o link show | cut -d: -f2; ip -4 -o addr show | cut -d" " -f2,7'] });
    await client.unary(ContainersService.wait, { id: c.id, condition: WaitCondition.WAIT_CONDITION_NOT_RUNNING });
    const { container } = await client.unary(ContainersService.inspect, { id: c.id });
    const ip = container!.network!.ipAddress;
    expect(ip).toMatch(/^10\.\d+\.\d+\.\d+$/);
    const lines = (await output(c.id)).trim().split('\n').map((l) => l.trim().replace(/\s+/g, ' '));
    expect(lines).toEqual(['PID COMMAND', '1 sh', expect.stringMatching(/^\d+ ps$/), c.id.slice(0, 12), 'lo', expect.stringMatching(/^eth0@if\d+$/), 'lo 127.0.0.1/8', `eth0 ${ip}/${container!.network!.prefixLength}`]);
  });

  it('gives a container with network none only a loopback interface', async () => {
    const c = await run({ cmd: ['sh', '-c', 'ip -o link show | cut -d: -f2'], networkMode: NetworkMode.NETWORK_MODE_NONE });
    await client.unary(ContainersService.wait, { id: c.id, condition: WaitCondition.WAIT_CONDITION_NOT_RUNNING });
    expect((await output(c.id)).split('\n').map((l) => l.trim())).toEqual(['lo', '']);
    const { container } = await client.unary(ContainersService.inspect, { id: c.id });
    expect(container?.network).toMatchObject({ mode: NetworkMode.NETWORK_MODE_NONE, ipAddress: '' });
  });

  it('OOM-kills a process past --memory: exit 137, OOMKilled, container.oom once', async () => {
    const c = await run({ cmd: ['dd', 'if=/dev/zero', 'of=/dev/null', 'bs=64M', 'count=1'], resources: { memoryBytes: 16 * 1024 * 1024, cpus: 0, pidsLimit: 0, cpuShares: 0, cpusetCpus: '', cpusetMems: '' } });
    const { status } = await client.unary(ContainersService.wait, { id: c.id, condition: WaitCondition.WAIT_CONDITION_NOT_RUNNING });
    expect(status).toMatchObject({ exitCode: 137, oomKilled: true });
    const { container } = await client.unary(ContainersService.inspect, { id: c.id });
    expect(container?.state).toMatchObject({ exitCode: 137, oomKilled: true });
    await waitFor(() => eventsOf('container.exited', c.id).length === 1, () => 'container.exited');
    expect(eventsOf('container.oom', c.id)).toHaveLength(1);
    expect(eventsOf('container.exited', c.id)[0]?.data).toMatchObject({ exitCode: 137, oomKilled: true });
  });

  it('stops a fork bomb at the pids limit while the agent keeps answering', async () => {
    // Every fork leaves a sleeping process behind, so the bomb fills the limit and stays there.
    const c = await run({ cmd: ['sh', '-c', 'f() { sleep 60 & f & }; f; sleep 60'], resources: { memoryBytes: 0, cpus: 0, pidsLimit: 32, cpuShares: 0, cpusetCpus: '', cpusetMems: '' } });
    let seen: unknown;
    await waitFor(async () => {
      const { stats } = await first(client.serverStream(ContainersService.stats, { ids: [c.id], stream: false }));
      seen = stats;
      return (stats[0]?.pidsCurrent ?? 0) >= 31;
    }, () => `the fork bomb to reach the limit: ${JSON.stringify(seen)}`);
    const started = Date.now();
    const { stats } = await first(client.serverStream(ContainersService.stats, { ids: [c.id], stream: false }));
    expect(stats[0]).toMatchObject({ pidsLimit: 32 });
    expect(stats[0]!.pidsCurrent).toBeLessThanOrEqual(32);
    const { containers } = await client.unary(ContainersService.list, { all: false, filters: [`id=${c.id}`] });
    expect(containers.map((x) => x.id)).toEqual([c.id]);
    expect(Date.now() - started).toBeLessThan(3000);
    await client.unary(ContainersService.remove, { id: c.id, force: true });
    expect(await stack.leftovers([c.id])).toEqual([]);
  });
});

async function first<T>(it: AsyncIterable<T>): Promise<T> {
  for await (const v of it) return v;
  throw new Error('empty stream');
}

describe('ports, exec and stop', { timeout: 30_000 }, () => {
  it('publishes -p 0:80 of busybox httpd on 127.0.0.1', async () => {
    const c = await run({
      cmd: ['sh', '-c', 'echo "<h1>strata</h1>" > /var/www/index.html && exec httpd -f -p 80 -h /var/www'],
      ports: [{ hostIp: '', hostPort: 0, containerPort: 80, protocol: Protocol.PROTOCOL_TCP }],
    });
    const { container } = await client.unary(ContainersService.inspect, { id: c.id });
    const port = container!.network!.ports[0]!.hostPort;
    expect(port).toBeGreaterThan(0);
    let body = '';
    await waitFor(async () => {
      body = await httpGet(port);
      return true;
    }, () => `httpd on 127.0.0.1:${port}`);
    expect(body).toBe('<h1>strata</h1>\n');
    await client.unary(ContainersService.remove, { id: c.id, force: true });
    expect(await stack.leftovers([c.id])).toEqual([]);
  });

  it('runs exec with its exit code and refuses a working directory under /proc', async () => {
    const c = await run({ cmd: ['sleep', '60'] });
    expect(await exec(c.id, ['sh', '-c', 'echo out; echo err >&2; exit 3'])).toEqual({ code: 3, out: 'out\n', err: 'err\n' });
    const refused = await exec(c.id, ['true'], '/proc/self/fd/3').then(
      () => undefined,
      (e: unknown) => ({ kind: errorKind(e), message: (e as Error).message }),
    );
    expect(refused?.kind).toBe('InvalidArgument');
    expect(refused?.message).toContain('is under /proc');
    await waitFor(() => eventsOf('exec.exited', c.id).length === 1, () => 'exec.exited');
    expect(eventsOf('exec.exited', c.id)[0]?.data).toMatchObject({ id: c.id, exitCode: 3, node: 'test-node' });
    await client.unary(ContainersService.remove, { id: c.id, force: true });
  });

  it('stops a process that ignores SIGTERM with SIGKILL after the timeout', async () => {
    const c = await run({ cmd: ['sh', '-c', 'trap "" TERM; while true; do sleep 1; done'] });
    await new Promise((r) => setTimeout(r, 200));
    const t0 = Date.now();
    const { container } = await client.unary(ContainersService.stop, { id: c.id, timeoutSeconds: 1 });
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(1000);
    expect(took).toBeLessThan(4000);
    expect(container?.state).toMatchObject({ status: ContainerStatus.CONTAINER_STATUS_EXITED, exitCode: 137 });
  });
});

describe('pause, unpause, top, diff, export, rename and prune', { timeout: 60_000 }, () => {
  const ticker = ['sh', '-c', 'trap "exit 143" TERM; while true; do echo tick; sleep 0.05; done'];
  const ticks = async (id: string) => (await output(id)).split('\n').filter((l) => l === 'tick').length;

  it('freezes every process until unpause, refuses exec meanwhile, and publishes container.paused and container.unpaused', async () => {
    const c = await run({ cmd: ticker });
    await waitFor(async () => (await ticks(c.id)) >= 2, () => 'the first ticks');
    const { container: paused } = await client.unary(ContainersService.pause, { id: c.id });
    expect(paused?.state?.status).toBe(ContainerStatus.CONTAINER_STATUS_PAUSED);
    expect(await (await cgroupOf(c.id)).isFrozen()).toBe(true);
    const before = await ticks(c.id);
    await new Promise((r) => setTimeout(r, 400));
    expect(await ticks(c.id)).toBe(before);
    expect(await refusal(exec(c.id, ['true']))).toEqual({
      kind: 'FailedPrecondition',
      message: `Container ${c.id} is paused, unpause the container before exec`,
    });
    expect(await refusal(client.unary(ContainersService.pause, { id: c.id }))).toEqual({ kind: 'FailedPrecondition', message: `Container ${c.id} is already paused` });
    expect(eventsOf('container.paused', c.id).map((e) => e.data)).toEqual([{ id: c.id, name: c.name, node: 'test-node' }]);

    const { container: thawed } = await client.unary(ContainersService.unpause, { id: c.id });
    expect(thawed?.state?.status).toBe(ContainerStatus.CONTAINER_STATUS_RUNNING);
    expect(await (await cgroupOf(c.id)).isFrozen()).toBe(false);
    await waitFor(async () => (await ticks(c.id)) > before + 2, () => 'ticks after the unpause');
    expect(await refusal(client.unary(ContainersService.unpause, { id: c.id }))).toEqual({ kind: 'FailedPrecondition', message: `Container ${c.id} is not paused` });
    await waitFor(() => eventsOf('container.unpaused', c.id).length === 1, () => 'container.unpaused');
    expect(eventsOf('container.unpaused', c.id)[0]?.data).toEqual({ id: c.id, name: c.name, node: 'test-node' });

    const { container: stopped } = await client.unary(ContainersService.stop, { id: c.id, timeoutSeconds: 5 });
    expect(stopped?.state).toMatchObject({ status: ContainerStatus.CONTAINER_STATUS_EXITED, exitCode: 143 });
    expect(await refusal(client.unary(ContainersService.pause, { id: c.id }))).toEqual({ kind: 'FailedPrecondition', message: `Container ${c.id} is not running` });
    await client.unary(ContainersService.remove, { id: c.id, force: false });
  });

  it('keeps a paused container paused across an agent restart; stop thaws it after its stop signal', async () => {
    const c = await run({ cmd: ticker });
    await waitFor(async () => (await ticks(c.id)) >= 1, () => 'the first tick');
    await client.unary(ContainersService.pause, { id: c.id });
    await agent.stop();
    agent = await stack.startAgent();
    expect(await statusOf(c.id)).toBe(ContainerStatus.CONTAINER_STATUS_PAUSED);
    expect(await (await cgroupOf(c.id)).isFrozen()).toBe(true);
    const t0 = Date.now();
    const { container: stopped } = await client.unary(ContainersService.stop, { id: c.id, timeoutSeconds: 10 });
    // The TERM trap ran (exit 143), at once rather than after the timeout's SIGKILL (137).
    expect(stopped?.state).toMatchObject({ status: ContainerStatus.CONTAINER_STATUS_EXITED, exitCode: 143 });
    expect(Date.now() - t0).toBeLessThan(5000);
    await waitFor(() => eventsOf('container.unpaused', c.id).length === 1, () => 'container.unpaused of the stop');
    await client.unary(ContainersService.remove, { id: c.id, force: false });
  });

  it("lists a container's processes with top, as ps shows them, a paused one's too", async () => {
    const c = await run({ cmd: ['sh', '-c', 'sleep 1000 & exec sleep 999'] });
    await waitFor(async () => (await client.unary(ContainersService.top, { id: c.id, psArgs: [] })).processes.length === 2, () => 'both sleeps');
    const top = await client.unary(ContainersService.top, { id: c.id, psArgs: [] });
    expect(top.titles).toEqual(['UID', 'PID', 'PPID', 'C', 'STIME', 'TTY', 'TIME', 'CMD']);
    const { container } = await client.unary(ContainersService.inspect, { id: c.id });
    const init = top.processes.find((p) => p.fields[1] === String(container!.state!.pid));
    expect(init?.fields[7]).toBe('sleep 999');
    expect(top.processes.map((p) => p.fields[7]).sort()).toEqual(['sleep 1000', 'sleep 999']);
    await client.unary(ContainersService.pause, { id: c.id });
    const custom = await client.unary(ContainersService.top, { id: c.id, psArgs: ['-o', 'pid,stat,args'] });
    expect(custom.titles).toEqual(['PID', 'STAT', 'COMMAND']);
    expect(custom.processes).toHaveLength(2);
    expect(await refusal(client.unary(ContainersService.top, { id: c.id, psArgs: ['-o', 'args'] }))).toEqual({
      kind: 'InvalidArgument',
      message: "Couldn't find PID field in ps output: the ps options must show the PID column",
    });
    await client.unary(ContainersService.remove, { id: c.id, force: true });
    const stopped = await create({ cmd: ['true'] });
    expect(await refusal(client.unary(ContainersService.top, { id: stopped.id, psArgs: [] }))).toEqual({
      kind: 'FailedPrecondition',
      message: `Container ${stopped.id} is not running`,
    });
    await client.unary(ContainersService.remove, { id: stopped.id, force: true });
  });

  it("lists the changes of a container's files against its image, without the mount points runc made, a stopped one's too", async () => {
    const c = await run({ cmd: ['sh', '-c', 'echo hi > /tmp/x; rm /bin/ls; mkdir -p /srv/new; touch /srv/new/f; exec sleep 1000'] });
    const changesOf = async (id: string) => {
      const all: Array<{ kind: ChangeKind; path: string }> = [];
      for await (const batch of client.serverStream(ContainersService.changes, { id })) all.push(...batch.changes);
      return all;
    };
    const expected = [
      { kind: ChangeKind.CHANGE_KIND_MODIFIED, path: '/bin' },
      { kind: ChangeKind.CHANGE_KIND_DELETED, path: '/bin/ls' },
      { kind: ChangeKind.CHANGE_KIND_ADDED, path: '/srv' },
      { kind: ChangeKind.CHANGE_KIND_ADDED, path: '/srv/new' },
      { kind: ChangeKind.CHANGE_KIND_ADDED, path: '/srv/new/f' },
      { kind: ChangeKind.CHANGE_KIND_MODIFIED, path: '/tmp' },
      { kind: ChangeKind.CHANGE_KIND_ADDED, path: '/tmp/x' },
    ];
    await waitFor(async () => (await changesOf(c.id)).length === expected.length, () => 'the changes of the command');
    expect(await changesOf(c.id)).toEqual(expected);
    await client.unary(ContainersService.stop, { id: c.id, timeoutSeconds: 0 });
    expect(await changesOf(c.id)).toEqual(expected);
    await client.unary(ContainersService.remove, { id: c.id, force: true });
  });

  it("exports a container's files as a tar, frozen meanwhile: the image with its changes, none of the runtime's mounts", async () => {
    const c = await run({ cmd: ['sh', '-c', 'echo x > /made; rm /bin/ls; exec sleep 1000'] });
    await waitFor(async () => (await exec(c.id, ['cat', '/made'])).out === 'x\n', () => 'the file to be written');
    const parts: Buffer[] = [];
    const frozen: boolean[] = [];
    for await (const { data } of client.serverStream(ContainersService.export, { id: c.id })) {
      parts.push(Buffer.from(data));
      frozen.push(await (await cgroupOf(c.id)).isFrozen());
    }
    const tar = Buffer.concat(parts);
    // Frozen while its files were read (no directory can turn into a link meanwhile), running again after.
    expect(frozen[0]).toBe(true);
    await waitFor(async () => !(await (await cgroupOf(c.id)).isFrozen()), () => 'the container thawed after the export');
    expect(await statusOf(c.id)).toBe(ContainerStatus.CONTAINER_STATUS_RUNNING);
    const listing = (await gnuTar(['-tf', '-'], tar)).stdout.split('\n');
    expect(listing).toContain('made');
    expect(listing).toContain('bin/busybox');
    expect(listing).not.toContain('bin/ls');
    expect(listing.filter((l) => l.startsWith('proc/') && l !== 'proc/')).toEqual([]);
    expect((await gnuTar(['-xOf', '-', 'made'], tar)).stdout).toBe('x\n');
    await client.unary(ContainersService.remove, { id: c.id, force: true });
  });

  it('copies a path out of a container as it sees it (docker cp): running through its mounts while frozen, stopped from its files; links stay inside', async () => {
    const setup = 'mkdir -p /data/sub && echo inside > /data/sub/f && ln -s /etc /data/etc-link && ln -s ../../../../../etc/hostname /data/climb && echo tmp > /scratch/t; exec sleep 1000';
    const scratch = Mount.fromPartial({ type: MountType.MOUNT_TYPE_TMPFS, target: '/scratch' });
    const c = await run({ cmd: ['sh', '-c', setup], hostname: 'copied', mounts: [scratch] });
    await waitFor(async () => (await exec(c.id, ['cat', '/data/sub/f'])).out === 'inside\n', () => 'the files to be written');
    const copy = async (path: string) => {
      let stat: PathStat | undefined;
      const parts: Buffer[] = [];
      const frozen: boolean[] = [];
      for await (const { part } of client.serverStream(ContainersService.copyFrom, { id: c.id, path })) {
        if (part?.$case === 'stat') stat = part.value;
        if (part?.$case === 'data') parts.push(Buffer.from(part.value));
        if (isRunningNow) frozen.push(await (await cgroupOf(c.id)).isFrozen());
      }
      return { stat, tar: Buffer.concat(parts), frozen };
    };
    let isRunningNow = true;
    const dir = await copy('/data');
    expect(dir.frozen[0]).toBe(true);
    expect(dir.stat).toMatchObject({ name: 'data', linkTarget: '' });
    expect((await gnuTar(['-tvf', '-'], dir.tar)).stdout).toMatch(/data\/climb -> \.\.\/\.\.\/\.\.\/\.\.\/\.\.\/etc\/hostname/);
    expect((await gnuTar(['-xOf', '-', 'data/sub/f'], dir.tar)).stdout).toBe('inside\n');
    await waitFor(async () => !(await (await cgroupOf(c.id)).isFrozen()), () => 'the container thawed after the copy');
    // The link climbs out and is read inside: the container's /etc/hostname, not the node's.
    const climbed = await copy('/data/climb/');
    expect(climbed.stat).toMatchObject({ name: 'hostname' });
    expect((await gnuTar(['-xOf', '-', 'hostname'], climbed.tar)).stdout).toBe('copied\n');
    expect((await client.unary(ContainersService.statPath, { id: c.id, path: '/data/etc-link' })).stat).toMatchObject({ name: 'etc-link', linkTarget: '/etc' });
    // A tmpfs exists only in the container's mount namespace: read through it.
    expect((await gnuTar(['-xOf', '-', 't'], (await copy('/scratch/t')).tar)).stdout).toBe('tmp\n');
    expect((await gnuTar(['-xOf', '-', 'passwd'], (await copy('/data/etc-link/passwd')).tar)).stdout).toMatch(/^root:x:0:0:/);
    expect(await refusal(client.unary(ContainersService.statPath, { id: c.id, path: '/nope' }))).toEqual({ kind: 'NotFound', message: `Could not find the file /nope in container ${c.name}` });
    await client.unary(ContainersService.stop, { id: c.id, timeoutSeconds: 0 });
    isRunningNow = false;
    // Stopped: its own files, with /etc/hostname from the node's bind.
    expect((await gnuTar(['-xOf', '-', 'f'], (await copy('/data/sub/f')).tar)).stdout).toBe('inside\n');
    expect((await gnuTar(['-xOf', '-', 'hostname'], (await copy('/etc/hostname')).tar)).stdout).toBe('copied\n');
    await client.unary(ContainersService.remove, { id: c.id, force: true });
  });

  it('copies a tar into a container (docker cp SRC CONTAINER:DIR), frozen meanwhile, owned by its root, refusing a read-only root file system', async () => {
    const scratch = Mount.fromPartial({ type: MountType.MOUNT_TYPE_TMPFS, target: '/scratch' });
    const c = await run({ cmd: ['sleep', '1000'], readOnly: true, mounts: [scratch] });
    const tar = Buffer.from(await tarBytes([
      { entry: { name: 'in/', type: 'directory', uid: 1000, gid: 1000 } },
      { entry: { name: 'in/file', type: 'file', uid: 1000, gid: 1000 }, data: Buffer.from('copied in\n') },
    ]));
    const copyTo = async (path: string, options: { id?: string; copyUidGid?: boolean } = {}) => {
      const call = client.bidiStream(ContainersService.copyTo);
      const answer = (async () => {
        for await (const response of call) return response as CopyToResponse;
        return undefined;
      })();
      call.write({ part: { $case: 'header', value: { id: options.id ?? c.id, path, noOverwriteDirNonDir: true, copyUidGid: options.copyUidGid ?? false } } });
      call.write({ part: { $case: 'data', value: tar } });
      call.end();
      return answer.catch((err: unknown) => {
        const e = client.translate(err);
        return { kind: errorKind(e), message: e.message };
      });
    };
    expect(await copyTo('/scratch')).toEqual({ entries: 2 });
    expect((await exec(c.id, ['sh', '-c', 'cat /scratch/in/file; stat -c %u:%g /scratch/in/file'])).out).toBe('copied in\n0:0\n');
    expect(await (await cgroupOf(c.id)).isFrozen()).toBe(false);
    expect(await copyTo('/')).toEqual({ kind: 'FailedPrecondition', message: 'container rootfs is marked read-only' });
    expect(await copyTo('/scratch/in/file')).toEqual({ kind: 'InvalidArgument', message: 'extraction point is not a directory' });
    await client.unary(ContainersService.stop, { id: c.id, timeoutSeconds: 0 });
    // Stopped, nothing in the kernel says read-only on the node's side: the agent does.
    expect(await copyTo('/')).toEqual({ kind: 'FailedPrecondition', message: 'container rootfs is marked read-only' });
    await client.unary(ContainersService.remove, { id: c.id, force: true });
    // Into a created container, keeping the archive's owners (-a): its process finds the files.
    const created = await create({ cmd: ['stat', '-c', '%u:%g %n', '/in/file'] });
    expect(await copyTo('/', { id: created.id, copyUidGid: true })).toEqual({ entries: 2 });
    await client.unary(ContainersService.start, { id: created.id });
    await waitFor(async () => (await statusOf(created.id)) === ContainerStatus.CONTAINER_STATUS_EXITED, () => 'the stat to end');
    expect(await output(created.id)).toContain('1000:1000 /in/file');
    await client.unary(ContainersService.remove, { id: created.id, force: true });
  });

  it('runs health checks: starting, unhealthy after the retries, healthy after a pass; the verdicts in inspect and events', async () => {
    const health = { test: ['CMD-SHELL', 'test -f /tmp/ok && echo fine'], intervalNanos: 150e6, timeoutNanos: 2e9, startPeriodNanos: 0, startIntervalNanos: 0, retries: 2 };
    const c = await run({ cmd: ['sleep', '1000'], health });
    const healthOf = async () => (await client.unary(ContainersService.inspect, { id: c.id })).container!;
    const started = await healthOf();
    expect(started.healthcheck).toEqual({ ...health, startIntervalNanos: 5e9 });
    expect(started.state?.health?.status).toBe('starting');
    await waitFor(async () => (await healthOf()).state?.health?.status === 'unhealthy', () => 'unhealthy after two failures');
    expect((await healthOf()).state?.health).toMatchObject({ failingStreak: 2, log: [{ exitCode: 1 }, { exitCode: 1 }] });
    await exec(c.id, ['touch', '/tmp/ok']);
    await waitFor(async () => (await healthOf()).state?.health?.status === 'healthy', () => 'healthy after a pass');
    const healthy = (await healthOf()).state!.health!;
    expect(healthy.failingStreak).toBe(0);
    expect(healthy.log.at(-1)).toMatchObject({ exitCode: 0, output: 'fine\n' });
    await waitFor(() => eventsOf('container.health_status', c.id).length === 2, () => 'two container.health_status events');
    expect(eventsOf('container.health_status', c.id).map((e) => (e.data as { status: string }).status)).toEqual(['unhealthy', 'healthy']);
    // A check that outlives its timeout fails, and its process is killed.
    const slow = await run({ cmd: ['sleep', '1000'], health: { ...health, test: ['CMD', 'sleep', '30'], timeoutNanos: 300e6, retries: 1 } });
    await waitFor(async () => (await client.unary(ContainersService.inspect, { id: slow.id })).container?.state?.health?.status === 'unhealthy', () => 'the slow check to fail');
    const slowLog = (await client.unary(ContainersService.inspect, { id: slow.id })).container!.state!.health!.log;
    expect(slowLog[0]).toMatchObject({ exitCode: -1, output: 'Health check exceeded timeout (0.3s)' });
    // Checks run one after another, each killed at its timeout: after a few of them at most the current one is left.
    await new Promise((r) => setTimeout(r, 1500));
    const top = await client.unary(ContainersService.top, { id: slow.id, psArgs: [] });
    expect(top.processes.filter((p) => p.fields.join(' ').includes('sleep 30')).length).toBeLessThanOrEqual(1);
    await client.unary(ContainersService.remove, { id: slow.id, force: true });
    // --no-healthcheck over an image without checks, and a bad interval.
    const none = await create({ cmd: ['true'], health: { ...health, test: ['NONE'], intervalNanos: 0, retries: 0 } });
    expect(none.healthcheck).toBeUndefined();
    expect(await refusal(client.unary(ContainersService.create, { spec: spec({ health: { ...health, intervalNanos: 10 } }) }))).toEqual({
      kind: 'InvalidArgument',
      message: 'Interval in Healthcheck cannot be less than 1ms',
    });
    for (const id of [c.id, none.id]) await client.unary(ContainersService.remove, { id, force: true });
  });

  it('renames a running container, refusing a name in use and its own, and publishes container.renamed', async () => {
    const c = await run({ cmd: ['sleep', '1000'] });
    const other = await create({ cmd: ['true'] });
    const newName = `renamed-${c.id.slice(0, 8)}`;
    const { container: renamed } = await client.unary(ContainersService.rename, { id: c.name, name: `/${newName}` });
    expect(renamed).toMatchObject({ id: c.id, name: newName });
    expect((await client.unary(ContainersService.inspect, { id: newName })).container?.id).toBe(c.id);
    expect(await refusal(client.unary(ContainersService.inspect, { id: c.name }))).toEqual({ kind: 'NotFound', message: `No such container: ${c.name}` });
    expect(await refusal(client.unary(ContainersService.rename, { id: c.id, name: other.name }))).toEqual({
      kind: 'AlreadyExists',
      message: `Conflict. The container name "/${other.name}" is already in use by container "${other.id}". You have to remove (or rename) that container to be able to reuse that name.`,
    });
    expect(await refusal(client.unary(ContainersService.rename, { id: c.id, name: newName }))).toEqual({
      kind: 'InvalidArgument',
      message: 'Renaming a container with the same name as its current name',
    });
    expect((await refusal(client.unary(ContainersService.rename, { id: c.id, name: 'bad name' })))?.kind).toBe('InvalidArgument');
    await waitFor(() => eventsOf('container.renamed', c.id).length === 1, () => 'container.renamed');
    expect(eventsOf('container.renamed', c.id)[0]?.data).toEqual({ id: c.id, name: newName, oldName: c.name, node: 'test-node' });
    for (const id of [c.id, other.id]) await client.unary(ContainersService.remove, { id, force: true });
  });

  it('prunes the containers that do not run and pass the filters, answering their ids', async () => {
    const labels = { suite: 'prune' };
    const running = await run({ cmd: ['sleep', '1000'], labels });
    const exited = await run({ cmd: ['sh', '-c', 'echo data > /tmp/d'], labels: { ...labels, keep: 'no' } });
    const kept = await create({ cmd: ['true'], labels: { ...labels, keep: 'yes' } });
    await waitFor(async () => (await statusOf(exited.id)) === ContainerStatus.CONTAINER_STATUS_EXITED, () => 'the exit');
    expect(await refusal(client.unary(ContainersService.prune, { filters: ['status=exited'] }))).toMatchObject({ kind: 'InvalidArgument' });
    const first = await client.unary(ContainersService.prune, { filters: ['label=suite=prune', 'label!=keep=yes'] });
    expect(first.containersDeleted).toEqual([exited.id]);
    expect(first.spaceReclaimed).toBeGreaterThan(0);
    // Events arrive through NATS, after the answer.
    await waitFor(() => eventsOf('container.deleted', exited.id).length === 1, () => 'container.deleted of the pruned container');
    const second = await client.unary(ContainersService.prune, { filters: ['label=suite=prune'] });
    expect(second.containersDeleted).toEqual([kept.id]);
    expect((await client.unary(ContainersService.inspect, { id: running.id })).container?.state?.status).toBe(ContainerStatus.CONTAINER_STATUS_RUNNING);
    await client.unary(ContainersService.remove, { id: running.id, force: true });
    expect(await stack.leftovers([exited.id, kept.id])).toEqual([]);
  });

  it('kills a paused container with SIGKILL, and rm -f removes one, leaving nothing', async () => {
    const killed = await run({ cmd: ticker });
    const removed = await run({ cmd: ticker });
    for (const c of [killed, removed]) await client.unary(ContainersService.pause, { id: c.id });
    // Another signal waits in the frozen container.
    await client.unary(ContainersService.kill, { id: killed.id, signal: 'SIGUSR1' });
    expect(await statusOf(killed.id)).toBe(ContainerStatus.CONTAINER_STATUS_PAUSED);
    await client.unary(ContainersService.kill, { id: killed.id, signal: 'SIGKILL' });
    await waitFor(async () => (await statusOf(killed.id)) === ContainerStatus.CONTAINER_STATUS_EXITED, () => 'the killed container to exit');
    const t0 = Date.now();
    await client.unary(ContainersService.remove, { id: removed.id, force: true });
    expect(Date.now() - t0).toBeLessThan(5000);
    await client.unary(ContainersService.remove, { id: killed.id, force: false });
    expect(await stack.leftovers([killed.id, removed.id])).toEqual([]);
  });
});

describe('run options', { timeout: 30_000 }, () => {
  it('applies --read-only, --add-host, --dns*, --ulimit and --shm-size inside the container, and exec keeps the limits', async () => {
    const c = await run({
      cmd: ['sh', '-c', 'touch /x 2>/dev/null && echo root-rw || echo root-ro; cat /etc/hosts /etc/resolv.conf /proc/self/limits; df -k /dev/shm; sleep 1000'],
      readOnly: true,
      extraHosts: ['db.internal:10.1.2.3', 'gw:host-gateway'],
      dns: ['9.9.9.9'],
      dnsSearch: ['corp.example'],
      dnsOptions: ['ndots:2'],
      ulimits: [
        { name: 'nofile', soft: 1024, hard: 2048 },
        // Unlimited: this machine's root may not raise a hard limit (no CAP_SYS_RESOURCE), and core's is unlimited already.
        { name: 'core', soft: -1, hard: -1 },
      ],
      shmSizeBytes: 128 * 1024 * 1024,
    });
    await waitFor(async () => (await output(c.id)).includes('/dev/shm'), () => 'the output of the checks');
    const out = await output(c.id);
    expect(out).toContain('root-ro\n');
    expect(out).toContain('10.1.2.3\tdb.internal\n');
    expect(out).toMatch(/^10\.\d+\.\d+\.1\tgw$/m);
    expect(out).toMatch(/^nameserver 9\.9\.9\.9$/m);
    expect(out).not.toMatch(/^nameserver (?!9\.9\.9\.9)/m);
    expect(out).toMatch(/^search corp\.example$/m);
    expect(out).toMatch(/^options ndots:2$/m);
    expect(out).toMatch(/^Max open files\s+1024\s+2048\s+files/m);
    expect(out).toMatch(/^Max core file size\s+unlimited\s+unlimited\s+bytes/m);
    expect(out).toMatch(/^shm\s+131072\s/m);
    const limits = await exec(c.id, ['cat', '/proc/self/limits']);
    expect(limits.out).toMatch(/^Max core file size\s+unlimited\s+unlimited\s+bytes/m);
    expect(await exec(c.id, ['sh', '-c', 'echo x > /etc/motd'])).toMatchObject({ code: 1, err: expect.stringContaining('Read-only file system') });
    const { container } = await client.unary(ContainersService.inspect, { id: c.id });
    expect(container?.spec).toMatchObject({ readOnly: true, extraHosts: ['db.internal:10.1.2.3', 'gw:host-gateway'], dns: ['9.9.9.9'], shmSizeBytes: 128 * 1024 * 1024 });
    await client.unary(ContainersService.remove, { id: c.id, force: true });
  });

  it('gives --cap-add and --cap-drop their effect, and SYS_ADMIN the mount syscall the default profile refuses', async () => {
    const mtu = ['sh', '-c', 'ip link set lo mtu 1400 && echo mtu-set; mkdir -p /tmp/m && mount -t tmpfs none /tmp/m && echo mounted; touch /tmp/f && chown 1 /tmp/f 2>/dev/null && echo chowned; true'];
    const plain = await run({ cmd: mtu });
    const privileged = await run({ cmd: mtu, capAdd: ['NET_ADMIN', 'cap_sys_admin'], capDrop: ['CHOWN'] });
    for (const c of [plain, privileged]) {
      await waitFor(async () => (await statusOf(c.id)) === ContainerStatus.CONTAINER_STATUS_EXITED, () => 'the checks to end');
    }
    expect((await output(plain.id)).split('\n').filter((l) => !l.includes(':') && l !== '')).toEqual(['chowned']);
    expect((await output(privileged.id)).split('\n').filter((l) => !l.includes(':') && l !== '')).toEqual(['mtu-set', 'mounted']);
    expect(await refusal(client.unary(ContainersService.create, { spec: spec({ capAdd: ['CAP_NOPE'] }) }))).toEqual({
      kind: 'InvalidArgument',
      message: 'unknown capability: "CAP_NOPE" (--cap-add)',
    });
    for (const c of [plain, privileged]) await client.unary(ContainersService.remove, { id: c.id, force: true });
  });

  it("filters the image's own syscall ABI by default, follows --security-opt seccomp=PROFILE or unconfined, and shows the options in inspect", async () => {
    const probe = ['sh', '-c', 'grep ^Seccomp: /proc/self/status; mkdir /tmp/made && echo made; true'];
    const profile = JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 13 }] });
    const plain = await run({ cmd: probe });
    const custom = await run({ cmd: probe, securityOpt: [`seccomp=${profile}`, 'no-new-privileges'] });
    const unconfined = await run({ cmd: probe, securityOpt: ['seccomp=unconfined'] });
    for (const c of [plain, custom, unconfined]) {
      await waitFor(async () => (await statusOf(c.id)) === ContainerStatus.CONTAINER_STATUS_EXITED, () => 'the checks to end');
    }
    const lines = async (id: string) => (await output(id)).split('\n').filter((l) => l !== '').map((l) => l.replace(/\s+/g, ' '));
    expect(await lines(plain.id)).toEqual(['Seccomp: 2', 'made']);
    expect((await lines(custom.id))[0]).toBe('Seccomp: 2');
    expect(await lines(custom.id)).not.toContain('made');
    expect(await lines(unconfined.id)).toEqual(['Seccomp: 0', 'made']);
    // The busybox image is amd64: its filter lists the native ABI only; the user's profile keeps its own list.
    const filterOf = async (id: string) => {
      const { container } = await client.unary(ContainersService.inspect, { id });
      const config = JSON.parse(await readFile(join(dirname(container!.logPath), 'config.json'), 'utf8')) as { linux: { seccomp?: { architectures: string[] } } };
      return { securityOpt: container!.spec!.securityOpt, architectures: config.linux.seccomp?.architectures };
    };
    expect(await filterOf(plain.id)).toEqual({ securityOpt: [], architectures: process.arch === 'x64' ? ['SCMP_ARCH_X86_64'] : expect.any(Array) });
    expect(await filterOf(custom.id)).toEqual({ securityOpt: [`seccomp=${profile}`, 'no-new-privileges'], architectures: process.arch === 'x64' ? ['SCMP_ARCH_X86_64'] : expect.any(Array) });
    expect(await filterOf(unconfined.id)).toEqual({ securityOpt: ['seccomp=unconfined'], architectures: undefined });
    expect(await refusal(client.unary(ContainersService.create, { spec: spec({ securityOpt: ['seccomp={"defaultAction":"SCMP_ACT_NOTIFY"}'] }) }))).toEqual({
      kind: 'InvalidArgument',
      message: 'decoding seccomp profile failed: defaultAction: SCMP_ACT_NOTIFY needs a seccomp agent, which this node does not run',
    });
    for (const c of [plain, custom, unconfined]) await client.unary(ContainersService.remove, { id: c.id, force: true });
  });

  it('refuses a bad --add-host or --ulimit before anything is made', async () => {
    for (const over of [
      { extraHosts: ['db:999.1.1.1'] },
      { extraHosts: ['evil\n1.2.3.4 bank:1.2.3.4'] },
      { ulimits: [{ name: 'nofiles', soft: 1, hard: 1 }] },
      { dns: ['dns.example'] },
      { dnsOptions: ['ndots:1\nnameserver 6.6.6.6'] },
    ]) {
      const failure = await client.unary(ContainersService.create, { spec: spec(over) }).then(
        () => undefined,
        (e: unknown) => errorKind(e),
      );
      expect(failure).toBe('InvalidArgument');
    }
  });
});

describe('errors', { timeout: 30_000 }, () => {
  it.each([
    ['inspect of an unknown name', () => client.unary(ContainersService.inspect, { id: 'no-such-thing' }), 'NotFound', () => 'No such container: no-such-thing'],
    ['create of an unknown image', () => create({ image: `${stack.image}-missing` }), 'NotFound', () => `No such image: ${stack.image}-missing`],
    ['a bad name', () => create({ name: '-bad' }), 'InvalidArgument', () => 'Invalid container name (-bad), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed'],
    ['kill with an unknown signal', () => client.unary(ContainersService.kill, { id: created[0]!, signal: 'SIGNOPE' }), 'InvalidArgument', () => 'invalid signal: SIGNOPE'],
    [
      'create with more CPUs than the host has',
      () => create({ cmd: ['true'], resources: { cpus: cpus().length + 1, memoryBytes: 0, pidsLimit: 0, cpuShares: 0, cpusetCpus: '', cpusetMems: '' } }),
      'InvalidArgument',
      () => `invalid cpus ${cpus().length + 1}: this host has only ${cpus().length} CPUs`,
    ],
    [
      'update of a stopped container with more CPUs than the host has',
      () => client.unary(ContainersService.update, { id: created[0]!, resources: { cpus: cpus().length + 1, memoryBytes: 0, pidsLimit: 0, cpuShares: 0, cpusetCpus: '', cpusetMems: '' } }),
      'InvalidArgument',
      () => `invalid cpus ${cpus().length + 1}: this host has only ${cpus().length} CPUs`,
    ],
    [
      'create with less memory than 6 MiB',
      () => create({ cmd: ['true'], resources: { cpus: 0, memoryBytes: 1024 * 1024, pidsLimit: 0, cpuShares: 0, cpusetCpus: '', cpusetMems: '' } }),
      'InvalidArgument',
      () => 'invalid memory limit 1048576: the minimum is 6 MiB (6291456 bytes)',
    ],
  ])('%s', async (_what, call, kind, message) => {
    const e = await call().then(
      () => undefined,
      (err: unknown) => err,
    );
    expect({ kind: errorKind(e), message: (e as Error).message }).toEqual({ kind, message: message() });
  });

  it('leaves no cgroup of the monitor started ahead when a create fails', async () => {
    // Create starts the monitor of the first run ahead, placed in <parent>/monitors/<id>; a failed create removes it.
    const monitorCgroups = async () => {
      const names = new Set<string>();
      for (const mount of await cgroupMounts()) {
        for (const name of await readdir(join(mount, stack.cgroupParent, 'monitors')).catch(() => [] as string[])) {
          if (/^[0-9a-f]{64}$/.test(name)) names.add(name);
        }
      }
      return names;
    };
    const before = await monitorCgroups();
    const failures = [];
    for (const over of [{ image: `${stack.image}-missing` }, { cmd: ['true'], user: 'no-such-user' }, { cmd: ['true'], workingDir: '/etc/passwd' }]) {
      failures.push(await create(over).then(() => 'created', (err: unknown) => errorKind(err)));
    }
    expect(failures).toEqual(['NotFound', 'InvalidArgument', 'InvalidArgument']);
    const { containers } = await client.unary(ContainersService.list, { all: true, filters: [] });
    const ids = new Set(containers.map((c) => c.id));
    expect([...(await monitorCgroups())].filter((name) => !before.has(name) && !ids.has(name))).toEqual([]);
  });

  it('refuses a taken name and an ambiguous prefix', async () => {
    const a = await create({ name: 'twin', cmd: ['true'] });
    const e = await create({ name: 'twin' }).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(errorKind(e)).toBe('AlreadyExists');
    expect((e as Error).message).toBe(`Conflict. The container name "/twin" is already in use by container "${a.id}". You have to remove (or rename) that container to be able to reuse that name.`);
    const running = await client.unary(ContainersService.list, { all: true, filters: [] });
    const ids = running.containers.map((x) => x.id);
    const shared = ids.find((id) => ids.filter((other) => other[0] === id[0]).length > 1)?.[0];
    if (shared !== undefined) {
      const amb = await client.unary(ContainersService.inspect, { id: shared }).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect({ kind: errorKind(amb), message: (amb as Error).message }).toEqual({ kind: 'InvalidArgument', message: `multiple containers match prefix ${shared}` });
    }
  });
});

describe('attach, update, stats and auto-remove', { timeout: 30_000 }, () => {
  it('attaches before start and sees all output, stdin included, then the exit status', async () => {
    const c = await create({ cmd: ['sh', '-c', 'echo first; read line; echo "got $line"; echo oops >&2; exit 4'], openStdin: true });
    const call = client.bidiStream(ContainersService.attach);
    call.write({ message: { $case: 'open', value: { id: c.id, stdin: true, start: false } } });
    let out = '';
    let err = '';
    let exit: number | undefined;
    let ready = false;
    const reading = (async () => {
      for await (const m of call as AsyncIterable<AttachResponse>) {
        const msg = m.message;
        ready = true;
        if (msg?.$case === 'stdout') out += msg.value.toString('utf8');
        else if (msg?.$case === 'stderr') err += msg.value.toString('utf8');
        else if (msg?.$case === 'exit') exit = msg.value.exitCode;
      }
    })();
    await waitFor(() => ready, () => 'the attachment to be in place');
    await client.unary(ContainersService.start, { id: c.id });
    let failed: unknown;
    reading.catch((e: unknown) => (failed = e));
    await waitFor(() => out.includes('first') || failed !== undefined, () => `the first line, got ${JSON.stringify({ out, err, exit })}`);
    if (failed !== undefined) throw failed;
    call.write({ message: { $case: 'stdin', value: Buffer.from('hello\n') } });
    call.write({ message: { $case: 'closeStdin', value: true } });
    call.end();
    await reading;
    expect({ out, err, exit }).toEqual({ out: 'first\ngot hello\n', err: 'oops\n', exit: 4 });
  });

  it('starts the container itself when the Attach asks to, answering once started, with all output and stdin', async () => {
    const c = await create({ cmd: ['sh', '-c', 'echo first; read line; echo "got $line"; exit 4'], openStdin: true });
    const call = client.bidiStream(ContainersService.attach);
    // stdin sent at once waits for the start.
    call.write({ message: { $case: 'open', value: { id: c.id, stdin: true, start: true } } });
    call.write({ message: { $case: 'stdin', value: Buffer.from('hello\n') } });
    call.write({ message: { $case: 'closeStdin', value: true } });
    call.end();
    let out = '';
    let exit: number | undefined;
    let stateAtFirst: ContainerStatus | undefined;
    for await (const m of call as AsyncIterable<AttachResponse>) {
      stateAtFirst ??= (await client.unary(ContainersService.inspect, { id: c.id })).container?.state?.status;
      const msg = m.message;
      if (msg?.$case === 'stdout') out += msg.value.toString('utf8');
      else if (msg?.$case === 'exit') exit = msg.value.exitCode;
    }
    expect({ out, exit }).toEqual({ out: 'first\ngot hello\n', exit: 4 });
    expect([ContainerStatus.CONTAINER_STATUS_RUNNING, ContainerStatus.CONTAINER_STATUS_EXITED]).toContain(stateAtFirst);
  });

  it("ends an Attach that asked for the start with Start's error when the start fails", async () => {
    const c = await create({ cmd: ['no-such-command'] });
    const call = client.bidiStream(ContainersService.attach);
    call.write({ message: { $case: 'open', value: { id: c.id, stdin: false, start: true } } });
    call.end();
    const failure = await (async () => {
      for await (const m of call as AsyncIterable<AttachResponse>) void m;
    })().then(
      () => undefined,
      (err: unknown) => ({ kind: errorKind(client.translate(err)), message: client.translate(err).message }),
    );
    expect(failure).toEqual({ kind: 'FailedPrecondition', message: expect.stringMatching(/no-such-command.*executable file not found/) });
    const { container } = await client.unary(ContainersService.inspect, { id: c.id });
    expect(container?.state?.status).toBe(ContainerStatus.CONTAINER_STATUS_CREATED);
    await client.unary(ContainersService.remove, { id: c.id, force: true });
  });

  it('updates the limits of a running container and reports them in stats', async () => {
    const c = await run({ cmd: ['sleep', '60'], resources: { memoryBytes: 32 * 1024 * 1024, cpus: 0, pidsLimit: 0, cpuShares: 0, cpusetCpus: '', cpusetMems: '' } });
    const { container } = await client.unary(ContainersService.update, { id: c.id, resources: { memoryBytes: 48 * 1024 * 1024, cpus: 0.5, pidsLimit: 50, cpuShares: 0, cpusetCpus: '', cpusetMems: '' } });
    expect(container?.spec?.resources).toEqual({ memoryBytes: 48 * 1024 * 1024, cpus: 0.5, pidsLimit: 50, cpuShares: 0, cpusetCpus: '', cpusetMems: '' });
    const { stats } = await first(client.serverStream(ContainersService.stats, { ids: [c.name], stream: false }));
    expect(stats[0]).toMatchObject({ id: c.id, name: c.name, memoryLimitBytes: 48 * 1024 * 1024, pidsLimit: 50, pidsCurrent: 1 });
    expect(stats[0]!.cpuPercent).toBeGreaterThanOrEqual(0);
    const refused = await client.unary(ContainersService.update, { id: c.id, resources: { memoryBytes: 1024, cpus: 0, pidsLimit: 0, cpuShares: 0, cpusetCpus: '', cpusetMems: '' } }).then(
      () => undefined,
      (e: unknown) => ({ kind: errorKind(e), message: (e as Error).message }),
    );
    expect(refused?.kind).toBe('InvalidArgument');
    await client.unary(ContainersService.remove, { id: c.id, force: true });
  });

  it('pins a container to a cpuset with a cpu weight (--cpuset-cpus, --cpuset-mems, --cpu-shares), and updates them while it runs', async () => {
    const probe = ['sh', '-c', 'grep Cpus_allowed_list /proc/self/status; cat /sys/fs/cgroup/cpu/cpu.shares /sys/fs/cgroup/cpu.weight 2>/dev/null; sleep 60'];
    const c = await run({ cmd: probe, resources: { memoryBytes: 0, cpus: 0, pidsLimit: 0, cpuShares: 512, cpusetCpus: '0', cpusetMems: '0' } });
    await waitFor(async () => (await output(c.id)).includes('Cpus_allowed_list'), () => 'the probe output');
    const lines = (await output(c.id)).split('\n').map((l) => l.replace(/\s+/g, ' ').trim());
    const cgroupVersion = await detectCgroupVersion();
    expect(lines).toContain('Cpus_allowed_list: 0');
    expect(lines).toContain(cgroupVersion === 1 ? '512' : '20');
    const all = cpus().length > 1 ? '0-1' : '0';
    const { container } = await client.unary(ContainersService.update, { id: c.id, resources: { memoryBytes: 0, cpus: 0, pidsLimit: 0, cpuShares: 2048, cpusetCpus: all, cpusetMems: '' } });
    expect(container?.spec?.resources).toEqual({ memoryBytes: 0, cpus: 0, pidsLimit: 0, cpuShares: 2048, cpusetCpus: all, cpusetMems: '0' });
    expect(await (await cgroupOf(c.id)).limits()).toMatchObject({ cpuShares: cgroupVersion === 1 ? 2048 : 2049, cpusetCpus: all, cpusetMems: '0' });
    const inCpuset = (await exec(c.id, ['grep', 'Cpus_allowed_list', '/proc/1/status'])).out.replace(/\s+/g, ' ').trim();
    expect(inCpuset).toBe(`Cpus_allowed_list: ${all}`);
    expect(await refusal(client.unary(ContainersService.update, { id: c.id, resources: { memoryBytes: 0, cpus: 0, pidsLimit: 0, cpuShares: 0, cpusetCpus: '0-4095', cpusetMems: '' } }))).toEqual({
      kind: 'InvalidArgument',
      message: `Requested CPUs are not available - requested 0-4095, available: 0-${cpus().length - 1}`,
    });
    await client.unary(ContainersService.remove, { id: c.id, force: true });
  });

  it('removes an auto-remove container when it exits, and Wait(REMOVED) returns its exit', async () => {
    const c = await create({ cmd: ['sh', '-c', 'exit 5'], autoRemove: true });
    const waiting = client.unary(ContainersService.wait, { id: c.id, condition: WaitCondition.WAIT_CONDITION_REMOVED });
    await new Promise((r) => setTimeout(r, 100));
    await client.unary(ContainersService.start, { id: c.id });
    const { status } = await waiting;
    expect(status?.exitCode).toBe(5);
    await waitFor(() => eventsOf('container.deleted', c.id).length === 1, () => 'container.deleted');
    expect(await stack.leftovers([c.id])).toEqual([]);
  });

  it('ends a Wait(REMOVED) with the error of a removal that failed, as Docker does; a retry removes it', async () => {
    const c = await create({ cmd: ['true'] });
    // A mount the agent did not make, in the container's directory: the removal refuses to delete its files.
    const busy = join(dirname(c.logPath), 'busy');
    await mkdir(busy);
    execFileSync('mount', ['-t', 'tmpfs', 'strata-test', busy]);
    try {
      const waiting = client.unary(ContainersService.wait, { id: c.id, condition: WaitCondition.WAIT_CONDITION_REMOVED }).then(
        () => 'removed',
        (err: unknown) => ({ kind: errorKind(err), message: (err as Error).message }),
      );
      await new Promise((r) => setTimeout(r, 100));
      const failed = await client.unary(ContainersService.remove, { id: c.id, force: true }).then(
        () => 'removed',
        (err: unknown) => errorKind(err),
      );
      expect(failed).toBe('FailedPrecondition');
      expect(await waiting).toEqual({ kind: 'FailedPrecondition', message: expect.stringContaining('still mounted') });
    } finally {
      execFileSync('umount', [busy]);
    }
    await client.unary(ContainersService.remove, { id: c.id, force: true });
    expect(await stack.leftovers([c.id])).toEqual([]);
  });
});

describe('auto-remove containers whose process cannot start', { timeout: 30_000 }, () => {
  it('removes one before Start answers, leaving nothing, and Wait(REMOVED) returns its exit', async () => {
    const c = await create({ cmd: ['no-such-command'], autoRemove: true });
    const waiting = client.unary(ContainersService.wait, { id: c.id, condition: WaitCondition.WAIT_CONDITION_REMOVED });
    await new Promise((r) => setTimeout(r, 100));
    const e = await client.unary(ContainersService.start, { id: c.id }).then(
      () => undefined,
      (err: unknown) => ({ kind: errorKind(err), message: (err as Error).message }),
    );
    expect(e).toEqual({ kind: 'FailedPrecondition', message: expect.stringMatching(/no-such-command.*executable file not found/) });
    const gone = await client.unary(ContainersService.inspect, { id: c.id }).then(
      () => undefined,
      (err: unknown) => errorKind(err),
    );
    expect(gone).toBe('NotFound');
    expect((await waiting).status?.exitCode).toBe(127);
    await waitFor(() => eventsOf('container.deleted', c.id).length === 1, () => 'container.deleted');
    expect(await stack.leftovers([c.id])).toEqual([]);
  });

});

/** Start of id, which must fail: its error kind and message. */
async function failedStart(id: string): Promise<{ kind: string | undefined; message: string } | undefined> {
  return client.unary(ContainersService.start, { id }).then(
    () => undefined,
    (err: unknown) => ({ kind: errorKind(err), message: (err as Error).message }),
  );
}

// moby's containerStart records the error and exit code (127/126/128) of a start that failed and changes nothing
// else: the state stays "created" (State.Status comes from StartedAt), no "die" is emitted, and the container can be
// started again, or removed without force. A wait for the next exit goes on waiting (the failure closes no stop
// channel), one for not-running answers at once with the code and the error.
describe('containers whose process cannot start, as Docker', { timeout: 40_000 }, () => {
  const notFound = expect.stringMatching(/no-such-command.*executable file not found/);

  it('stay created with the exit code and error, publish no exit, start again and are removed without force', async () => {
    const c = await create({ cmd: ['no-such-command'] });
    const nextExit = client.unary(ContainersService.wait, { id: c.id, condition: WaitCondition.WAIT_CONDITION_NEXT_EXIT });
    let nextExitEnded = false;
    void nextExit.finally(() => (nextExitEnded = true)).catch(() => undefined);
    expect(await failedStart(c.id)).toEqual({ kind: 'FailedPrecondition', message: notFound });
    const { container } = await client.unary(ContainersService.inspect, { id: c.id });
    expect(container?.state).toEqual({ status: ContainerStatus.CONTAINER_STATUS_CREATED, pid: 0, exitCode: 127, oomKilled: false, error: notFound });
    const { containers: listed } = await client.unary(ContainersService.list, { all: false, filters: ['status=created', `id=${c.id}`] });
    expect(listed.map((l) => l.id)).toEqual([c.id]);
    const { status } = await client.unary(ContainersService.wait, { id: c.id, condition: WaitCondition.WAIT_CONDITION_NOT_RUNNING });
    expect(status).toEqual({ exitCode: 127, oomKilled: false, error: notFound });

    expect(await failedStart(c.id)).toEqual({ kind: 'FailedPrecondition', message: notFound });
    expect((await client.unary(ContainersService.inspect, { id: c.id })).container?.state?.status).toBe(ContainerStatus.CONTAINER_STATUS_CREATED);
    await new Promise((r) => setTimeout(r, 300));
    expect(nextExitEnded).toBe(false);
    expect(eventsOf('container.exited', c.id)).toEqual([]);
    expect(eventsOf('container.started', c.id)).toEqual([]);

    await client.unary(ContainersService.remove, { id: c.id, force: false });
    expect((await nextExit).status).toEqual({ exitCode: 127, oomKilled: false, error: '' });
    expect(eventsOf('container.exited', c.id)).toEqual([]);
    expect(await stack.leftovers([c.id])).toEqual([]);
  });

  it('keep a container that ran before exited, with its last run and the code of the failed start', async () => {
    // The run removes the command the next start needs.
    const c = await run({ cmd: ['sh', '-c', 'rm /bin/sh'] });
    const { status: ran } = await client.unary(ContainersService.wait, { id: c.id, condition: WaitCondition.WAIT_CONDITION_NEXT_EXIT });
    expect(ran?.exitCode).toBe(0);
    await waitFor(() => eventsOf('container.exited', c.id).length === 1, () => 'container.exited');
    const before = (await client.unary(ContainersService.inspect, { id: c.id })).container!.state!;
    const nextExit = client.unary(ContainersService.wait, { id: c.id, condition: WaitCondition.WAIT_CONDITION_NEXT_EXIT });
    let nextExitEnded = false;
    void nextExit.finally(() => (nextExitEnded = true)).catch(() => undefined);
    expect(await failedStart(c.id)).toEqual({ kind: 'FailedPrecondition', message: expect.stringMatching(/sh.*(no such file or directory|not found)/) });
    const { container } = await client.unary(ContainersService.inspect, { id: c.id });
    expect(container?.state).toEqual({ ...before, exitCode: 127, error: expect.stringMatching(/sh/) });
    await new Promise((r) => setTimeout(r, 300));
    expect(nextExitEnded).toBe(false);
    expect(eventsOf('container.exited', c.id)).toHaveLength(1);
    await client.unary(ContainersService.remove, { id: c.id, force: false });
    expect((await nextExit).status?.exitCode).toBe(127);
    expect(await stack.leftovers([c.id])).toEqual([]);
  });

  it('stay created across an agent restart', async () => {
    const c = await create({ cmd: ['no-such-command'] });
    expect(await failedStart(c.id)).toEqual({ kind: 'FailedPrecondition', message: notFound });
    await agent.stop();
    agent = await stack.startAgent();
    const { container } = await client.unary(ContainersService.inspect, { id: c.id });
    expect(container?.state).toEqual({ status: ContainerStatus.CONTAINER_STATUS_CREATED, pid: 0, exitCode: 127, oomKilled: false, error: notFound });
    expect(eventsOf('container.exited', c.id)).toEqual([]);
    await client.unary(ContainersService.remove, { id: c.id, force: false });
    expect(await stack.leftovers([c.id])).toEqual([]);
  });
});

describe('after a host reboot', { timeout: 30_000 }, () => {
  it('mounts the rootfs of a container again when it is started', async () => {
    const c = await run({ cmd: ['sh', '-c', 'echo $(cat /marker 2>/dev/null) run; echo kept > /marker'] });
    await client.unary(ContainersService.wait, { id: c.id, condition: WaitCondition.WAIT_CONDITION_NOT_RUNNING });
    const rootfs = join(stack.stateDir, 'node-agent', 'containers', c.id, 'rootfs');
    await unmountAll(rootfs);
    expect((await mountPoints()).includes(rootfs)).toBe(false);
    await client.unary(ContainersService.start, { id: c.id });
    const { status } = await client.unary(ContainersService.wait, { id: c.id, condition: WaitCondition.WAIT_CONDITION_NOT_RUNNING });
    expect(status?.exitCode).toBe(0);
    expect((await mountPoints()).includes(rootfs)).toBe(true);
    expect(await output(c.id)).toBe('run\nkept run\n');
    // As Docker's RestartCount: restarts by a restart policy only; a start by hand resets it.
    const { container } = await client.unary(ContainersService.inspect, { id: c.id });
    expect(container?.restartCount).toBe(0);
  });
});

describe('heartbeat', { timeout: 30_000 }, () => {
  it('writes NodeStatus JSON under the node name in the strata_nodes bucket', async () => {
    await agent.heartbeat();
    const kv = await new Kvm(jetstream(nc)).open('strata_nodes');
    const entry = await kv.get('test-node');
    const status = entry?.json<Record<string, unknown>>();
    expect(status).toMatchObject({ name: 'test-node', cgroupVersion: expect.any(Number), runtime: expect.stringMatching(/^runc /), heartbeatIntervalSeconds: 1 });
    expect(Number(status?.cpus)).toBeGreaterThan(0);
    expect(Date.now() - Date.parse(String(status?.heartbeatAt))).toBeLessThan(10_000);
  });
});

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Attaches (waiting for the agent's first, empty chunk), starts, and collects the output and exit status. */
async function attachAndStart(id: string): Promise<{ out: string; exit: number | undefined }> {
  const call = client.bidiStream(ContainersService.attach);
  call.write({ message: { $case: 'open', value: { id, stdin: false, start: false } } });
  let out = '';
  let exit: number | undefined;
  let markReady!: () => void;
  const ready = new Promise<void>((r) => (markReady = r));
  const reading = (async () => {
    for await (const m of call as AsyncIterable<AttachResponse>) {
      markReady();
      const msg = m.message;
      if (msg?.$case === 'stdout') out += msg.value.toString('utf8');
      else if (msg?.$case === 'exit') exit = msg.value.exitCode;
    }
  })();
  await Promise.race([ready, reading]);
  await client.unary(ContainersService.start, { id });
  call.end();
  await reading;
  return { out, exit };
}

const runDir = (id: string) => join(stack.stateDir, 'node-agent', 'runtime', id);
const monitorPid = async (id: string) => (JSON.parse(await readFile(join(runDir(id), 'monitor.json'), 'utf8')) as { monitorPid: number }).monitorPid;
const trapping = ['sh', '-c', 'trap "exit 143" TERM; while true; do sleep 0.1; done'];

describe('exit codes, logs and serialized operations', { timeout: 30_000 }, () => {
  it('reports the exit code of a run that ends at once to an attachment, on the first start and on restarts', async () => {
    for (let i = 0; i < 4; i++) {
      const c = await create({ cmd: ['sh', '-c', 'test -f /ran && exit 5; touch /ran; echo first; exit 3'] });
      expect(await attachAndStart(c.id)).toEqual({ out: 'first\n', exit: 3 });
      expect(await attachAndStart(c.id)).toEqual({ out: '', exit: 5 });
      await client.unary(ContainersService.remove, { id: c.id, force: true });
    }
  });

  it('keeps the log of every run across restarts, in the container directory', async () => {
    const c = await create({ cmd: ['sh', '-c', 'echo run $(cat /proc/sys/kernel/random/boot_id | head -c 1)'] });
    for (let i = 0; i < 3; i++) {
      await client.unary(ContainersService.start, { id: c.id });
      await client.unary(ContainersService.wait, { id: c.id, condition: WaitCondition.WAIT_CONDITION_NOT_RUNNING });
    }
    expect((await output(c.id)).split('\n').filter((l) => l.startsWith('run '))).toHaveLength(3);
    const { container } = await client.unary(ContainersService.inspect, { id: c.id });
    expect(container?.logPath).toBe(join(stack.stateDir, 'node-agent', 'containers', c.id, 'log.json'));
    expect((await stat(container!.logPath)).mode & 0o777).toBe(0o600);
  });

  it('runs a stop issued during a start after it: the container ends, by its stop signal', async () => {
    const c = await create({ cmd: trapping });
    const [started, stopped] = await Promise.all([agent.manager.start(c.id), agent.manager.stop(c.id, 5)]);
    expect(started.state.status).toBe('running');
    expect(stopped.state).toMatchObject({ status: 'exited', exitCode: 143 });
    expect(agent.manager.inspect(c.id).state.status).toBe('exited');
  });

  it('runs rm -f issued during a stop after it: the stop returns the exit by SIGTERM, then the container is gone', async () => {
    const c = await run({ cmd: trapping });
    const [stopped, removed] = await Promise.all([agent.manager.stop(c.id, 5), agent.manager.remove(c.id, true)]);
    expect(stopped.state).toMatchObject({ status: 'exited', exitCode: 143 });
    expect(removed).toBe(c.id);
    await waitFor(() => eventsOf('container.exited', c.id).length === 1, () => 'container.exited');
    expect(eventsOf('container.exited', c.id)[0]?.data).toMatchObject({ exitCode: 143 });
    expect(await stack.leftovers([c.id])).toEqual([]);
    const again = await agent.manager.stop(c.id).then(
      () => undefined,
      (e: unknown) => ({ kind: errorKind(e), message: (e as Error).message }),
    );
    expect(again).toEqual({ kind: 'NotFound', message: `No such container: ${c.id}` });
  });
});

describe('OOM kills of a process other than the init', { timeout: 40_000 }, () => {
  it('reports container.oom once while the container runs, also across an agent restart', async () => {
    const c = await run({
      cmd: ['sh', '-c', 'trap "exit 143" TERM; dd if=/dev/zero of=/dev/null bs=64M count=1; echo survived; while true; do sleep 0.2; done'],
      resources: { memoryBytes: 16 * 1024 * 1024, cpus: 0, pidsLimit: 0, cpuShares: 0, cpusetCpus: '', cpusetMems: '' },
    });
    await waitFor(() => eventsOf('container.oom', c.id).length === 1, () => 'container.oom while running', 10_000);
    const { container } = await client.unary(ContainersService.inspect, { id: c.id });
    expect(container?.state).toMatchObject({ status: ContainerStatus.CONTAINER_STATUS_RUNNING, oomKilled: true });
    expect(await output(c.id)).toContain('survived\n');
    await agent.stop();
    agent = await stack.startAgent();
    await new Promise((r) => setTimeout(r, 5000));
    expect(eventsOf('container.oom', c.id)).toHaveLength(1);
    await client.unary(ContainersService.stop, { id: c.id, timeoutSeconds: 5 });
    await waitFor(() => eventsOf('container.exited', c.id).length === 1, () => 'container.exited');
    expect(eventsOf('container.exited', c.id)[0]?.data).toMatchObject({ exitCode: 143, oomKilled: true });
    expect(eventsOf('container.oom', c.id)).toHaveLength(1);
  });
});

describe('monitors outside the agent cgroup', { timeout: 60_000 }, () => {
  it('keeps containers and monitors alive when every process of the agent cgroup is killed, and a new agent recovers them', async () => {
    await agent.stop();
    const agentCgroup = await openCgroup(`${stack.cgroupParent}/agent`, { logger: silentLogger(), parent: stack.cgroupParent });
    await agentCgroup.create();
    try {
      const proc = await stack.startAgentProcess();
      await agentCgroup.addProcess(proc.pid);
      const c = await run({ cmd: trapping });
      const monitor = await monitorPid(c.id);
      expect(await readFile(`/proc/${monitor}/cgroup`, 'utf8')).toContain(`${stack.cgroupParent}/monitors/${c.id}`);
      expect(await agentCgroup.pids()).not.toContain(monitor);
      await agentCgroup.killAll();
      await proc.exited;
      expect(alive(monitor)).toBe(true);

      agent = await stack.startAgent();
      const { container } = await client.unary(ContainersService.inspect, { id: c.id });
      expect(container?.state?.status).toBe(ContainerStatus.CONTAINER_STATUS_RUNNING);
      expect(await exec(c.id, ['echo', 'still here'])).toEqual({ code: 0, out: 'still here\n', err: '' });
      const { container: stopped } = await client.unary(ContainersService.stop, { id: c.id, timeoutSeconds: 5 });
      expect(stopped?.state).toMatchObject({ status: ContainerStatus.CONTAINER_STATUS_EXITED, exitCode: 143 });
      await client.unary(ContainersService.remove, { id: c.id, force: false });
      expect(await stack.leftovers([c.id])).toEqual([]);
    } finally {
      await agentCgroup.killAll().catch(() => undefined);
      await agentCgroup.remove();
    }
  });
});

describe('user namespaces', { timeout: 30_000 }, () => {
  it('runs root in the container as the node range on the host, on idmapped layers', async () => {
    // The test's own temporary directory: runc reaches the rootfs as the container's root.
    for (const dir of [stack.dir, stack.stateDir]) await chmod(dir, 0o711);
    const c = await run({ cmd: ['sh', '-c', 'id -u; cat /proc/self/uid_map; stat -c "%u %g" /bin/busybox /; echo made > /made; sleep 60'], userNamespace: true, networkMode: NetworkMode.NETWORK_MODE_NONE });
    await waitFor(async () => (await output(c.id)).split('\n').length > 4, () => 'the first lines');
    const { container } = await client.unary(ContainersService.inspect, { id: c.id });
    const status = await readFile(`/proc/${container!.state!.pid}/status`, 'utf8');
    expect(/^Uid:\s+(\d+)/m.exec(status)?.[1]).toBe('100000');
    const lines = (await output(c.id)).split('\n').map((l) => l.trim().replace(/\s+/g, ' '));
    expect(lines.slice(0, 4)).toEqual(['0', '0 100000 65536', '0 0', '0 0']);
    await waitFor(async () => (await exec(c.id, ['cat', '/made'])).out === 'made\n', () => '/made');
    expect(await exec(c.id, ['id', '-u'])).toEqual({ code: 0, out: '0\n', err: '' });
    await client.unary(ContainersService.remove, { id: c.id, force: true });
    expect(await stack.leftovers([c.id])).toEqual([]);
  });

  it('refuses the bridge network with a user namespace, leaving nothing', async () => {
    const e = await create({ cmd: ['true'], userNamespace: true }).then(
      () => undefined,
      (err: unknown) => ({ kind: errorKind(err), message: (err as Error).message }),
    );
    expect(e).toEqual({
      kind: 'FailedPrecondition',
      message: "user namespaces work with --network none or host on this node: the bridge network namespace is not owned by the container's user namespace, so exec could not enter it",
    });
  });
});

describe('network spares', { timeout: 60_000 }, () => {
  /** The spare ids on the agent's durable network record (read afresh). */
  const sparesOnRecord = () => createBridgeNetwork({ stateDir: join(stack.stateDir, 'node-agent', 'network'), logger: silentLogger(), ...stack.network }).spares();
  async function twoSpares(): Promise<string[]> {
    let ready: string[] = [];
    await waitFor(async () => (ready = await sparesOnRecord()).length === 2, () => `two spares on record: ${JSON.stringify(ready)}`);
    return ready;
  }

  it('creates a bridge container on a spare made ahead, and removes both with the container or the agent', async () => {
    const snapshots = createGrpcSnapshotter({ unixSocket: join(stack.runDir, 'snapshotter.sock') }, { logger: silentLogger() });
    /** The keys of the active snapshots among ids. */
    const activeOf = async (ids: readonly string[]) => {
      const keys: string[] = [];
      for await (const info of snapshots.list(['kind==active'])) if (ids.includes(info.name)) keys.push(info.name);
      return keys.sort();
    };
    try {
      const ready = await twoSpares();
      const c = await create({ cmd: ['true'] });
      expect(ready).toContain(c.id);
      expect(await sparesOnRecord()).not.toContain(c.id);
      const { container } = await client.unary(ContainersService.inspect, { id: c.id });
      expect(container?.network?.ipAddress).toMatch(/^10\./);
      await client.unary(ContainersService.remove, { id: c.id, force: true });
      expect(await stack.leftovers([c.id])).toEqual([]);

      // The spares made after a Create have their snapshot on that image's top ready; a Create takes it as its own.
      const older = await create({ cmd: ['true'] });
      expect(ready).toContain(older.id);
      await client.unary(ContainersService.remove, { id: older.id, force: true });
      const withSnapshots = await twoSpares();
      await waitFor(async () => (await activeOf(withSnapshots)).length === 2, () => 'the spares made after a Create to have snapshots');
      const next = await run({ cmd: ['cat', '/etc/hostname'] });
      expect(withSnapshots).toContain(next.id);
      expect(await activeOf([next.id])).toEqual([next.id]);
      await client.unary(ContainersService.wait, { id: next.id, condition: WaitCondition.WAIT_CONDITION_NOT_RUNNING });
      expect(await output(next.id)).toBe(`${next.id.slice(0, 12)}\n`);
      await client.unary(ContainersService.remove, { id: next.id, force: true });
      expect(await activeOf([next.id])).toEqual([]);

      const left = await twoSpares();
      await waitFor(async () => (await activeOf(left)).length === 2, () => 'both spares to have snapshots');
      await agent.stop();
      expect(await sparesOnRecord()).toEqual([]);
      expect(await stack.leftovers(left)).toEqual([]);
      expect(await activeOf(left)).toEqual([]);

      // An agent SIGKILLed with spares ready: the next one removes them, snapshots included.
      const proc = await stack.startAgentProcess();
      const killed = await twoSpares();
      await proc.stop('SIGKILL');
      agent = await stack.startAgent();
      await waitFor(async () => (await sparesOnRecord()).every((id) => !killed.includes(id)), () => 'the spares of the killed agent to go');
      expect(await stack.leftovers(killed)).toEqual([]);
      expect(await activeOf(killed)).toEqual([]);
    } finally {
      await snapshots.close();
    }
  });
});

describe('agent restart', { timeout: 60_000 }, () => {
  it('survives SIGKILL: a new agent reports the exit that happened meanwhile once and still manages the running container', async () => {
    await agent.stop();
    const proc = await stack.startAgentProcess();
    const keeps = await run({ cmd: ['sh', '-c', 'trap "exit 143" TERM; while true; do sleep 1; done'] });
    const ends = await run({ cmd: ['sh', '-c', 'sleep 1; exit 7'] });
    const removes = await run({ cmd: ['sh', '-c', 'sleep 1; exit 9'], autoRemove: true });
    const { container: before } = await client.unary(ContainersService.inspect, { id: ends.id });
    const endsPid = before!.state!.pid;
    // As if the agent died in the middle of a commit, with the container frozen.
    const keepsCgroup = await openCgroup(`${stack.cgroupParent}/${keeps.id}`, { logger: silentLogger(), parent: stack.cgroupParent });
    await keepsCgroup.freeze();
    await proc.stop('SIGKILL');
    await waitFor(() => !alive(endsPid), () => 'the second container to exit while the agent is down');
    expect(eventsOf('container.exited', ends.id)).toEqual([]);

    agent = await stack.startAgent();
    expect(await keepsCgroup.isFrozen()).toBe(false);
    await waitFor(() => eventsOf('container.exited', ends.id).length === 1, () => 'container.exited of the exit missed');
    expect(eventsOf('container.exited', ends.id)[0]?.data).toMatchObject({ id: ends.id, exitCode: 7, oomKilled: false });
    const { container: after } = await client.unary(ContainersService.inspect, { id: ends.id });
    expect(after?.state).toMatchObject({ status: ContainerStatus.CONTAINER_STATUS_EXITED, exitCode: 7 });
    // The auto-remove one that ended meanwhile: its exit reported, then removed.
    await waitFor(() => eventsOf('container.deleted', removes.id).length === 1, () => 'the auto-remove container removed');
    expect(eventsOf('container.exited', removes.id).map((e) => (e.data as { exitCode: number }).exitCode)).toEqual([9]);
    expect(await stack.leftovers([removes.id])).toEqual([]);
    const { container: running } = await client.unary(ContainersService.inspect, { id: keeps.id });
    expect(running?.state?.status).toBe(ContainerStatus.CONTAINER_STATUS_RUNNING);
    expect(await exec(keeps.id, ['echo', 'still here'])).toEqual({ code: 0, out: 'still here\n', err: '' });

    await agent.stop();
    agent = await stack.startAgent();
    const { container: stopped } = await client.unary(ContainersService.stop, { id: keeps.id, timeoutSeconds: 5 });
    expect(stopped?.state).toMatchObject({ status: ContainerStatus.CONTAINER_STATUS_EXITED, exitCode: 143 });
    await waitFor(() => eventsOf('container.exited', keeps.id).length === 1, () => 'container.exited of the stopped one');
    await new Promise((r) => setTimeout(r, 300));
    expect(eventsOf('container.exited', ends.id)).toHaveLength(1);
    expect(eventsOf('container.exited', keeps.id)).toHaveLength(1);
  });
});

// moby's restart manager: ShouldRestart on each exit (always; unless-stopped unless stopped by hand; on-failure after a
// non-zero exit while RestartCount < MaximumRetryCount), a delay of 100 ms doubled up to a minute, die then start, the
// container "restarting" meanwhile; stop, kill and rm cancel it; RestartCount counts the restarts.
describe('restart policies', { timeout: 60_000 }, () => {
  const policy = (name: RestartPolicyName, maximumRetryCount = 0) => ({ restartPolicy: { name, maximumRetryCount } });
  const inspect = async (id: string) => (await client.unary(ContainersService.inspect, { id })).container!;
  const runs = async (id: string) => (await output(id)).split('\n').filter((l) => l === 'run').length;

  it('runs an on-failure:2 container that exits 3 three times, then leaves it exited with RestartCount 2', async () => {
    const c = await run({ cmd: ['sh', '-c', 'echo run; exit 3'], ...policy(RestartPolicyName.RESTART_POLICY_NAME_ON_FAILURE, 2) });
    await waitFor(async () => eventsOf('container.exited', c.id).length === 3, () => 'three exits');
    await new Promise((r) => setTimeout(r, 1_000));
    const after = await inspect(c.id);
    expect(after.state).toMatchObject({ status: ContainerStatus.CONTAINER_STATUS_EXITED, exitCode: 3 });
    expect(after.restartCount).toBe(2);
    expect(after.spec?.restartPolicy).toEqual({ name: RestartPolicyName.RESTART_POLICY_NAME_ON_FAILURE, maximumRetryCount: 2 });
    expect(await runs(c.id)).toBe(3);
    expect(eventsOf('container.started', c.id)).toHaveLength(3);
    expect(eventsOf('container.exited', c.id)).toHaveLength(3);
    // A start by hand starts the count over, as Docker's: three runs again.
    await client.unary(ContainersService.start, { id: c.id });
    await waitFor(async () => eventsOf('container.exited', c.id).length === 6, () => 'three more exits');
    await waitFor(async () => (await inspect(c.id)).state?.status === ContainerStatus.CONTAINER_STATUS_EXITED, () => 'exited again');
    expect((await inspect(c.id)).restartCount).toBe(2);
    await client.unary(ContainersService.remove, { id: c.id, force: false });
  });

  it('restarts an always container after exit 0; a stop ends it and keeps it stopped', async () => {
    const c = await run({ cmd: ['sh', '-c', 'echo run; trap "exit 0" TERM; sleep 0.3 & wait'], ...policy(RestartPolicyName.RESTART_POLICY_NAME_ALWAYS) });
    await waitFor(async () => (await inspect(c.id)).restartCount >= 2 && (await runs(c.id)) >= 3, () => 'two restarts');
    const { container: stopped } = await client.unary(ContainersService.stop, { id: c.id, timeoutSeconds: 5 });
    expect(stopped?.state?.status).toBe(ContainerStatus.CONTAINER_STATUS_EXITED);
    const started = eventsOf('container.started', c.id).length;
    await new Promise((r) => setTimeout(r, 1_500));
    expect((await inspect(c.id)).state?.status).toBe(ContainerStatus.CONTAINER_STATUS_EXITED);
    expect(eventsOf('container.started', c.id)).toHaveLength(started);
    await client.unary(ContainersService.remove, { id: c.id, force: false });
  });

  it('shows a container waiting for its restart as restarting; rm -f then removes it and nothing starts it again', async () => {
    const c = await run({ cmd: ['sh', '-c', 'exit 1'], ...policy(RestartPolicyName.RESTART_POLICY_NAME_ALWAYS) });
    // From the fifth restart on the delay is 1.6 s or more: long enough to see.
    await waitFor(
      async () => {
        const now = await inspect(c.id);
        return now.restartCount >= 5 && now.state?.status === ContainerStatus.CONTAINER_STATUS_RESTARTING;
      },
      () => 'restarting after five restarts',
      20_000,
    );
    const { containers: listed } = await client.unary(ContainersService.list, { all: false, filters: [`id=${c.id}`] });
    expect(listed.map((l) => l.state?.status)).toEqual([ContainerStatus.CONTAINER_STATUS_RESTARTING]);
    expect(await client.unary(ContainersService.remove, { id: c.id, force: false }).catch((e: unknown) => (e as Error).message)).toMatch(
      /container is restarting: stop the container before removing or force remove/,
    );
    const started = eventsOf('container.started', c.id).length;
    await client.unary(ContainersService.remove, { id: c.id, force: true });
    await new Promise((r) => setTimeout(r, 4_000));
    expect(eventsOf('container.started', c.id)).toHaveLength(started);
    expect(await stack.leftovers([c.id])).toEqual([]);
  });

  it('starts always containers (stopped ones too) and failed on-failure ones again when the agent starts, not a stopped unless-stopped one', async () => {
    await agent.stop();
    const proc = await stack.startAgentProcess();
    const always = await run({ cmd: ['sh', '-c', 'echo run; sleep 2; exit 0'], ...policy(RestartPolicyName.RESTART_POLICY_NAME_ALWAYS) });
    const stoppedAlways = await run({ cmd: ['sleep', '1000'], ...policy(RestartPolicyName.RESTART_POLICY_NAME_ALWAYS) });
    const failing = await run({ cmd: ['sh', '-c', 'echo run; sleep 2; exit 5'], ...policy(RestartPolicyName.RESTART_POLICY_NAME_ON_FAILURE, 3) });
    const unlessStopped = await run({ cmd: ['sleep', '1000'], ...policy(RestartPolicyName.RESTART_POLICY_NAME_UNLESS_STOPPED) });
    await client.unary(ContainersService.stop, { id: stoppedAlways.id, timeoutSeconds: 0 });
    await client.unary(ContainersService.stop, { id: unlessStopped.id, timeoutSeconds: 0 });
    const pids = await Promise.all([always, failing].map(async (c) => (await inspect(c.id)).state!.pid));
    await proc.stop('SIGKILL');
    await waitFor(() => pids.every((pid) => !alive(pid)), () => 'the containers to exit while the agent is down');

    agent = await stack.startAgent();
    for (const c of [always, stoppedAlways, failing]) {
      const now = await inspect(c.id);
      // Started as by hand (dockerd's restore resets the restart manager): RestartCount 0.
      expect({ status: now.state?.status, restartCount: now.restartCount }).toEqual({ status: ContainerStatus.CONTAINER_STATUS_RUNNING, restartCount: 0 });
    }
    expect((await inspect(unlessStopped.id)).state?.status).toBe(ContainerStatus.CONTAINER_STATUS_EXITED);
    await waitFor(async () => (await runs(always.id)) >= 2, () => 'the always container to run again');
    for (const c of [always, stoppedAlways, failing, unlessStopped]) await client.unary(ContainersService.remove, { id: c.id, force: true });
    expect(await stack.leftovers([always.id, stoppedAlways.id, failing.id, unlessStopped.id])).toEqual([]);
  });

  // The agent SIGKILLed after runc refused a run and before it removed the run's state: the monitor is gone without a
  // pid or an exit, runc's log holds the error. Recovery keeps the container as a failed start leaves it.
  it('keeps a container created, with the error, when the agent died between runc failing and the cleanup', async () => {
    const withMonitor = await create({ cmd: ['nope'] });
    const withoutMonitor = await create({ cmd: ['nope'] });
    await agent.stop();
    const runcLog = `${JSON.stringify({ level: 'error', msg: 'runc run failed: unable to start container process: exec: "nope": executable file not found in $PATH', time: new Date().toISOString() })}\n`;
    for (const c of [withMonitor, withoutMonitor]) {
      const dir = join(stack.stateDir, 'node-agent', 'runtime', c.id);
      // The monitor Create started ahead ends with the agent that held it.
      const ahead = await readFile(join(dir, 'monitor.json'), 'utf8').then((t) => (JSON.parse(t) as { monitorPid: number }).monitorPid, () => 0);
      await waitFor(() => ahead === 0 || !alive(ahead), () => 'the monitor started ahead to end');
      await rm(dir, { recursive: true, force: true });
      await mkdir(dir, { recursive: true, mode: 0o700 });
      await writeFile(join(dir, 'runc.log'), runcLog);
      if (c === withMonitor) {
        const monitor = { monitorPid: 2 ** 22 + 1, monitorStartTime: 1, pid: 0, pidStartTime: 0, tty: false, stdin: false, exec: false };
        await writeFile(join(dir, 'monitor.json'), JSON.stringify(monitor));
      }
    }
    agent = await stack.startAgent();
    for (const c of [withMonitor, withoutMonitor]) {
      expect((await inspect(c.id)).state).toEqual({
        status: ContainerStatus.CONTAINER_STATUS_CREATED,
        pid: 0,
        exitCode: 127,
        oomKilled: false,
        error: expect.stringMatching(/^cannot run container [0-9a-f]{64}: .*executable file not found/),
      });
      expect(eventsOf('container.exited', c.id)).toEqual([]);
      await expect(stat(join(stack.stateDir, 'node-agent', 'runtime', c.id))).rejects.toThrow(/ENOENT/);
      await client.unary(ContainersService.remove, { id: c.id, force: false });
    }
  });
});

describe('cleanup', { timeout: 60_000 }, () => {
  it('leaves no mount, veth, netns, iptables rule, cgroup or runc container after rm', async () => {
    const { containers } = await client.unary(ContainersService.list, { all: true, filters: [] });
    for (const c of containers) await client.unary(ContainersService.remove, { id: c.id, force: true });
    expect((await client.unary(ContainersService.list, { all: true, filters: [] })).containers).toEqual([]);
    expect(await stack.leftovers(created)).toEqual([]);
    await waitFor(() => created.every((id) => eventsOf('container.deleted', id).length === 1), () => 'container.deleted of every container');
  });

  it('removes its cgroup parent, the monitors\' one included, when it stops with no container left', async () => {
    const c = await run({ cmd: ['true'] });
    await client.unary(ContainersService.remove, { id: c.id, force: true });
    const mounts = await cgroupMounts();
    expect(await Promise.all(mounts.map((m) => stat(join(m, stack.cgroupParent, 'monitors')).then(() => true, () => false)))).toContain(true);
    await agent.stop(5000);
    for (const mount of mounts) await expect(stat(join(mount, stack.cgroupParent)), mount).rejects.toThrow(/ENOENT/);
  });
});
