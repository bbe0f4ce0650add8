/**
 * Latency of running a short container (issue #5): `strata run --rm IMAGE
 * true` of an already unpacked busybox image against `ctr run --rm` of
 * Debian's containerd (the same image, imported from `strata save`), and
 * the node-agent's own part (gRPC Create, then an Attach that starts the
 * container, until the exit status) against a raw `runc run` of a prepared
 * bundle of the same busybox tree (minimal `runc spec`, its own runc root).
 *
 * Strata runs as `strata up` runs it (bench/agent-stack.ts: NATS,
 * layer-store, registry-mirror, snapshotter and node-agent processes, the
 * agent with its own bridge, chains, netns prefix, cgroup parent and runc
 * root).
 * containerd runs as its own instance (bench/containerd-process.ts) in its
 * own namespace. The four run alternately; medians of N runs. Like
 * `docker run --rm` and `ctr run --rm`, `strata run --rm` ends once the
 * container is removed, so both CLI times include the removal; the agent's
 * part ends at the exit status (its Remove is timed apart), and the raw
 * `runc run` ends when runc has deleted its container.
 *
 * Then a profile of the agent's part: a node-agent under `strace -f -e trace=execve,mount,umount2` runs P more containers;
 * the bench prints, per RPC, the commands and mounts the agent made with
 * their durations, and the median per step.
 *
 * Targets: CLI ≤ 1.5× ctr; agent-side ≤ 1.5× raw runc.
 *
 * Like for like (informational): every Strata container gets a default
 * seccomp profile, as Docker's do, while `runc spec`'s bundle and `ctr run`
 * have none. runc compiles the profile into BPF with libseccomp at every
 * start: about 4 ms here for the busybox (amd64) image's native ABI only,
 * 9 ms when the 32-bit ABI is listed too, as Docker's profile does (see
 * seccompArchitectures). So the bench also times `runc run` of the same
 * bundle with Strata's default profile (@strata/runtime-spec) and
 * `ctr run --rm --seccomp` (containerd's default profile), and prints the
 * ratios against those without a target: they show the agent's and the
 * CLI's own overhead apart from the profile's cost.
 * Run: npm run bench -- run [runs] [profile-runs]
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ContainerSpec, ContainersService, NetworkMode, type AttachResponse } from '@strata/api/containers/v1';
import { writeTestBundle, writeTestRootfs } from '@strata/container-runtime/testing';
import { defaultSeccompProfile } from '@strata/runtime-spec';
import { createClient, waitForHealthy, type RpcClient } from '@strata/grpc-kit';
import { startProcess, type TestProcess } from '@strata/kit/testing';
import { cgroupMounts } from '../libs/cgroups/src/testing/test-cgroups.js';
import { startAgentStack, type AgentStack } from './agent-stack.js';
import { startContainerd, type ContainerdProcess } from './containerd-process.js';
import { middle, reportSeconds, root, timed, workDir } from './lib.js';

const execFileAsync = promisify(execFile);
const runs = Number(process.argv[2] ?? 20);
const profileRuns = Number(process.argv[3] ?? 3);
const dir = workDir('run-latency');
/** The `strata` command as npm installs it (the package's bin, a shell launcher of bin/strata.mjs). */
const strataBin = join(root, 'apps/cli/bin/strata');
const suffix = Math.random().toString(16).slice(2, 8);
const ctrNamespace = `strata-bench-${suffix}`;

/**
 * CPU milliseconds (user + system) of a process and of its children it has
 * waited for, from /proc/<pid>/stat (clock ticks of 10 ms): the bench's own
 * children (the CLI, ctr, runc) once they have exited, or the node-agent
 * with the ip and runc processes it ran (not the monitors: they are
 * daemons, nor what they run).
 */
function cpuMs(pid: number | 'self'): { own: number; children: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number);
  return { own: (f[11]! + f[12]!) * 10, children: (f[13]! + f[14]!) * 10 };
}

