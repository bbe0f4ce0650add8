import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { connect as natsConnect, type Msg, type NatsConnection } from '@nats-io/transport-node';
import {
  ContainersService,
  ContainerStatus,
  NetworkMode,
  WaitCondition,
  type CommitResponse,
  type Container,
  ContainerSpec,
} from '@strata/api/containers/v1';
import { ImagesService } from '@strata/api/images/v1';
import { openCgroup } from '@strata/cgroups';
import { createGrpcStore, type GrpcStore } from '@strata/content-grpc';
import { createClient, type RpcClient } from '@strata/grpc-kit';
import { errorKind, silentLogger, type CloudEvent } from '@strata/kit';
import { waitFor } from '@strata/kit/testing';
import type { Digest } from '@strata/oci';
import { gnuTar } from '@strata/tar/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStack, type TestStack } from './testing/test-stack.js';

let stack: TestStack;
let client: RpcClient;
let mirror: RpcClient;
let layerStore: GrpcStore;
let nc: NatsConnection;
const received: CloudEvent[] = [];

const spec = (over: Partial<ContainerSpec>): ContainerSpec =>
  ContainerSpec.fromPartial({ image: stack.image, networkMode: NetworkMode.NETWORK_MODE_NONE, ...over });

async function run(over: Partial<ContainerSpec>): Promise<Container> {
  const { container } = await client.unary(ContainersService.create, { spec: spec(over) });
  await client.unary(ContainersService.start, { id: container!.id });
  return container!;
}

async function blobs(): Promise<Set<string>> {
  const out = new Set<string>();
  for await (const info of layerStore.walk()) out.add(info.digest);
  return out;
}

/** Writes 24 MiB of random data in 384 files, then marks /ready and keeps running. */
const WRITER = 'i=0; while [ $i -lt 384 ]; do dd if=/dev/urandom of=/f$i bs=65536 count=1 2>/dev/null; i=$((i+1)); done; touch /ready; exec sleep 1000';

/** Commits while sampling the container's freezer every few milliseconds; returns the answer and the states seen. */
async function commitWatched(id: string, request: { reference: string; pause?: boolean }): Promise<{ response: CommitResponse; states: boolean[] }> {
  const cgroup = await openCgroup(`${stack.cgroupParent}/${id}`, { logger: silentLogger(), parent: stack.cgroupParent });
  const states: boolean[] = [];
  let done = false;
  const sampler = (async () => {
    while (!done) {
      states.push(await cgroup.isFrozen());
      await new Promise((r) => setTimeout(r, 2));
    }
  })();
  try {
    const response = await client.unary(ContainersService.commit, { id, message: '', author: '', changes: [], ...request });
    return { response, states };
  } finally {
    done = true;
    await sampler;
  }
}

beforeAll(async () => {
  stack = await startTestStack();
  nc = await natsConnect({ servers: stack.nats.url });
  const sub = nc.subscribe('strata.events.container.committed');
  void (async () => {
    for await (const m of sub as AsyncIterable<Msg>) received.push(m.json<CloudEvent>());
  })();
  await nc.flush();
  await stack.startAgent();
  client = stack.client();
  mirror = createClient({ unixSocket: join(stack.runDir, 'registry-mirror.sock') });
  layerStore = createGrpcStore({ unixSocket: join(stack.runDir, 'layer-store.sock') }, { logger: silentLogger() });
}, 120_000);

afterAll(async () => {
  mirror?.close();
  await layerStore?.close();
  await nc?.close();
  await stack?.stop();
}, 120_000);

