import { join } from 'node:path';
import { jetstream } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { NodeStatus } from '@strata/api/nodes/v1';
import { createNatsEventSink, readEvents, type NatsEventSink } from '@strata/events-nats';
import { startNatsServer, type TestNatsServer } from '@strata/events-nats/testing';
import { createServer, type Server } from '@strata/grpc-kit';
import { makeTestCertificates } from '@strata/grpc-kit/testing';
import { errorKind, silentLogger } from '@strata/kit';
import { tempDir, waitFor } from '@strata/kit/testing';
import { createNatsNodeDirectory, type NatsNodeDirectory } from '@strata/nodes-nats';
import { parseConstraint } from '@strata/placement';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPlacementClient, type PlacementClient } from './placement-client.js';
import { createPlacementService } from './placement-service.js';
import type { PlaceContainerRequest } from './placement.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

let nats: TestNatsServer;
let nc: NatsConnection;
let kv: KV;
let directory: NatsNodeDirectory;
let sink: NatsEventSink;
let server: Server;
let client: PlacementClient;
let tlsClient: PlacementClient;
let tcpPort: number;
const dir = tempDir('strata-placement-');
const startedAt = new Date();

/** Writes a heartbeat the way the node-agent does: NodeStatus JSON under the node's name in `strata_nodes`. */
async function heartbeat(name: string, fields: Partial<NodeStatus> = {}): Promise<void> {
  const status = NodeStatus.toJSON({
    name,
    address: `10.0.0.${name.charCodeAt(name.length - 1) % 200}:7443`,
    cpus: 4,
    memoryBytes: 8 * GiB,
    allocatableCpus: 4,
    allocatableMemoryBytes: 4 * GiB,
    runningContainers: 0,
    containers: 0,
    labels: {},
    cgroupVersion: 1,
    runtime: 'runc 1.1.5',
    kernel: '6.1.0',
    heartbeatAt: new Date(),
    heartbeatIntervalSeconds: 5,
    version: '0.1.0',
    ...fields,
  });
  await kv.put(name, JSON.stringify(status));
}

async function failure(request: PlaceContainerRequest, via: PlacementClient = client): Promise<{ kind: string; message: string }> {
  try {
    await via.place(request);
  } catch (err) {
    return { kind: errorKind(err), message: (err as Error).message };
  }
  throw new Error('expected the placement to fail');
}

beforeAll(async () => {
  nats = await startNatsServer();
  nc = await connect({ servers: nats.url });
  kv = await new Kvm(jetstream(nc)).create('strata_nodes', { history: 1 });
  await heartbeat('node-a', { heartbeatAt: new Date(Date.now() - 60_000), labels: { zone: 'us-2' } });
  await heartbeat('node-b', { labels: { zone: 'eu-1' }, allocatableMemoryBytes: 6 * GiB });
  await heartbeat('node-c', { labels: { zone: 'us-2' }, allocatableMemoryBytes: 120 * MiB, runningContainers: 1 });
  await heartbeat('node-d', { labels: { zone: 'us-2' }, allocatableMemoryBytes: 3 * GiB, runningContainers: 2 });
  directory = createNatsNodeDirectory({ servers: nats.url, logger: silentLogger() });
  sink = createNatsEventSink({ servers: nats.url, source: 'strata/node-agent/test', logger: silentLogger() });
  const certs = makeTestCertificates(dir.path);
  const service = createPlacementService({ directory, events: sink, logger: silentLogger() });
  server = createServer({
    logger: silentLogger(),
    services: service.registrations,
    unixSocket: join(dir.path, 'placement.sock'),
    tcp: { host: '127.0.0.1', port: 0, tls: certs.server },
  });
  tcpPort = (await server.start()).tcpPort!;
  client = createPlacementClient({ unixSocket: join(dir.path, 'placement.sock') });
  tlsClient = createPlacementClient({ address: `127.0.0.1:${tcpPort}`, tls: { ...certs.client, serverName: 'localhost' } });
}, 60_000);

afterAll(async () => {
  client?.close();
  tlsClient?.close();
  await server?.shutdown(0);
  await sink?.close();
  await directory?.close();
  await nc?.close();
  await nats?.stop();
  dir.remove();
});