/** The CPU milliseconds the bench's children spent in fn (they must have exited by its end). */
async function childCpu(fn: () => Promise<unknown>): Promise<number> {
  const before = cpuMs('self').children;
  await fn();
  return cpuMs('self').children - before;
}

/** `strata run --rm IMAGE true` as a process; throws unless it exits 0 without output. */
async function strataRun(stack: AgentStack): Promise<void> {
  const { stdout, stderr } = await execFileAsync(strataBin, ['run', '--run-dir', stack.runDir, '--rm', stack.image, 'true']);
  if (stdout !== '' || stderr !== '') throw new Error(`strata run printed:\n${stdout}${stderr}`);
}

/** The spec the CLI sends for `run --rm IMAGE true`. */
function runSpec(image: string, autoRemove: boolean): ContainerSpec {
  return ContainerSpec.fromPartial({ image, cmd: ['true'], networkMode: NetworkMode.NETWORK_MODE_BRIDGE, autoRemove });
}

/** Milliseconds since the epoch (the clock of strace -ttt), with fractions. */
const epochMs = () => performance.timeOrigin + performance.now();
type Marks = Record<'create' | 'created' | 'started' | 'exited' | 'removed', number>;

/**
 * The agent's part, as the CLI drives it: Create, an Attach that starts the
 * container once attached (its first response comes once it started), the
 * exit status on the Attach stream. Then Remove (timed apart). Returns the
 * seconds to the exit status and the wall-clock marks of each step.
 */
