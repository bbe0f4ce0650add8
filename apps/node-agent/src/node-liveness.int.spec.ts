import { jetstream } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { startNatsServer, type TestNatsServer } from '@strata/events-nats/testing';
import { silentLogger } from '@strata/kit';
import { createRecordingEventSink, waitFor } from '@strata/kit/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNodeLiveness, type NodeLiveness } from './node-liveness.js';

let server: TestNatsServer;
let nc: NatsConnection;
const running: NodeLiveness[] = [];

beforeAll(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
});
afterAll(async () => {
  await Promise.all(running.map((l) => l.stop()));
  await nc?.close();
  await server?.stop();
});

const heartbeat = (name: string, at: Date) =>
  JSON.stringify({ name, address: '10.0.0.5:7443', runningContainers: 1, containers: 2, heartbeatAt: at.toISOString(), heartbeatIntervalSeconds: 1 });

describe('startNodeLiveness', () => {
  it('publishes node.down once a node is silent for three intervals, and node.up when it is back, under ids every watcher shares', { timeout: 20_000 }, async () => {
    const kv = await new Kvm(jetstream(nc)).create('liveness_test', { history: 1 });
    const sinks = [createRecordingEventSink(), createRecordingEventSink()];
    for (const events of sinks) {
      const l = startNodeLiveness({ natsUrl: server.url, events, logger: silentLogger(), bucket: 'liveness_test' });
      running.push(l);
    }
    const last = new Date();
    await kv.put('n1', heartbeat('n1', last));
    await waitFor(() => sinks.every((s) => s.of('node.down').length === 1), () => 'node.down from both watchers', 10_000);
    expect(Date.now() - last.getTime()).toBeGreaterThan(3000);
    for (const s of sinks) {
      expect(s.of('node.down')).toEqual([
        { type: 'node.down', subject: 'n1', data: { node: 'n1', address: '10.0.0.5:7443', lastHeartbeatAt: last.toISOString() }, id: `node.down:n1:${last.toISOString()}` },
      ]);
    }
    const back = new Date();
    await kv.put('n1', heartbeat('n1', back));
    await waitFor(() => sinks.every((s) => s.of('node.up').length === 1), () => 'node.up from both watchers');
    for (const s of sinks) {
      expect(s.of('node.up')).toEqual([
        { type: 'node.up', subject: 'n1', data: { node: 'n1', address: '10.0.0.5:7443', containers: 2, runningContainers: 1 }, id: `node.up:n1:${back.toISOString()}` },
      ]);
      expect(s.events).toHaveLength(2);
    }
  });
});
