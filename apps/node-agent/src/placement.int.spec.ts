import { jetstream } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect as natsConnect, type Msg, type NatsConnection } from '@nats-io/transport-node';
import { NodeStatus } from '@strata/api/nodes/v1';
import { errorKind, type CloudEvent } from '@strata/kit';
import { waitFor } from '@strata/kit/testing';
import { createPlacementClient, parseConstraint, type PlaceContainerRequest, type PlacementClient } from '@strata/placement-service';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStack, type TestStack } from './testing/test-stack.js';

const TiB = 1024 ** 4;

let stack: TestStack;
let nc: NatsConnection;
let client: PlacementClient;
const decided: CloudEvent[] = [];

async function failure(request: PlaceContainerRequest): Promise<{ kind: string; message: string }> {
  try {
    await client.place(request);
  } catch (err) {
    return { kind: errorKind(err), message: (err as Error).message };
  }
  throw new Error('expected the placement to fail');
}

beforeAll(async () => {
  stack = await startTestStack({ agentFlags: ['--label', 'zone=us-2'] });
  nc = await natsConnect({ servers: stack.nats.url });
  const sub = nc.subscribe('strata.events.placement.decided');
  void (async () => {
    for await (const m of sub as AsyncIterable<Msg>) decided.push(m.json<CloudEvent>());
  })();
  await nc.flush();
  const agent = await stack.startAgent();
  await agent.heartbeat();
  client = createPlacementClient({ unixSocket: stack.agentSocket });
}, 120_000);

afterAll(async () => {
  client?.close();
  await nc?.close();
  await stack?.stop();
}, 120_000);

describe('Placement on the node-agent socket', { timeout: 30_000 }, () => {
  it('places on the agent\'s own node from its heartbeat, and publishes placement.decided', async () => {
    await waitFor(
      async () => (await client.place({ containerName: 'web' }).catch(() => undefined))?.node === 'test-node',
      () => 'a placement on test-node',
    );
    const decision = await client.place({ memoryBytes: 64 * 1024 * 1024, constraints: [parseConstraint('zone=us-2')], containerName: 'web-2' });
    expect(decision).toMatchObject({ node: 'test-node', address: '', strategy: 'memory' });
    expect(decision.candidates).toHaveLength(1);
    expect(decision.candidates[0]!.reason).toMatch(/^chosen: most free memory \(.+ free, \d+ running containers?, \d+ placed since its last heartbeat\)$/);
    await waitFor(() => decided.some((e) => e.subject === 'web-2'), () => 'the placement.decided event of web-2');
    const event = decided.find((e) => e.subject === 'web-2')!;
    expect(event).toMatchObject({ type: 'io.strata.placement.decided', source: 'strata/node-agent/test-node' });
    expect(event.data).toMatchObject({ containerName: 'web-2', node: 'test-node', strategy: 'memory', request: { memoryBytes: 67108864, constraints: ['zone=us-2'] } });
  });

  it('chooses among the fleet\'s nodes, and says which constraint failed on which node', async () => {
    const kv = await new Kvm(jetstream(nc)).open('strata_nodes');
    const peer = NodeStatus.toJSON({
      name: 'peer-node',
      address: '10.0.0.2:7443',
      cpus: 64,
      memoryBytes: 2 * TiB,
      allocatableCpus: 64,
      allocatableMemoryBytes: TiB,
      runningContainers: 0,
      containers: 0,
      labels: { zone: 'eu-1' },
      cgroupVersion: 2,
      runtime: 'runc 1.1.5',
      kernel: '6.1.0',
      heartbeatAt: new Date(),
      heartbeatIntervalSeconds: 60,
      version: '0.1.0',
    });
    await kv.put('peer-node', JSON.stringify(peer));
    await waitFor(async () => (await client.place({})).node === 'peer-node', () => 'a placement on peer-node');
    expect((await client.place({ constraints: [parseConstraint('node.labels.zone=us-2')] })).node).toBe('test-node');
    expect((await client.place({ constraints: [parseConstraint('zone!=us-2')] })).address).toBe('10.0.0.2:7443');
    expect(await failure({ constraints: [parseConstraint('zone=ap-1')] })).toEqual({
      kind: 'FailedPrecondition',
      message: 'no node can run the container: peer-node: label zone=eu-1 does not match zone=ap-1; test-node: label zone=us-2 does not match zone=ap-1',
    });
    expect(await failure({ node: 'nowhere' })).toEqual({ kind: 'NotFound', message: 'no such node: nowhere (known nodes: peer-node, test-node)' });
  });
});