async function agentRun(client: RpcClient, image: string): Promise<{ seconds: number; removeSeconds: number; marks: Marks }> {
  const marks = {} as Marks;
  const start = process.hrtime.bigint();
  marks.create = epochMs();
  const { container } = await client.unary(ContainersService.create, { spec: runSpec(image, false) });
  const id = container!.id;
  marks.created = epochMs();
  const call = client.bidiStream(ContainersService.attach);
  try {
    const responses = call[Symbol.asyncIterator]() as AsyncIterator<AttachResponse>;
    call.write({ message: { $case: 'open', value: { id, stdin: false, start: true } } });
    const ready = await responses.next();
    if (ready.done || ready.value.message?.$case !== 'stdout') throw new Error('Attach ended before it started the container');
    marks.started = epochMs();
    let exitCode: number | undefined;
    for (;;) {
      const n = await responses.next();
      if (n.done) break;
      if (n.value.message?.$case === 'exit') exitCode = n.value.message.value.exitCode;
    }
    if (exitCode !== 0) throw new Error(`the container ended with ${exitCode ?? 'no exit status'}`);
    marks.exited = epochMs();
  } finally {
    call.end();
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const removeSeconds = await timed(() => client.unary(ContainersService.remove, { id, force: true }));
  marks.removed = epochMs();
  return { seconds, removeSeconds, marks };
}

/** Resolves once the agent lists no container (an --rm removal finished). */
async function agentEmpty(client: RpcClient): Promise<void> {
  for (let i = 0; i < 500; i++) {
    const { containers } = await client.unary(ContainersService.list, { all: true, filters: [] });
    if (containers.length === 0) return;
    await new Promise((r) => setTimeout(r, 2));
  }
  throw new Error('the --rm container was not removed within 1 s');
}

/** `runc run` of the bundle, attached, in its own runc root; runc deletes the container at exit. */
/**
 * `runc run` of bundle as id; returns the seconds of that command alone. A
 * foreground run deletes its container when it ends; the `runc delete` after
 * it (a no-op then, or the cleanup of a run that failed) is not timed.
 */
async function runcRun(runcRoot: string, bundle: string, id: string): Promise<number> {
  try {
    return await timed(() => execFileAsync('runc', ['--root', runcRoot, 'run', '--bundle', bundle, id]));
  } finally {
    await execFileAsync('runc', ['--root', runcRoot, 'delete', '-f', id]).catch(() => undefined);
  }
}

/** `ctr run --rm IMAGE ID true` in the bench's namespace. */
async function ctrRun(containerd: ContainerdProcess, image: string, id: string, seccomp = false): Promise<void> {
  await execFileAsync('ctr', ['-a', containerd.socket, '-n', ctrNamespace, 'run', '--rm', ...(seccomp ? ['--seccomp'] : []), image, id, 'true']);
}

/** A copy of bundle (the same rootfs) whose config.json also carries Strata's default seccomp profile, as the agent's specs do. */
async function withSeccomp(bundle: string, copy: string): Promise<string> {
  mkdirSync(copy, { recursive: true });
  const spec = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8')) as { linux: Record<string, unknown> };
  spec.linux.seccomp = defaultSeccompProfile();
  writeFileSync(join(copy, 'config.json'), JSON.stringify(spec, null, 2));
  return copy;
}

/** Imports the stack's image into containerd from a `strata save` archive; returns the name containerd gave it. */
async function importImage(stack: AgentStack, containerd: ContainerdProcess): Promise<string> {
  const archive = join(dir, 'busybox.tar');
  await execFileAsync(strataBin, ['save', '--run-dir', stack.runDir, '-o', archive, stack.image]);
  await execFileAsync('ctr', ['-a', containerd.socket, '-n', ctrNamespace, 'image', 'import', archive]);
  const { stdout } = await execFileAsync('ctr', ['-a', containerd.socket, '-n', ctrNamespace, 'image', 'ls', '-q']);
  const name = stdout.trim().split('\n')[0];
  if (!name) throw new Error('ctr image import imported no image');
  return name;
}

/** Removes the cgroups containerd made for the bench's namespace (`/<namespace>` under each controller). */
async function removeCtrCgroups(): Promise<void> {
  for (const mount of await cgroupMounts()) {
    const path = join(mount, ctrNamespace);
    if (existsSync(path)) rmdirSync(path);
  }
}

/** One line of `strace -f -ttt` output, parsed. */
interface TraceEvent {
  pid: number;
  at: number;
  kind: 'exec' | 'exit' | 'mount' | 'umount';
  text: string;
}

function parseTrace(text: string): TraceEvent[] {
  const events: TraceEvent[] = [];
  const pendingExec = new Map<number, TraceEvent>();
  for (const line of text.split('\n')) {
    const m = /^(\d+)\s+(\d+\.\d+)\s+(.*)$/.exec(line);
    if (!m) continue;
    const pid = Number(m[1]);
    const at = Number(m[2]) * 1000;
    const rest = m[3]!;
    if (rest.startsWith('execve(')) {
      const argv = /\[(.*?)\]/.exec(rest)?.[1] ?? '';
      const words = [...argv.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((w) => w[1]!);
      const event: TraceEvent = { pid, at, kind: 'exec', text: summarize(words) };
      if (rest.includes('<unfinished')) pendingExec.set(pid, event);
      else if (rest.endsWith('= 0')) events.push(event);
    } else if (rest.startsWith('<... execve resumed>')) {
      const event = pendingExec.get(pid);
      pendingExec.delete(pid);
      if (event !== undefined && rest.endsWith('= 0')) events.push(event);
    } else if (rest.startsWith('+++ exited') || rest.startsWith('+++ killed')) {
      events.push({ pid, at, kind: 'exit', text: rest });
    } else if (rest.startsWith('mount(') || rest.startsWith('umount2(')) {
      events.push({ pid, at, kind: rest.startsWith('mount(') ? 'mount' : 'umount', text: rest.slice(0, 90) });
    }
  }
  return events;
}

/** A command line without its long ids: `runc create`, `ip netns add`, `iptables -A`... */
function summarize(words: string[]): string {
  const name = (words[0] ?? '?').split('/').at(-1)!;
  const interesting = words.slice(1).filter((w) => !/^[0-9a-f]{12,}$/.test(w) && !w.startsWith('/') && !/^\d/.test(w));
  if (name === 'runc') return `runc ${interesting.find((w) => ['create', 'start', 'delete', 'kill', 'state', 'run'].includes(w)) ?? interesting.join(' ')}`;
  if (name === 'iptables' || name === 'ip6tables') return `${name} ${interesting.filter((w) => /^-[A-Z]$/.test(w) || w === '-t').join(' ')}`.trim();
  return [name, ...interesting.slice(0, 3)].join(' ');
}

/** Per step of each profiled run: the commands and mounts between its marks, with durations. */
function printProfile(events: TraceEvent[], profiles: Marks[]): void {
  const execs = new Map<number, TraceEvent>();
  const processes: Array<{ pid: number; start: number; end: number; text: string }> = [];
  const ignored = new Set<number>();
  for (const e of events) {
    if (e.kind === 'exec') {
      execs.set(e.pid, e);
      if (e.text.startsWith('runc') || e.text.startsWith('strata-monitor')) ignored.add(e.pid);
    } else if (e.kind === 'exit') {
      const started = execs.get(e.pid);
      if (started) processes.push({ pid: e.pid, start: started.at, end: e.at, text: started.text });
      execs.delete(e.pid);
    }
  }
  const mounts = events.filter((e) => (e.kind === 'mount' || e.kind === 'umount') && !ignored.has(e.pid));
  const steps: Array<[string, keyof Marks, keyof Marks]> = [
    ['Create', 'create', 'created'],
    ['Attach and start', 'created', 'started'],
    ['exit status', 'started', 'exited'],
    ['Remove', 'exited', 'removed'],
  ];
  const perStep = new Map<string, number[]>();
  profiles.forEach((marks, i) => {
    console.log(`  profile run ${i + 1}:`);
    for (const [name, from, to] of steps) {
      const t0 = marks[from];
      const t1 = marks[to];
      perStep.set(name, [...(perStep.get(name) ?? []), t1 - t0]);
      console.log(`    ${name.padEnd(22)} ${(t1 - t0).toFixed(1).padStart(7)} ms`);
      const inStep = processes.filter((p) => p.start >= t0 && p.start < t1).sort((a, b) => a.start - b.start);
      const grouped = new Map<string, { count: number; ms: number }>();
      for (const p of inStep) {
        const g = grouped.get(p.text) ?? { count: 0, ms: 0 };
        g.count += 1;
        g.ms += p.end - p.start;
        grouped.set(p.text, g);
      }
      for (const [text, g] of grouped) console.log(`      ${`+${(inStep.find((p) => p.text === text)!.start - t0).toFixed(1)}`.padStart(8)} ms  ${text}${g.count > 1 ? ` ×${g.count}` : ''}: ${g.ms.toFixed(1)} ms`);
      const m = mounts.filter((e) => e.at >= t0 && e.at < t1);
      if (m.length > 0) console.log(`      mount/umount syscalls by the agent: ${m.length}`);
    }
  });
  console.log(`  medians: ${[...perStep].map(([name, ms]) => `${name} ${middle(ms).toFixed(1)} ms`).join(', ')}`);
}

/** A node-agent for the stack under strace; its client, and stop (the agent by its pid) returning the trace and the agent's output. */
async function startTracedAgent(stack: AgentStack): Promise<{ client: RpcClient; stop: () => Promise<{ trace: string; log: string }> }> {
  const traceFile = join(dir, 'agent.strace');
  const p: TestProcess = startProcess('strace', [
    ...['-f', '--seccomp-bpf', '-ttt', '-q', '-s', '256', '-e', 'trace=execve,mount,umount2', '-e', 'signal=none', '-o', traceFile],
    ...stack.agentCommand,
  ]);
  const agentPid = async (): Promise<number | undefined> => {
    for (const task of readdirSync(`/proc/${p.pid}/task`)) {
      const children = readFileSync(`/proc/${p.pid}/task/${task}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
      if (children[0] !== undefined) return Number(children[0]);
    }
    return undefined;
  };
  const stop = async () => {
    const pid = await agentPid().catch(() => undefined);
    if (pid !== undefined) process.kill(pid, 'SIGTERM');
    await p.stop('SIGTERM', 20_000);
    return { trace: existsSync(traceFile) ? readFileSync(traceFile, 'utf8') : '', log: p.output() };
  };
  try {
    await waitForHealthy({ unixSocket: stack.agentSocket }, { timeoutMs: 60_000 });
  } catch (err) {
    const { log } = await stop();
    throw new Error(`the traced node-agent did not start: ${(err as Error).message}\n${log}`);
  }
  return { client: createClient({ unixSocket: stack.agentSocket }), stop };
}

/** Whether the launcher (apps/cli/bin/strata.cjs) runs the bundle (no source newer than it), as it decides. */
function cliBundleFresh(): boolean {
  try {
    const built = statSync(join(root, 'apps/cli/dist/strata.cjs')).mtimeMs;
    const { inputs } = JSON.parse(readFileSync(join(root, 'apps/cli/dist/inputs.json'), 'utf8')) as { inputs: string[] };
    return inputs.every((path) => statSync(join(root, path)).mtimeMs <= built);
  } catch {
    return false;
  }
}

execFileSync(process.execPath, [join(root, 'tools/scripts/build-cli.mjs')], { stdio: 'inherit' });
console.log(`run latency: strata run --rm vs ctr run --rm, agent's part vs runc run; median of ${runs} runs, work dir ${dir}`);
let stack: AgentStack | undefined;
let containerd: ContainerdProcess | undefined;
let ctrSkipped: string | undefined;
try {
  stack = await startAgentStack(join(dir, 'stack'));
  const client = stack.client();
  await strataRun(stack);
  await agentEmpty(client);

  const rootfs = join(dir, 'rootfs');
  await writeTestRootfs(rootfs);
  const bundle = await writeTestBundle(join(dir, 'bundle'), { rootfs, args: ['true'] });
  const seccompBundle = await withSeccomp(bundle, join(dir, 'bundle-seccomp'));
  const runcRoot = join(dir, 'runc');

  let ctrImage = '';
  try {
    containerd = await startContainerd(join(dir, 'containerd'));
    ctrImage = await importImage(stack, containerd);
    await ctrRun(containerd, ctrImage, `warm-${suffix}`);
    await ctrRun(containerd, ctrImage, `warm-seccomp-${suffix}`, true);
  } catch (err) {
    ctrSkipped = (err as Error).message.split('\n').slice(0, 3).join(' ');
    console.log(`  ctr column skipped: ${ctrSkipped}`);
  }
  await runcRun(runcRoot, bundle, `warm-${suffix}`);
  await runcRun(runcRoot, seccompBundle, `warm-seccomp-${suffix}`);
  await agentRun(client, stack.image);

  const cli: number[] = [];
  const cliRemoval: number[] = [];
  const ctr: number[] = [];
  const runc: number[] = [];
  /** The like-for-like references: runc and ctr with a default seccomp profile too (see the module comment). */
  const runcSeccomp: number[] = [];
  const ctrSeccomp: number[] = [];
  const agentSide: number[] = [];
  const agentRemove: number[] = [];
  const agentMarks: Marks[] = [];
  const cpu = { runc: [] as number[], ctr: [] as number[], cli: [] as number[], agent: [] as number[] };
  const agentPid = stack.agent()?.pid;
  const agentCpu = () => (agentPid === undefined ? 0 : cpuMs(agentPid).own + cpuMs(agentPid).children);
  for (let i = 0; i < runs; i++) {
    cpu.runc.push(await childCpu(async () => runc.push(await runcRun(runcRoot, bundle, `bench-${suffix}-${i}`))));
    if (containerd !== undefined && ctrSkipped === undefined) {
      cpu.ctr.push(await childCpu(async () => ctr.push(await timed(() => ctrRun(containerd!, ctrImage, `bench-${suffix}-${i}`)))));
      ctrSeccomp.push(await timed(() => ctrRun(containerd!, ctrImage, `bench-seccomp-${suffix}-${i}`, true)));
    }
    runcSeccomp.push(await runcRun(runcRoot, seccompBundle, `bench-seccomp-${suffix}-${i}`));
    cpu.cli.push(await childCpu(async () => cli.push(await timed(() => strataRun(stack!)))));
    cliRemoval.push(await timed(() => agentEmpty(client)));
    const before = agentCpu();
    const a = await agentRun(client, stack.image);
    cpu.agent.push(agentCpu() - before);
    agentSide.push(a.seconds);
    agentRemove.push(a.removeSeconds);
    agentMarks.push(a.marks);
  }
  if (!cliBundleFresh()) console.log('  (a CLI source changed during the runs: some strata runs went through tsx instead of the bundle)');
  const ms = (values: number[]) => `${(middle(values) * 1000).toFixed(0)} ms`;
  console.log(
    `  medians: runc run ${ms(runc)}; ctr run --rm ${ctr.length > 0 ? ms(ctr) : 'skipped'}; strata run --rm ${ms(cli)} (then ${ms(cliRemoval)} until the agent listed no container); ` +
      `agent Create→exit ${ms(agentSide)}, Remove ${ms(agentRemove)}`,
  );
  const step = (from: keyof Marks, to: keyof Marks) => `${middle(agentMarks.map((m) => m[to] - m[from])).toFixed(1)} ms`;
  console.log(
    `  agent's steps (medians): Create ${step('create', 'created')}, Attach and start ${step('created', 'started')}, ` +
      `exit status after the start ${step('started', 'exited')}`,
  );
  const cpuText = (values: number[]) => (values.length === 0 ? 'skipped' : `${middle(values).toFixed(0)} ms`);
  console.log(
    `  CPU medians (user + system, 10 ms ticks): runc run ${cpuText(cpu.runc)}; ctr (the client alone) ${cpuText(cpu.ctr)}; ` +
      `strata CLI ${cpuText(cpu.cli)}; node-agent Create→exit and Remove, with the ip and runc processes it ran (not the monitors) ${cpuText(cpu.agent)}`,
  );
  console.log(
    `  like for like, each reference with a default seccomp profile as Strata's containers have (no target): runc run ${ms(runcSeccomp)}` +
      `${ctrSeccomp.length > 0 ? `, ctr run --rm --seccomp ${ms(ctrSeccomp)}` : ''} (medians)`,
  );
  if (ctr.length > 0) {
    reportSeconds('strata run --rm vs ctr run --rm', middle(cli), middle(ctr), 1.5);
    reportSeconds('  the same vs ctr run --seccomp', middle(cli), middle(ctrSeccomp));
  }
  reportSeconds('agent Create→exit vs runc run', middle(agentSide), middle(runc), 1.5);
  reportSeconds('  the same vs runc run + seccomp', middle(agentSide), middle(runcSeccomp));

  if (profileRuns > 0) {
    await stack.stopAgent();
    const traced = await startTracedAgent(stack);
    const profiles: Marks[] = [];
    let result: { trace: string; log: string };
    try {
      await agentRun(traced.client, stack.image);
      for (let i = 0; i < profileRuns; i++) profiles.push((await agentRun(traced.client, stack.image)).marks);
    } finally {
      traced.client.close();
      result = await traced.stop();
    }
    console.log(`profile of the agent's part under strace (slower than untraced; ${profileRuns} runs):`);
    printProfile(parseTrace(result.trace), profiles);
  }
} finally {
  await containerd?.stop().catch((err: unknown) => console.error(`containerd stop: ${String(err)}`));
  await removeCtrCgroups().catch((err: unknown) => console.error(`containerd cgroups: ${String(err)}`));
  await stack?.stop();
  rmSync(dir, { recursive: true, force: true });
}
