/**
 * Placement of many containers over a fleet of 3 hosts (issue #7): a fleet
 * from startFleet (each host a network namespace with its own snapshotter
 * and node-agent; NATS, layer-store and mirror shared), then N (1,000)
 * placements of busybox running `true`, `--rm -d`, once with
 * `--strategy spread` and once with the default strategy (`memory`).
 *
 * The measured path is what `strata run --rm -d` does without the CLI's
 * process start: Placement.Place on host-0's agent (its unix socket, as the
 * CLI on host-0 asks it), then Containers.Create + Start on the chosen
 * node's agent (host-0 through its socket, the others over TCP with mutual
 * TLS with the fleet's client certificate), 16 placements in flight. Every
 * container really runs and is removed by its agent; the run ends when no
 * host has a container left. A smaller sample goes through the CLI itself
 * (`strata run --rm -d --strategy spread`, one process after another), whose
 * process start (~0.3 s) dominates. The distribution is counted from the
 * decisions (gRPC) and from the `placement.decided` events (CLI).
 * Run: npm run bench -- fleet-placement [count] [cli-count]
 *
 * (startFleet's module imports @strata/cgroups/testing, whose contract suite
 * imports vitest, which cannot load outside vitest: a resolve hook points
 * that one import at the file startFleet uses, test-cgroups.ts.)
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { register } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { connect } from '@nats-io/transport-node';
import { ContainerSpec, ContainersService, NetworkMode } from '@strata/api/containers/v1';
import type { Fleet } from '@strata/app-node-agent/testing';
import { readTlsFiles } from '@strata/fleet-ca';
import { createClient, type RpcClient } from '@strata/grpc-kit';
import type { CloudEvent } from '@strata/kit';
import { createPlacementClient, type Strategy } from '@strata/placement-service';
import { root } from './lib.js';

const testCgroups = pathToFileURL(join(root, 'libs/cgroups/src/testing/test-cgroups.ts')).href;
register(
  `data:text/javascript,${encodeURIComponent(
    `export async function resolve(specifier, context, next) { return next(specifier === '@strata/cgroups/testing' ? ${JSON.stringify(testCgroups)} : specifier, context); }`,
  )}`,
);
const { startFleet } = await import('../apps/node-agent/src/testing/fleet.js');

const count = Number(process.argv[2] ?? 1000);
const cliCount = Number(process.argv[3] ?? 30);
const IN_FLIGHT = 16;

/** The spec of `strata run --rm -d IMAGE true`. */
function trueSpec(image: string, name: string): ContainerSpec {
  return ContainerSpec.fromPartial({ image, name, cmd: ['true'], networkMode: NetworkMode.NETWORK_MODE_BRIDGE, autoRemove: true });
}

interface Row {
  path: string;
  strategy: string;
  placements: number;
  seconds: number;
  /** Until every container exited and was removed. */
  drainedSeconds: number;
  perHost: number[];
  errors: number;
}

