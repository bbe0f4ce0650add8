import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { connect, type NatsConnection, type Subscription } from '@nats-io/transport-node';
// The multi-host harness lives in the node-agent's app, beside the agent it starts.
// eslint-disable-next-line @nx/enforce-module-boundaries
import { startFleet, type Fleet } from '@strata/app-node-agent/testing';
import { readEvents } from '@strata/events-nats';
import { buildImage, DEBIAN_BUSYBOX, pushImage } from '@strata/image-fixtures';
import { silentLogger, type CloudEvent } from '@strata/kit';
import { waitFor } from '@strata/kit/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCaptured, type CapturedRun } from '../testing/run-captured.js';

let fleet: Fleet;
let nc: NatsConnection;
let sub: Subscription;
const started = new Date();
const nodeEvents: Array<{ at: number; event: CloudEvent }> = [];

type Result = CapturedRun;

/** Runs the CLI in this process as on host `from` (its run dir, node name), with the fleet's client certificate. */
async function cli(from: number, ...argv: string[]): Promise<Result> {
  const env = {
    STRATA_NODE: fleet.host(from).name,
    STRATA_NATS_URL: fleet.nats.url,
    STRATA_TLS_CERT: fleet.clientTls.cert,
    STRATA_TLS_KEY: fleet.clientTls.key,
    STRATA_TLS_CA: fleet.clientTls.ca,
  };
  return runCaptured([argv[0]!, '--run-dir', fleet.host(from).runDir, ...argv.slice(1)], { env });
}

interface NodeJson {
  name: string;
  address: string;
  status: string;
  labels: Record<string, string>;
  containers: number;
}

async function nodes(): Promise<NodeJson[]> {
  const r = await cli(0, 'nodes', '--format', 'json');
  expect(r).toMatchObject({ code: 0, err: '' });
  return JSON.parse(r.out) as NodeJson[];
}

/** Hosts 0 and 1 are in zone a, host 2 in zone b. */
const zoneOf = (i: number) => (i === 2 ? 'b' : 'a');

/** The node of each container named, from `ps --all-nodes`. */
async function nodesOf(names: readonly string[]): Promise<Record<string, string>> {
  const ps = await cli(0, 'ps', '--all-nodes', '-a', '--format', 'json');
  expect(ps).toMatchObject({ code: 0, err: '' });
  const rows = JSON.parse(ps.out) as Array<{ Names: string; Node: string }>;
  return Object.fromEntries(rows.filter((r) => names.includes(r.Names)).map((r) => [r.Names, r.Node]));
}

/** An image of its own in the upstream (nothing of it in the layer-store yet), with busybox's sh, echo, cat and sleep. */
async function ownUpstreamImage(repository: string): Promise<string> {
  const own = await buildImage({
    layers: [
      {
        items: [
          { file: 'bin/busybox', content: await readFile(DEBIAN_BUSYBOX), mode: 0o755 },
          ...['sh', 'echo', 'cat', 'sleep'].map((tool) => ({ symlink: `bin/${tool}`, target: 'busybox' })),
          { file: 'etc/fleet-test', content: randomBytes(16).toString('hex') },
        ],
      },
    ],
    config: { Env: ['PATH=/bin'], Cmd: ['sh'] },
  });
  await pushImage(fleet.upstream.url, repository, '1', own);
  return `${fleet.upstreamDomain}/${repository}:1`;
}

const upstreamBlobGets = () => fleet.upstream.requestLog().filter((r) => r.method === 'GET' && r.path.includes('/blobs/'));

beforeAll(async () => {
  fleet = await startFleet({ hosts: 3, hostAgentFlags: (i) => ['--label', `zone=${zoneOf(i)}`] });
  nc = await connect({ servers: fleet.nats.url });
  sub = nc.subscribe('strata.events.node.>', {
    callback: (_err, msg) => {
      nodeEvents.push({ at: Date.now(), event: msg.json<CloudEvent>() });
    },
  });
}, 240_000);

