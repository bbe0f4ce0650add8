/**
 * Commit (issue #6): `Containers.Commit` of a running busybox container
 * that changed 50 MB across 1,000 files (each half random bytes, half
 * repeated text, so gzip has work of both kinds) against `tar -czf` of the
 * container's upper directory (the same bytes, the same gzip level 6).
 * The commit is the whole RPC: freeze, the snapshotter's diff streamed
 * gzip into the layer-store with both digests, thaw, config, manifest and
 * the tag in the mirror. Each commit writes the same layer (content
 * addressed) again in full. Medians of N runs, alternating.
 *
 * Strata runs as `strata up` runs it (bench/agent-stack.ts), each service
 * its own process on fresh state.
 *
 * Beside the wall times it prints CPU seconds per run, which a busy machine
 * disturbs less: each service process of the stack (utime + stime of
 * /proc/<pid>/stat, all its threads: zlib and hashing in the thread pool
 * included) and tar + gzip (bash's `times` of its children).
 *
 * Target: commit ≤ 1.3× tar -czf.
 * Run: npm run bench -- commit [runs] [--cpu-prof]
 *   --cpu-prof writes the V8 CPU profiles of the stack's Node.js services
 *   (main thread, start to exit) to bench/.work/profiles/commit (kept),
 *   named `<bin>-<pid>.cpuprofile`. Node refuses `--cpu-prof` in
 *   NODE_OPTIONS, so the services are started with an `--import` of a
 *   module that runs the inspector's profiler (PROFILER below).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { promisify } from 'node:util';
import { ContainerSpec, ContainersService, NetworkMode } from '@strata/api/containers/v1';
import { silentLogger } from '@strata/kit';
import { createGrpcSnapshotter } from '@strata/snapshots-grpc';
import { startAgentStack, type AgentStack } from './agent-stack.js';
import { middle, reportSeconds, root, timed, workDir } from './lib.js';

const execFileAsync = promisify(execFile);

/** CPU seconds (user + system, all threads) a process has used so far. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** The stack's Node.js service processes (name of their bin → pid), found by the stack directory in their command line. */
function serviceProcesses(stackDir: string): Map<string, number> {
  const found = new Map<string, number>();
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    let args: string[];
    try {
      args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    const bin = args.find((a) => a.startsWith(root) && a.endsWith('.mjs') && a.includes('/bin/'));
    if (bin !== undefined && args.some((a) => a.startsWith(stackDir))) found.set(bin.slice(bin.lastIndexOf('/') + 1, -'.mjs'.length), Number(pid));
  }
  return found;
}

/** Runs tar -czf in bash, returning the CPU seconds of its children (tar and gzip) from bash's `times`. */
async function tarCzf(tarball: string, dir: string): Promise<number> {
  const { stdout } = await execFileAsync('bash', ['-c', 'tar -czf "$0" -C "$1" . && times', tarball, dir]);
  const children = stdout.trim().split('\n')[1]!.split(/\s+/);
  return children.map((t) => /^(\d+)m([\d.]+)s$/.exec(t)!).reduce((sum, m) => sum + Number(m[1]) * 60 + Number(m[2]), 0);
}
const args = process.argv.slice(2);
const profile = args.includes('--cpu-prof');
const runs = Number(args.find((a) => !a.startsWith('--')) ?? 5);
const profiles = join(root, 'bench', '.work', 'profiles', 'commit');

/** Preloaded into every service with --cpu-prof: profiles the main thread and writes the profile when the process exits. */
const PROFILER = `
import { Session } from 'node:inspector';
import { writeFileSync } from 'node:fs';
const session = new Session();
session.connect();
session.post('Profiler.enable');
session.post('Profiler.start');
process.on('exit', () => {
  session.post('Profiler.stop', (err, result) => {
    const bin = (process.argv[1] ?? 'node').split('/').pop().replace(/\\.m?js$/, '');
    if (!err) writeFileSync(${JSON.stringify(profiles)} + '/' + bin + '-' + process.pid + '.cpuprofile', JSON.stringify(result.profile));
  });
});
`;
const FILES = 1000;
const HALF = 25 * 1024;

/** 1,000 files of 50 KiB (25 KiB random, 25 KiB of text) under /data, then /ready; keeps running. */
const WRITER = [
  `mkdir /data && i=0; while [ $i -lt ${FILES} ]; do`,
  `{ dd if=/dev/urandom bs=${HALF} count=1 2>/dev/null; yes "line of file $i with some repeated log text" | head -c ${HALF}; } > /data/f$i;`,
  'i=$((i+1)); done; touch /ready; exec sleep 100000',
].join(' ');