/** Waits until no host of the fleet has a container, polling every 200 ms; raises after 120 s saying how many are left. */
async function drained(clients: readonly RpcClient[]): Promise<void> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const lists = await Promise.all(clients.map((c) => c.unary(ContainersService.list, { all: true, filters: [] }, { deadline: Date.now() + 10_000 })));
    const left = lists.reduce((n, l) => n + l.containers.length, 0);
    if (left === 0) return;
    if (Date.now() > deadline) throw new Error(`${left} containers still listed 120 s after the last placement`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** N placements through Placement + Create/Start over gRPC, IN_FLIGHT at a time. */
async function grpcRun(fleet: Fleet, clients: ReadonlyMap<string, RpcClient>, strategy: Strategy | undefined, n: number, tag: string): Promise<Row> {
  const placement = createPlacementClient({ unixSocket: fleet.host(0).socket }, { timeoutMs: 20_000 });
  const perNode = new Map<string, number>();
  let errors = 0;
  let next = 0;
  const started = process.hrtime.bigint();
  const worker = async () => {
    for (let i = next++; i < n; i = next++) {
      const name = `${tag}-${i}`;
      try {
        const decision = await placement.place({ ...(strategy === undefined ? {} : { strategy }), containerName: name });
        const client = clients.get(decision.node)!;
        const { container } = await client.unary(ContainersService.create, { spec: trueSpec(fleet.image, name) }, { deadline: Date.now() + 120_000 });
        try {
          await client.unary(ContainersService.start, { id: container!.id }, { deadline: Date.now() + 120_000 });
        } catch (err) {
          await client.unary(ContainersService.remove, { id: container!.id, force: true }).catch(() => undefined);
          throw err;
        }
        perNode.set(decision.node, (perNode.get(decision.node) ?? 0) + 1);
      } catch (err) {
        if (errors++ < 5) console.error(`  ${name}: ${(err as Error).message}`);
      }
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  await drained([...clients.values()]);
  const drainedSeconds = Number(process.hrtime.bigint() - started) / 1e9;
  placement.close();
  return {
    path: 'gRPC',
    strategy: strategy ?? 'memory (default)',
    placements: n,
    seconds,
    drainedSeconds,
    perHost: fleet.hosts.map((h) => perNode.get(h.name) ?? 0),
    errors,
  };
}

/** N `strata run --rm -d --strategy spread` processes, one after another, as on host-0. */
async function cliRun(fleet: Fleet, clients: ReadonlyMap<string, RpcClient>, n: number, tag: string): Promise<Row> {
  const nc = await connect({ servers: fleet.nats.url });
  const perNode = new Map<string, number>();
  const sub = nc.subscribe('strata.events.placement.decided', {
    callback: (_err, msg) => {
      const event = msg.json<CloudEvent<{ containerName?: string; node: string }>>();
      if (event.data.containerName?.startsWith(`${tag}-`)) perNode.set(event.data.node, (perNode.get(event.data.node) ?? 0) + 1);
    },
  });
  const env = {
    ...process.env,
    STRATA_NODE: fleet.host(0).name,
    STRATA_NATS_URL: fleet.nats.url,
    STRATA_TLS_CERT: fleet.clientTls.cert,
    STRATA_TLS_KEY: fleet.clientTls.key,
    STRATA_TLS_CA: fleet.clientTls.ca,
  };
  let errors = 0;
  const started = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const args = ['run', '--rm', '-d', '--strategy', 'spread', '--name', `${tag}-${i}`];
    const child = spawn(join(root, 'apps/cli/bin/strata'), [...args, '--run-dir', fleet.host(0).runDir, fleet.image, 'true'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const [code] = (await once(child, 'exit')) as [number | null];
    if (code !== 0) {
      if (errors++ < 5) console.error(`  ${tag}-${i}: exit ${code}: ${stderr.trim()}`);
    }
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  await drained([...clients.values()]);
  const drainedSeconds = Number(process.hrtime.bigint() - started) / 1e9;
  await nc.flush();
  sub.unsubscribe();
  await nc.close();
  return { path: 'CLI', strategy: 'spread', placements: n, seconds, drainedSeconds, perHost: fleet.hosts.map((h) => perNode.get(h.name) ?? 0), errors };
}

console.log(`fleet placement: ${count} containers (gRPC, ${IN_FLIGHT} in flight) per strategy and ${cliCount} through the CLI, over 3 hosts`);
let fleet: Fleet | undefined;
const clients = new Map<string, RpcClient>();
try {
  fleet = await startFleet({ hosts: 3 });
  const tls = await readTlsFiles(fleet.clientTls);
  for (const host of fleet.hosts) {
    clients.set(
      host.name,
      host === fleet.host(0) ? createClient({ unixSocket: host.socket }) : createClient({ address: host.address, tls: { ...tls, serverName: host.name } }),
    );
  }
  // Every host unpacks the image once and loads its lazily loaded code, untimed; one container at a time, so that
  // each host's first container (which makes the monitors' cgroup) is alone.
  for (const [i, host] of fleet.hosts.entries()) {
    const client = clients.get(host.name)!;
    const { container } = await client.unary(ContainersService.create, { spec: trueSpec(fleet.image, `warm-${i}`) });
    await client.unary(ContainersService.start, { id: container!.id });
  }
  await drained([...clients.values()]);

  const rows: Row[] = [];
  rows.push(await grpcRun(fleet, clients, 'spread', count, 'spread'));
  rows.push(await grpcRun(fleet, clients, undefined, count, 'default'));
  if (cliCount > 0) rows.push(await cliRun(fleet, clients, cliCount, 'cli'));

  const header = ['path', 'strategy', 'placements', 'time (s)', 'placements/s', 'all removed (s)', ...fleet.hosts.map((h) => h.name), 'errors'];
  const cells = rows.map((r) => [
    r.path,
    r.strategy,
    String(r.placements),
    r.seconds.toFixed(1),
    (r.placements / r.seconds).toFixed(1),
    r.drainedSeconds.toFixed(1),
    ...r.perHost.map(String),
    String(r.errors),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => `  ${c.map((v, i) => v.padEnd(widths[i]!)).join('  ')}`;
  console.log(line(header));
  for (const c of cells) console.log(line(c));
  console.log('  time: from the first Place to the last Start; placements/s = placements ÷ time; all removed: until no host lists a container');
  if (rows.some((r) => r.errors > 0)) process.exitCode = 1;
} finally {
  for (const c of clients.values()) c.close();
  await fleet?.stop();
}