afterAll(async () => {
  sub?.unsubscribe();
  await nc?.close();
  await fleet?.stop();
}, 120_000);

describe('a fleet of three hosts', () => {
  it('lists every node as Ready with its address and labels', async () => {
    await waitFor(async () => (await nodes()).length === 3, () => 'three nodes to heartbeat');
    const listed = await nodes();
    expect(listed.map((n) => [n.name, n.address, n.status, n.labels])).toEqual(
      fleet.hosts.map((h, i) => [h.name, h.address, 'Ready', { host: String(i), zone: zoneOf(i) }]),
    );
    const table = await cli(0, 'nodes');
    expect(table.out.split('\n')[0]).toMatch(/^NAME\s+ADDRESS\s+STATUS\s+CPUS\s+MEMORY\s+CONTAINERS\s+LABELS$/);
    expect(table.out).toContain(`host-1  ${fleet.host(1).address}  Ready`);
  });

  it('places by --node and --constraint, and says what failed on each node when nothing fits', async () => {
    // One after another: the first container of each host.
    const zoneB = await cli(0, 'run', '-d', '--name', 'in-zone-b', '--constraint', 'zone=b', fleet.image, 'sleep', '300');
    const notZero = await cli(0, 'run', '-d', '--name', 'a-not-0', '--constraint', 'zone=a', '--constraint', 'node.labels.host!=0', fleet.image, 'sleep', '300');
    const here = await cli(0, 'run', '-d', '--name', 'named-here', '--node', 'host-0', fleet.image, 'sleep', '300');
    const created = await cli(2, 'create', '--name', 'created-on-1', '--node', 'host-1', fleet.image, 'true');
    expect([zoneB, notZero, here, created].map((r) => [r.code, r.err])).toEqual([[0, ''], [0, ''], [0, ''], [0, '']]);
    const names = ['in-zone-b', 'a-not-0', 'named-here', 'created-on-1'];
    expect(await nodesOf(names)).toEqual({ 'in-zone-b': 'host-2', 'a-not-0': 'host-1', 'named-here': 'host-0', 'created-on-1': 'host-1' });
    expect(JSON.parse((await cli(0, 'inspect', 'created-on-1')).out)[0]).toMatchObject({ Id: created.out.trim(), Node: 'host-1', State: { Status: 'created' } });
    expect(await cli(0, 'rm', '-f', ...names)).toMatchObject({ code: 0, err: '' });

    expect(await cli(0, 'run', '-d', '--constraint', 'zone=c', '--memory', '64m', fleet.image, 'true')).toEqual({
      code: 125,
      out: '',
      err:
        'strata: no node can run the container: host-0: label zone=a does not match zone=c; ' +
        'host-1: label zone=a does not match zone=c; host-2: label zone=b does not match zone=c\n',
    });
    const huge = await cli(0, 'run', '--rm', '--node', 'host-2', '--constraint', 'zone=a', '--memory', '100000g', fleet.image, 'true');
    expect(huge).toMatchObject({ code: 125, out: '' });
    expect(huge.err).toMatch(/^strata: no node can run the container: host-2: label zone=b does not match zone=a, 97\.7 TiB memory requested, [\d.]+ [KMGT]?i?B allocatable\n$/);
    expect(await cli(0, 'run', '--node', 'host-9', fleet.image, 'true')).toEqual({
      code: 125,
      out: '',
      err: 'strata: no such node: host-9 (known nodes: host-0, host-1, host-2)\n',
    });
  });

  it('spreads 6 containers run at once with --strategy spread over the 3 hosts, 2 each', async () => {
    // Every host ran one container in the test before, all removed: their running counts differ by one at most
    // (a heartbeat may still count one), which 6 placements by fewest running containers even out.
    const names = Array.from({ length: 6 }, (_, i) => `spread-${i}`);
    const runs = await Promise.all(names.map((name) => cli(0, 'run', '-d', '--rm', '--strategy', 'spread', '--name', name, fleet.image, 'sleep', '300')));
    expect(runs.map((r) => [r.code, r.err])).toEqual(names.map(() => [0, '']));
    expect(runs.every((r) => /^[0-9a-f]{64}\n$/.test(r.out))).toBe(true);
    const placed = Object.values(await nodesOf(names));
    expect(['host-0', 'host-1', 'host-2'].map((h) => placed.filter((n) => n === h).length)).toEqual([2, 2, 2]);
    expect(await cli(0, 'rm', '-f', ...names)).toMatchObject({ code: 0, err: '' });
  });

  it('lists containers of several hosts, and reaches a container on another host from the local CLI', async () => {
    const a = await cli(0, 'run', '-d', '--node', 'host-0', '--name', 'on-zero', fleet.image, 'sh', '-c', 'echo zero; sleep 300');
    const b = await cli(1, 'run', '-d', '--name', 'on-one', '--node', 'host-1', fleet.image, 'sh', '-c', 'echo hello from one; sleep 300');
    expect([a.code, a.err, b.code, b.err]).toEqual([0, '', 0, '']);
    const ids = [a.out.trim(), b.out.trim()];

    const ps = await cli(0, 'ps', '--all-nodes', '--format', 'json', '--no-trunc');
    expect(ps).toMatchObject({ code: 0, err: '' });
    const rows = JSON.parse(ps.out) as Array<{ ID: string; Names: string; Node: string }>;
    expect(rows.map((r) => [r.Names, r.Node, r.ID]).sort()).toEqual([
      ['on-one', 'host-1', ids[1]],
      ['on-zero', 'host-0', ids[0]],
    ]);
    const table = await cli(0, 'ps', '--all-nodes');
    expect(table.out.split('\n')[0]).toMatch(/NAMES\s+NODE$/);

    // Without --all-nodes only the local node's.
    expect((await cli(0, 'ps', '--format', 'json')).out).not.toContain('on-one');

    await waitFor(async () => (await cli(0, 'logs', 'on-one')).out === 'hello from one\n', () => 'the logs of a container on host-1 through host-0');
    const inspected = JSON.parse((await cli(0, 'inspect', 'on-one')).out) as Array<{ Id: string }>;
    expect(inspected[0]?.Id).toBe(ids[1]);
    const stop = await cli(0, 'stop', '-t', '1', 'on-one');
    expect(stop).toEqual({ code: 0, out: 'on-one\n', err: '' });
    expect(JSON.parse((await cli(1, 'inspect', 'on-one')).out)[0].State.Running).toBe(false);
    expect(await cli(0, 'rm', 'on-one')).toEqual({ code: 0, out: 'on-one\n', err: '' });
    expect(await cli(0, 'logs', 'nowhere')).toMatchObject({ code: 1, err: 'strata: No such container: nowhere\n' });
  });

  it('fetches an image that one host ran from the layer-store, not from the upstream, on another host', async () => {
    const image = await ownUpstreamImage('team/busybox');
    const first = await cli(0, 'run', '--rm', '--node', 'host-0', image, 'echo', 'first');
    expect(first).toMatchObject({ code: 0, out: 'first\n' });
    await fleet.upstream.settleRequestLog();
    expect(upstreamBlobGets().length).toBe(2);
    fleet.upstream.clearRequestLog();
    const second = await cli(2, 'run', '--rm', '--node', 'host-2', image, 'echo', 'second');
    expect(second).toMatchObject({ code: 0, out: 'second\n' });
    await fleet.upstream.settleRequestLog();
    expect(upstreamBlobGets()).toEqual([]);
  });

  it('commits a container of host-0 from host-1, and runs the image on host-1 without fetching its base layers upstream', async () => {
    const image = await ownUpstreamImage('team/base');
    // Run from host-1 on host-0: the CLI pulls through the (shared) mirror, host-0's agent unpacks.
    const run = await cli(1, 'run', '-d', '--node', 'host-0', '--name', 'to-commit', image, 'sleep', '300');
    expect(run.code).toBe(0);
    expect(run.err).toMatch(/^Unable to find image 'upstream.test\/team\/base:1' locally\n[^]*Status: Downloaded newer image for upstream.test\/team\/base:1\n/);
    expect(await nodesOf(['to-commit'])).toEqual({ 'to-commit': 'host-0' });
    expect(await cli(0, 'exec', 'to-commit', 'sh', '-c', 'echo committed on host-0 > /etc/fleet-test')).toMatchObject({ code: 0 });
    await fleet.upstream.settleRequestLog();
    expect(upstreamBlobGets().length).toBe(2);
    fleet.upstream.clearRequestLog();

    const commit = await cli(1, 'commit', '-m', 'changed on host-0', 'to-commit', 'fleet/committed:1');
    expect(commit).toMatchObject({ code: 0, err: '' });
    expect(commit.out).toMatch(/^sha256:[0-9a-f]{64}\n$/);
    const onOne = await cli(0, 'run', '--rm', '--node', 'host-1', 'fleet/committed:1', 'cat', '/etc/fleet-test');
    expect(onOne).toEqual({ code: 0, out: 'committed on host-0\n', err: '' });
    await fleet.upstream.settleRequestLog();
    expect(upstreamBlobGets()).toEqual([]);
    expect(await cli(1, 'rm', '-f', 'to-commit')).toMatchObject({ code: 0, err: '' });
  });

  it('reports a host whose agent is killed as down within 15 s, once, and brings it back with its containers', async () => {
    const run = await cli(2, 'run', '-d', '--node', 'host-2', '--name', 'survivor', fleet.image, 'sleep', '300');
    expect(run).toMatchObject({ code: 0, err: '' });
    const host = fleet.host(2);
    const killedAt = Date.now();
    await host.kill();
    const downEvent = () => nodeEvents.find((e) => e.event.type === 'io.strata.node.down' && e.event.subject === 'host-2');
    await waitFor(() => downEvent() !== undefined, () => 'a node.down event of host-2', 25_000);
    expect(downEvent()!.at - killedAt).toBeLessThan(16_000);
    expect(downEvent()!.event.data).toMatchObject({ node: 'host-2', address: host.address });
    expect((await nodes()).map((n) => [n.name, n.status])).toEqual([
      ['host-0', 'Ready'],
      ['host-1', 'Ready'],
      ['host-2', 'Down'],
    ]);

    await host.restart();
    const upEvent = () => nodeEvents.find((e) => e.event.type === 'io.strata.node.up' && e.event.subject === 'host-2');
    await waitFor(() => upEvent() !== undefined, () => 'a node.up event of host-2', 20_000);
    expect(upEvent()!.event.data).toMatchObject({ node: 'host-2', address: host.address, runningContainers: 1 });
    expect((await nodes()).find((n) => n.name === 'host-2')?.status).toBe('Ready');
    const ps = JSON.parse((await cli(0, 'ps', '--all-nodes', '--format', 'json')).out) as Array<{ Names: string; Node: string; State: string }>;
    expect(ps.find((r) => r.Names === 'survivor')).toMatchObject({ Node: 'host-2', State: 'running' });

    // Two agents watched host-2 go down and come back: the stream keeps one copy of each event.
    const stored: string[] = [];
    for await (const e of readEvents(nc, { logger: silentLogger(), subject: 'strata.events.node.>', since: started, until: new Date() })) {
      if (e.event.subject === 'host-2') stored.push(e.event.type);
    }
    expect(stored).toEqual(['io.strata.node.down', 'io.strata.node.up']);
  }, 90_000);
});
