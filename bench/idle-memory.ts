/**
 * Memory of idle containers (issue #5): N (100) containers running
 * `sleep 3600`, started detached through the node-agent's gRPC API, on the
 * stack of bench/agent-stack.ts. Before and after, the node-agent's memory
 * (VmRSS of /proc/<pid>/status, Pss of /proc/<pid>/smaps_rollup) and the
 * sum over the containers' strata-monitor processes; the per-container
 * overhead is (agent growth + monitors) / N, beside the containers' own
 * processes (`sleep`) for scale. All containers are removed at the end,
 * also on failure (the stack's stop removes whatever is left).
 * Target: ≤ 2 MB per container beyond the container itself.
 * Run: npm run bench -- memory [containers]
 */
import { readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ContainerSpec, ContainersService, NetworkMode } from '@strata/api/containers/v1';
import type { RpcClient } from '@strata/grpc-kit';
import { startAgentStack, type AgentStack } from './agent-stack.js';
import { workDir } from './lib.js';

const count = Number(process.argv[2] ?? 100);
const dir = workDir('idle-memory');
const TARGET_MIB = 2;

/** Resident and proportional memory of a process, in KiB (Pss undefined without smaps_rollup). */
interface Memory {
  rssKib: number;
  pssKib: number | undefined;
}

function memoryOf(pid: number): Memory {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKib = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? NaN);
  let pssKib: number | undefined;
  try {
    pssKib = Number(/^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? NaN);
  } catch {
    pssKib = undefined;
  }
  return { rssKib, pssKib };
}

function sum(memories: Memory[]): Memory {
  const pss = memories.every((m) => m.pssKib !== undefined) ? memories.reduce((n, m) => n + m.pssKib!, 0) : undefined;
  return { rssKib: memories.reduce((n, m) => n + m.rssKib, 0), pssKib: pss };
}

/** The pids of the strata-monitor processes whose command line names a path under under (the stack's state). */
function monitorPids(under: string): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/comm`, 'utf8').trim() !== 'strata-monitor') continue;
      if (readFileSync(`/proc/${name}/cmdline`, 'utf8').includes(under)) pids.push(Number(name));
    } catch {
      /* exited meanwhile */
    }
  }
  return pids;
}

/** The spec of `strata run -d IMAGE sleep 3600`. */
function idleSpec(image: string): ContainerSpec {
  return ContainerSpec.fromPartial({ image, cmd: ['sleep', '3600'], networkMode: NetworkMode.NETWORK_MODE_BRIDGE });
}

const mib = (kib: number | undefined) => (kib === undefined ? 'n/a' : `${(kib / 1024).toFixed(1)} MiB`);
const line = (name: string, m: Memory) => console.log(`  ${name.padEnd(44)} RSS ${mib(m.rssKib).padStart(10)}   PSS ${mib(m.pssKib).padStart(10)}`);

console.log(`idle memory: ${count} containers running sleep 3600; work dir ${dir}`);
let stack: AgentStack | undefined;
try {
  stack = await startAgentStack(join(dir, 'stack'));
  const client: RpcClient = stack.client();
  const agentPid = stack.agent()!.pid;
  // One container created and removed first, so the agent's lazily loaded code and clients are in place.
  const { container: warm } = await client.unary(ContainersService.create, { spec: idleSpec(stack.image) });
  await client.unary(ContainersService.remove, { id: warm!.id, force: true });
  await new Promise((r) => setTimeout(r, 1000));
  const agentBefore = memoryOf(agentPid);

  const ids: string[] = [];
  const started = Date.now();
  for (let i = 0; i < count; i++) {
    const { container } = await client.unary(ContainersService.create, { spec: idleSpec(stack.image) });
    ids.push(container!.id);
    await client.unary(ContainersService.start, { id: container!.id });
  }
  console.log(`  started ${count} containers in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  await new Promise((r) => setTimeout(r, 2000));
  const { containers } = await client.unary(ContainersService.list, { all: false, filters: [] });
  if (containers.length !== count) throw new Error(`${containers.length} containers run, not ${count}`);
  const agentAfter = memoryOf(agentPid);
  const monitors = monitorPids(dir);
  if (monitors.length !== count) throw new Error(`found ${monitors.length} strata-monitor processes of the stack, not ${count}`);
  const monitorMemory = sum(monitors.map(memoryOf));
  const payload = sum(containers.map((c) => memoryOf(c.state!.pid)));

  line('node-agent before', agentBefore);
  line(`node-agent with ${count} containers`, agentAfter);
  line(`${count} strata-monitor processes`, monitorMemory);
  line(`${count} container processes (sleep, for scale)`, payload);
  const perContainer = (before: number, after: number, monitorsKib: number) => (after - before + monitorsKib) / count;
  const rssPer = perContainer(agentBefore.rssKib, agentAfter.rssKib, monitorMemory.rssKib);
  console.log(
    `  per container: agent +${mib((agentAfter.rssKib - agentBefore.rssKib) / count)} RSS, monitor ${mib(monitorMemory.rssKib / count)} RSS` +
      (monitorMemory.pssKib === undefined ? '' : ` / ${mib(monitorMemory.pssKib / count)} PSS`),
  );
  if (agentBefore.pssKib !== undefined && agentAfter.pssKib !== undefined && monitorMemory.pssKib !== undefined) {
    const pssPer = perContainer(agentBefore.pssKib, agentAfter.pssKib, monitorMemory.pssKib);
    console.log(`  overhead per container (PSS)                 ${mib(pssPer)}  (target ≤ ${TARGET_MIB} MB: ${pssPer <= TARGET_MIB * 1024 ? 'met' : 'MISSED'})`);
  }
  console.log(`  overhead per container (RSS)                 ${mib(rssPer)}  (target ≤ ${TARGET_MIB} MB: ${rssPer <= TARGET_MIB * 1024 ? 'met' : 'MISSED'})`);

  const removing = Date.now();
  for (const id of ids) await client.unary(ContainersService.remove, { id, force: true });
  console.log(`  removed ${count} containers in ${((Date.now() - removing) / 1000).toFixed(1)} s`);
} finally {
  await stack?.stop();
  rmSync(dir, { recursive: true, force: true });
}