describe('Placement over gRPC, from heartbeats in NATS KV', () => {
  it('chooses the ready node with most free memory, with a reason for every candidate, and publishes placement.decided', async () => {
    const decision = await client.place({ memoryBytes: 256 * MiB, containerName: 'web-1' });
    expect(decision).toMatchObject({ node: 'node-b', address: '10.0.0.98:7443', strategy: 'memory' });
    expect(decision.reason).toBe('most free memory of 2 feasible nodes (6 GiB free, 0 running containers)');
    expect(decision.candidates.map((c) => [c.node, c.state, c.feasible, c.reason])).toEqual([
      ['node-b', 'ready', true, 'chosen: most free memory (6 GiB free, 0 running containers)'],
      ['node-d', 'ready', true, 'fits, ranked 2 of 2 by most free memory (3 GiB free, 2 running containers)'],
      ['node-a', 'down', false, 'down'],
      ['node-c', 'ready', false, '256 MiB memory requested, 120 MiB allocatable'],
    ]);

    const events = [];
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), 10_000);
    for await (const stored of readEvents(nc, { logger: silentLogger(), since: startedAt, subject: 'strata.events.placement.decided', signal: abort.signal })) {
      events.push(stored.event);
      abort.abort();
    }
    clearTimeout(timer);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ type: 'io.strata.placement.decided', subject: 'web-1', source: 'strata/node-agent/test' });
    expect(events[0]!.data).toEqual({
      containerName: 'web-1',
      node: 'node-b',
      address: '10.0.0.98:7443',
      strategy: 'memory',
      reason: 'most free memory of 2 feasible nodes (6 GiB free, 0 running containers)',
      request: { memoryBytes: 268435456 },
      candidates: 4,
      feasible: 2,
    });
  });

  it.each([
    [
      'no node fits: what failed on which node',
      { memoryBytes: 256 * MiB, constraints: [parseConstraint('zone=us-2')], strategy: 'binpack' },
      'FailedPrecondition',
      'no node can run the container: node-a: down; node-b: label zone=eu-1 does not match zone=us-2; node-c: 256 MiB memory requested, 120 MiB allocatable; node-d: 256 MiB memory requested, 0 bytes free (3 GiB allocatable, 3 GiB reserved since its last heartbeat)',
    ],
    ['a node asked for that is down', { node: 'node-a' }, 'FailedPrecondition', 'no node can run the container: node-a: down'],
    ['an unknown node', { node: 'node-x' }, 'NotFound', 'no such node: node-x (known nodes: node-a, node-b, node-c, node-d)'],
    ['a constraint without value', { constraints: [{ key: 'zone', value: '', op: '==' }] }, 'InvalidArgument', 'invalid constraint "zone==": the value is empty'],
    ['an unknown node attribute', { constraints: [{ key: 'node.zone', value: 'a', op: '!=' }] }, 'InvalidArgument', 'invalid constraint key "node.zone": the node attributes are node.name and node.labels.<label>'],
    ['negative CPUs', { cpus: -1 }, 'InvalidArgument', 'invalid CPU request -1: give a number of CPUs, 0 or more'],
  ] as const)('refuses %s', async (_what, request, kind, message) => {
    if (_what.startsWith('no node fits')) {
      // Fill node-d by reservations first: 3 GiB placed there since its heartbeat.
      await client.place({ memoryBytes: 3 * GiB, node: 'node-d' });
    }
    expect(await failure(request as PlaceContainerRequest)).toEqual({ kind, message });
  });

  it('serves TCP with mutual TLS, answering with the same reservations', async () => {
    const decision = await tlsClient.place({ node: 'node-d', strategy: 'spread' });
    expect(decision.candidates[0]).toMatchObject({ node: 'node-d', feasible: true, runningContainers: 3, reserved: { memoryBytes: 3 * GiB, cpus: 0, containers: 1 } });
  });

  it('spreads a burst of 300 placements by the reservations, and forgets them when a node heartbeats again', async () => {
    await heartbeat('node-b', { labels: { zone: 'eu-1' }, allocatableMemoryBytes: 6 * GiB });
    await heartbeat('node-c', { labels: { zone: 'us-2' }, allocatableMemoryBytes: 120 * MiB, runningContainers: 1 });
    await heartbeat('node-d', { labels: { zone: 'us-2' }, allocatableMemoryBytes: 3 * GiB, runningContainers: 2 });
    const counts: Record<string, number> = {};
    const decisions = await Promise.all(Array.from({ length: 300 }, () => client.place({ strategy: 'spread' })));
    for (const d of decisions) counts[d.node] = (counts[d.node] ?? 0) + 1;
    expect(counts).toEqual({ 'node-b': 101, 'node-c': 100, 'node-d': 99 });

    // node-b heartbeats with its 101 containers running: they are counted once, by the heartbeat.
    await heartbeat('node-b', { labels: { zone: 'eu-1' }, allocatableMemoryBytes: 6 * GiB, runningContainers: 101 });
    await waitFor(async () => (await directory.get('node-b'))?.runningContainers === 101, () => 'the new heartbeat of node-b');
    const next = await client.place({ strategy: 'spread' });
    expect(next.node).toBe('node-b');
    expect(next.candidates.map((c) => [c.node, c.runningContainers, c.reserved.containers])).toEqual([
      ['node-b', 101, 0],
      ['node-d', 101, 99],
      ['node-c', 101, 100],
      ['node-a', 0, 0],
    ]);
  });

  it('is UNAVAILABLE while NATS is down', async () => {
    await nats.restart(async () => {
      const result = await failure({});
      expect(result.kind).toBe('Unavailable');
      expect(result.message).toMatch(/nats/i);
    });
  }, 30_000);
});