describe('Containers.Commit', { timeout: 60_000 }, () => {
  it('freezes a running container during the diff, thaws it after, tags the image and publishes container.committed', async () => {
    const c = await run({ cmd: ['sh', '-c', WRITER] });
    const cgroup = await openCgroup(`${stack.cgroupParent}/${c.id}`, { logger: silentLogger(), parent: stack.cgroupParent });
    await waitFor(() => existsSync(join(stack.stateDir, 'node-agent', 'containers', c.id, 'rootfs', 'ready')), () => 'the writer to finish', 30_000, 100);
    const { response, states } = await commitWatched(c.id, { reference: `paused-${process.pid}:1` });
    expect(states).toContain(true);
    expect(states.at(-1)).toBe(false);
    expect(await cgroup.isFrozen()).toBe(false);
    const { container } = await client.unary(ContainersService.inspect, { id: c.id });
    expect(container?.state?.status).toBe(ContainerStatus.CONTAINER_STATUS_RUNNING);

    expect(response.reference).toBe(`docker.io/library/paused-${process.pid}:1`);
    expect(response.layerSize).toBeGreaterThan(24 * 1024 * 1024);
    const { image } = await mirror.unary(ImagesService.inspect, { ref: `paused-${process.pid}:1` });
    expect(image?.id).toBe(response.imageId);
    expect(image?.rootfs?.layers.at(-1)).toBe(response.diffId);
    expect(image?.config?.cmd).toEqual(['sh', '-c', WRITER]);
    expect((await layerStore.leases.list()).filter((l) => l.id.startsWith('commit-'))).toEqual([]);

    await waitFor(() => received.some((e) => e.subject === c.id), () => 'container.committed', 10_000);
    expect(received.find((e) => e.subject === c.id)?.data).toEqual({
      id: c.id,
      name: c.name,
      imageId: response.imageId,
      manifestDigest: response.manifestDigest,
      reference: response.reference,
      parentImageId: stack.busybox.config.digest,
      node: 'test-node',
    });
    await client.unary(ContainersService.remove, { id: c.id, force: true });
  });

  it('runs the image a tag names now, after the tag moved to another image', async () => {
    const ref = `moving-${process.pid}:1`;
    const seen: string[] = [];
    for (const name of ['first', 'second']) {
      const base = await run({ cmd: ['sh', '-c', `echo ${name} > /made; exec sleep 60`] });
      await waitFor(() => existsSync(join(stack.stateDir, 'node-agent', 'containers', base.id, 'rootfs', 'made')), () => 'the file to be written');
      await client.unary(ContainersService.commit, { id: base.id, reference: ref, message: '', author: '', changes: [], pause: false });
      await client.unary(ContainersService.remove, { id: base.id, force: true });
      const c = await run({ image: ref, cmd: ['cat', '/made'] });
      const { status } = await client.unary(ContainersService.wait, { id: c.id, condition: WaitCondition.WAIT_CONDITION_NOT_RUNNING });
      let out = '';
      for await (const r of client.serverStream(ContainersService.logs, { id: c.id, follow: false, tail: -1 })) out += r.data.toString('utf8');
      seen.push(`${status?.exitCode} ${out}`);
      await client.unary(ContainersService.remove, { id: c.id, force: true });
    }
    expect(seen).toEqual(['0 first\n', '0 second\n']);
  });

  it("keeps the mount points runc made out of the layer, as Docker's init layer does", async () => {
    const c = await run({ cmd: ['sh', '-c', 'echo x > /made; exec sleep 60'] });
    await waitFor(() => existsSync(join(stack.stateDir, 'node-agent', 'containers', c.id, 'rootfs', 'made')), () => 'the file to be written');
    const { layerDigest } = await client.unary(ContainersService.commit, { id: c.id, reference: `stubs-${process.pid}:1`, message: '', author: '', changes: [], pause: false });
    const reader = await layerStore.read(layerDigest as Digest);
    const parts: Uint8Array[] = [];
    for await (const chunk of reader.chunks) parts.push(Uint8Array.from(chunk));
    const listing = await gnuTar(['-tzf', '-'], Buffer.concat(parts));
    // runc made /etc/hostname, /etc/hosts and /etc/resolv.conf (the image has none) to bind the agent's files onto.
    expect(listing.stdout.split('\n').filter((l) => l !== '')).toEqual(['made']);
    await client.unary(ContainersService.remove, { id: c.id, force: true });
  });

  it('leaves the container running unfrozen with pause false', async () => {
    const c = await run({ cmd: ['sh', '-c', WRITER] });
    await waitFor(() => existsSync(join(stack.stateDir, 'node-agent', 'containers', c.id, 'rootfs', 'ready')), () => 'the writer to finish', 30_000, 100);
    const { states } = await commitWatched(c.id, { reference: `unpaused-${process.pid}:1`, pause: false });
    expect(states.length).toBeGreaterThan(0);
    expect(states).not.toContain(true);
    await client.unary(ContainersService.remove, { id: c.id, force: true });
  });

  it.each([
    ['an upper-case repository', { reference: 'Web02:1.1' }, 'InvalidArgument', 'invalid reference format: repository name must be lowercase'],
    ['no reference', { reference: '' }, 'InvalidArgument', 'a repository[:tag] to commit the container as is required, e.g. web02:1.1'],
    ['a digest reference', { reference: `web02@sha256:${'b'.repeat(64)}` }, 'InvalidArgument', 'refusing to create a tag with a digest reference'],
    ['an unknown change', { reference: 'web02:1', changes: ['FROM scratch'] }, 'InvalidArgument', 'FROM is not a valid change command; use one of CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR'],
    ['a malformed change', { reference: 'web02:1', changes: ['EXPOSE eighty'] }, 'InvalidArgument', 'invalid change "EXPOSE eighty": invalid port "eighty"; expected PORT[/PROTO], e.g. 80 or 53/udp'],
  ])('refuses %s with nothing written', async (_name, request, kind, message) => {
    const c = await run({ cmd: ['sh', '-c', 'echo changed > /changed; exec sleep 1000'] });
    const before = await blobs();
    const failure = await client
      .unary(ContainersService.commit, { id: c.id, message: '', author: '', changes: [], ...request })
      .then(() => undefined, (err: unknown) => ({ kind: errorKind(err), message: (err as Error).message }));
    expect(failure).toEqual({ kind, message });
    expect(await blobs()).toEqual(before);
    expect((await layerStore.leases.list()).filter((l) => l.id.startsWith('commit-'))).toEqual([]);
    await client.unary(ContainersService.remove, { id: c.id, force: true });
  });

  it('answers NotFound for an unknown container', async () => {
    const failure = await client
      .unary(ContainersService.commit, { id: 'no-such-container', reference: 'web02:1', message: '', author: '', changes: [] })
      .then(() => undefined, (err: unknown) => ({ kind: errorKind(err), message: (err as Error).message }));
    expect(failure).toEqual({ kind: 'NotFound', message: 'No such container: no-such-container' });
  });
});