const spec = (image: string): ContainerSpec =>
  ContainerSpec.fromPartial({ image, name: 'commit-bench', cmd: ['sh', '-c', WRITER], networkMode: NetworkMode.NETWORK_MODE_NONE });

const dir = workDir('commit');
let stack: AgentStack | undefined;
if (profile) {
  mkdirSync(profiles, { recursive: true });
  // The stack's services are spawned with this process's environment.
  const preload = `data:text/javascript;base64,${Buffer.from(PROFILER).toString('base64')}`;
  process.env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} --import=${preload}`.trim();
}
try {
  stack = await startAgentStack(join(dir, 'stack'));
  const client = stack.client();
  const { container } = await client.unary(ContainersService.create, { spec: spec(stack.image) });
  const id = container!.id;
  await client.unary(ContainersService.start, { id });
  const rootfs = join(dir, 'stack', 'state', 'node-agent', 'containers', id, 'rootfs');
  const deadline = Date.now() + 120_000;
  while (!existsSync(join(rootfs, 'ready'))) {
    if (Date.now() > deadline) throw new Error('the container did not write its files within 120 s');
    await new Promise((r) => setTimeout(r, 100));
  }

  const snapshotter = createGrpcSnapshotter({ unixSocket: join(stack.runDir, 'snapshotter.sock') }, { logger: silentLogger() });
  const [mount] = await snapshotter.mounts(id);
  await snapshotter.close();
  const upperOption = mount?.options.find((o) => o.startsWith('upperdir='))?.slice('upperdir='.length);
  if (upperOption === undefined) throw new Error(`the container's snapshot is not an overlay mount: ${JSON.stringify(mount)}`);
  const upper = isAbsolute(upperOption) ? upperOption : join(mount?.cwd ?? '/', upperOption);
  const { stdout: du } = await execFileAsync('du', ['-sb', upper]);
  console.log(`commit: a container that wrote ${FILES} files, ${(Number(du.split('\t')[0]) / 1e6).toFixed(1)} MB in its upper directory; ${runs} runs each`);

  const tarball = join(dir, 'upper.tgz');
  const services = serviceProcesses(join(dir, 'stack'));
  const commit: number[] = [];
  const tar: number[] = [];
  const tarCpu: number[] = [];
  const serviceCpu = new Map<string, number[]>([...services.keys()].map((name) => [name, []]));
  let layerSize = 0;
  for (let i = 0; i < runs; i++) {
    tar.push(await timed(async () => tarCpu.push(await tarCzf(tarball, upper))));
    const before = new Map([...services].map(([name, pid]) => [name, cpuSeconds(pid)]));
    commit.push(
      await timed(async () => {
        const r = await client.unary(ContainersService.commit, { id, reference: `commit-bench:${i}`, message: 'bench', author: '', changes: [] });
        layerSize = r.layerSize;
      }),
    );
    for (const [name, pid] of services) serviceCpu.get(name)!.push(cpuSeconds(pid) - before.get(name)!);
  }
  const { stdout: tgz } = await execFileAsync('du', ['-b', tarball]);
  console.log(`  layer ${(layerSize / 1e6).toFixed(1)} MB; tar.gz ${(Number(tgz.split('\t')[0]) / 1e6).toFixed(1)} MB; medians: commit ${middle(commit).toFixed(2)} s, tar -czf ${middle(tar).toFixed(2)} s`);
  reportSeconds('commit (50 MB, 1000 files) vs tar -czf', middle(commit), middle(tar), 1.3);
  const runsOf = (values: readonly number[]) => values.map((v) => v.toFixed(2)).join(' ');
  console.log(`  wall s per run: commit ${runsOf(commit)}; tar -czf ${runsOf(tar)}`);
  const strataCpu = commit.map((_, i) => [...serviceCpu.values()].reduce((sum, values) => sum + values[i]!, 0));
  console.log(`  CPU s per run: commit (all services) ${runsOf(strataCpu)}; tar + gzip ${runsOf(tarCpu)}; medians ${middle(strataCpu).toFixed(2)} vs ${middle(tarCpu).toFixed(2)}`);
  for (const [name, values] of serviceCpu) console.log(`    ${name.padEnd(16)} ${runsOf(values)}`);
  await client.unary(ContainersService.remove, { id, force: true });
  if (profile) console.log(`  CPU profiles of the services (written when the stack stops): ${profiles}`);
} finally {
  await stack?.stop();
  rmSync(dir, { recursive: true, force: true });
}
