import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { connect } from 'node:net';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { errorKind, silentLogger } from '@strata/kit';
import { startProcess, tempDir, waitFor, type TestProcess } from '@strata/kit/testing';
import { encodeFrame, Frame, FrameDecoder } from './attachment.js';
import { createRuntime, type Runtime } from './runtime.js';
import { isSameProcess, processStartTime, readMonitorRecord } from './state-files.js';
import { ensureMonitorBuilt, writeTestBundle, writeTestRootfs } from './testing/index.js';

const run = promisify(execFile);
const tsx = createRequire(import.meta.url).resolve('tsx');
const childScript = fileURLToPath(new URL('./testing/runtime-child.ts', import.meta.url));
const suffix = Math.random().toString(36).slice(2, 8);

let tmp: { path: string; remove: () => void };
let rootfs: string;
let stateRoot: string;
let runcRoot: string;
let runtime: Runtime;
const ids = new Set<string>();
const children: TestProcess[] = [];
let seq = 0;

function newId(): string {
  const id = `rt-${suffix}-${++seq}`;
  ids.add(id);
  return id;
}

async function bundle(id: string, args: string[], tty = false): Promise<string> {
  return writeTestBundle(join(tmp.path, 'bundles', id), { rootfs, args, tty });
}

function readUntil(stream: Readable, pattern: RegExp, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => {
      stream.off('data', onData);
      reject(new Error(`timed out waiting for ${pattern} in ${JSON.stringify(text)}`));
    }, timeoutMs);
    const onData = (chunk: Buffer) => {
      text += chunk.toString('utf8');
      if (pattern.test(text)) {
        clearTimeout(timer);
        stream.off('data', onData);
        resolve(text);
      }
    };
    stream.on('data', onData);
  });
}

async function collectLogs(id: string, options: { tail?: number; follow?: boolean } = {}) {
  const records = [];
  for await (const rec of runtime.logs(id, options)) records.push(rec);
  return records;
}

async function vmRssKb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
}

async function removeContainer(id: string): Promise<void> {
  await run('runc', ['--root', runcRoot, 'delete', '-f', id]).catch(() => undefined);
  const dir = join(stateRoot, id);
  const monitor = await readMonitorRecord(dir).catch(() => undefined);
  if (monitor && (await isSameProcess(monitor.monitorPid, monitor.monitorStartTime))) {
    process.kill(monitor.monitorPid, 'SIGKILL');
  }
  await rm(dir, { recursive: true, force: true });
}

beforeAll(async () => {
  await ensureMonitorBuilt();
  tmp = tempDir('strata-rt-');
  rootfs = join(tmp.path, 'rootfs');
  stateRoot = join(tmp.path, 'state');
  runcRoot = join(tmp.path, 'runc');
  await writeTestRootfs(rootfs);
  runtime = createRuntime({ stateRoot, runcRoot, logger: silentLogger() });
});

afterEach(async () => {
  for (const child of children.splice(0)) await child.stop('SIGKILL');
  for (const id of ids) await removeContainer(id);
  ids.clear();
});

afterAll(() => tmp?.remove());

describe('container runtime with runc and strata-monitor', () => {
  it('runs echo: stdout and stderr in the log, exit code 0', async () => {
    const id = newId();
    const created = await runtime.create(id, await bundle(id, ['sh', '-c', 'echo hello; echo oops >&2']));
    expect(created.pid).toBeGreaterThan(0);
    expect((await runtime.state(id)).status).toBe('created');
    await runtime.start(id);
    const exit = await runtime.wait(id);
    expect(exit).toMatchObject({ exitCode: 0, pid: created.pid });
    expect(exit.signal).toBeUndefined();
    const records = await collectLogs(id);
    expect(records.map((r) => [r.stream, r.log])).toEqual([
      ['stdout', 'hello\n'],
      ['stderr', 'oops\n'],
    ]);
    expect(Date.parse(records[0]!.time)).toBeGreaterThan(Date.now() - 60_000);
    await runtime.delete(id);
    await expect(stat(join(stateRoot, id))).rejects.toThrow();
    // Renamed away at once, then deleted in the background.
    await waitFor(async () => !(await readdir(stateRoot)).some((name) => name.includes(id)), () => `no state of ${id} left in ${stateRoot}`);
  });

  it('deletes on recover what a crash left of the state of deleted containers, and lists none of it', async () => {
    const left = join(stateRoot, `.removed-${newId()}-0123abcd`);
    await mkdir(join(left, 'exec'), { recursive: true });
    await writeFile(join(left, 'monitor.json'), '{}');
    const found = await createRuntime({ stateRoot, runcRoot, logger: silentLogger() }).recover();
    expect([...found.running, ...found.exited, ...found.failed].map((c) => c.id).filter((c) => left.includes(c))).toEqual([]);
    await waitFor(async () => !(await readdir(stateRoot)).includes(left.slice(stateRoot.length + 1)), () => `${left} deleted`);
  });

  it('propagates exit code 3', async () => {
    const id = newId();
    await runtime.create(id, await bundle(id, ['sh', '-c', 'exit 3']));
    await runtime.start(id);
    expect((await runtime.wait(id)).exitCode).toBe(3);
    expect((await runtime.state(id)).status).toBe('stopped');
  });

  it('run starts at once, with attachments made in beforeStart seeing all output', async () => {
    const id = newId();
    const seen: string[] = [];
    let attached: Promise<string> | undefined;
    const started = await runtime.run(id, await bundle(id, ['sh', '-c', 'echo first; echo second >&2; exit 5']), {
      beforeStart: async () => {
        seen.push((await readMonitorRecord(join(stateRoot, id)))?.pid === 0 ? 'no process yet' : 'process exists');
        const a = await runtime.attach(id);
        const chunks: Buffer[] = [];
        a.stdout.on('data', (c: Buffer) => chunks.push(c));
        a.stderr.on('data', (c: Buffer) => chunks.push(c));
        attached = a.closed.then((exit) => `${Buffer.concat(chunks).toString('utf8')}exit ${exit?.exitCode}`);
      },
    });
    expect(started.pid).toBeGreaterThan(0);
    expect(seen).toEqual(['no process yet']);
    expect((await runtime.wait(id)).exitCode).toBe(5);
    expect((await attached!).split('\n').sort()).toEqual(['exit 5', 'first', 'second']);
    await runtime.delete(id);
  });

  it('run reports what runc refused, and a failing beforeStart, leaving nothing behind', async () => {
    const id = newId();
    const err = await runtime.run(id, await bundle(id, ['/no/such/binary'])).catch((e: unknown) => e);
    expect(errorKind(err)).toBe('FailedPrecondition');
    expect((err as Error).message).toMatch(new RegExp(`^cannot run container ${id}: .*no such file or directory`));
    await expect(stat(join(stateRoot, id))).rejects.toThrow();
    const other = newId();
    await expect(runtime.run(other, await bundle(other, ['true']), { beforeStart: () => Promise.reject(new Error('not now')) })).rejects.toThrow('not now');
    await expect(stat(join(stateRoot, other))).rejects.toThrow();
  });

  it('runs with the monitor started ahead by prestart, and starts another for other options', async () => {
    const id = newId();
    const b = await bundle(id, ['sh', '-c', 'echo ahead']);
    await runtime.prestart(id, b, { logMaxFiles: 2 });
    const ahead = await readMonitorRecord(join(stateRoot, id));
    expect(ahead?.pid).toBe(0);
    const started = await runtime.run(id, b, { logMaxFiles: 2 });
    expect(started.monitorPid).toBe(ahead?.monitorPid);
    expect((await runtime.wait(id)).exitCode).toBe(0);
    expect((await collectLogs(id)).map((r) => r.log)).toEqual(['ahead\n']);
    await runtime.delete(id);

    const other = newId();
    const ob = await bundle(other, ['true']);
    await runtime.prestart(other, ob, { logMaxFiles: 2 });
    const first = await readMonitorRecord(join(stateRoot, other));
    const rerun = await runtime.run(other, ob, { logMaxFiles: 3 });
    expect(rerun.monitorPid).not.toBe(first?.monitorPid);
    expect(await isSameProcess(first!.monitorPid, first!.monitorStartTime)).toBe(false);
    expect((await runtime.wait(other)).exitCode).toBe(0);
    await runtime.delete(other);
  });

  it('ends a monitor started ahead on delete, and a new runtime forgets one that never ran', async () => {
    const id = newId();
    await runtime.prestart(id, await bundle(id, ['true']));
    const monitor = await readMonitorRecord(join(stateRoot, id));
    const began = performance.now();
    await runtime.delete(id).catch((err: unknown) => expect(errorKind(err)).toBe('NotFound'));
    expect(performance.now() - began).toBeLessThan(2000);
    await waitFor(async () => !(await isSameProcess(monitor!.monitorPid, monitor!.monitorStartTime)), () => 'the monitor to end');
    await expect(stat(join(stateRoot, id))).rejects.toThrow();

    // An agent that died while a monitor waited: the monitor ends, the next runtime reports no exit and runs the container.
    const gone = newId();
    const b = await bundle(gone, ['true']);
    await runtime.prestart(gone, b);
    const waiting = await readMonitorRecord(join(stateRoot, gone));
    process.kill(waiting!.monitorPid, 'SIGKILL');
    await waitFor(async () => !(await isSameProcess(waiting!.monitorPid, waiting!.monitorStartTime)), () => 'the monitor to end');
    const next = createRuntime({ stateRoot, runcRoot, logger: silentLogger() });
    const found = await next.recover();
    expect(found.exited.map((e) => e.id)).not.toContain(gone);
    expect(found.running.map((r) => r.id)).not.toContain(gone);
    await expect(stat(join(stateRoot, gone))).rejects.toThrow();
    await next.run(gone, b);
    expect((await next.wait(gone)).exitCode).toBe(0);
    await next.delete(gone);
  });

  it('ends the monitors started ahead on close, and the next runtime forgets them', async () => {
    const id = newId();
    const b = await bundle(id, ['true']);
    const closing = createRuntime({ stateRoot, runcRoot, logger: silentLogger() });
    await closing.prestart(id, b);
    const monitor = await readMonitorRecord(join(stateRoot, id));
    const began = performance.now();
    await closing.close();
    await waitFor(async () => !(await isSameProcess(monitor!.monitorPid, monitor!.monitorStartTime)), () => 'the monitor to end', 5000);
    // A held monitor ends by itself only after 10 s without the agent's byte.
    expect(performance.now() - began).toBeLessThan(3000);
    const next = createRuntime({ stateRoot, runcRoot, logger: silentLogger() });
    const found = await next.recover();
    expect(found.running.map((r) => r.id)).not.toContain(id);
    await next.run(id, b);
    expect((await next.wait(id)).exitCode).toBe(0);
    await next.delete(id);
  });

  it('gives a TTY whose size follows resize', async () => {
    const id = newId();
    await runtime.create(id, await bundle(id, ['sh', '-c', 'tty; stty size; read line; stty size'], true), {
      tty: true,
      stdin: true,
    });
    const attachment = await runtime.attach(id);
    await runtime.resize(id, 120, 40);
    const first = readUntil(attachment.stdout, /40 120/);
    await runtime.start(id);
    expect(await first).toMatch(/\/dev\/pts\/\d+/);
    const second = readUntil(attachment.stdout, /20 90/);
    attachment.resize(90, 20);
    attachment.stdin.write('go\n');
    await second;
    expect((await runtime.wait(id)).exitCode).toBe(0);
    await attachment.closed;
    const logged = (await collectLogs(id)).map((r) => r.log).join('');
    expect(logged).toContain('40 120\r\n');
    expect(logged).toContain('20 90\r\n');
  });

  it('feeds stdin through attach (cat echoes) and ends it on stdin.end()', async () => {
    const id = newId();
    await runtime.create(id, await bundle(id, ['cat']), { stdin: true });
    await runtime.start(id);
    const attachment = await runtime.attach(id);
    const echoed = readUntil(attachment.stdout, /ping\npong\n/);
    attachment.stdin.write('ping\n');
    attachment.stdin.write('pong\n');
    await echoed;
    attachment.stdin.end();
    expect(await attachment.closed).toMatchObject({ exitCode: 0 });
    expect((await runtime.wait(id)).exitCode).toBe(0);
    expect((await collectLogs(id)).map((r) => r.log)).toEqual(['ping\n', 'pong\n']);
  });

  it.each([
    ['writes to it after the process ended (its close of stdin comes late)', false],
    ['ends its side of the connection after its input', true],
  ])('sends all output and the exit to a client that %s', async (_what, halfClose) => {
    const id = newId();
    await runtime.create(id, await bundle(id, ['sh', '-c', 'read line; echo "got $line"; echo oops >&2; exit 3']), { stdin: true });
    await runtime.start(id);
    const socket = connect({ path: join(stateRoot, id, 'attach.sock'), allowHalfOpen: halfClose });
    try {
      await once(socket, 'connect');
      const errors: string[] = [];
      socket.on('error', (e: NodeJS.ErrnoException) => errors.push(e.code ?? e.message));
      const received: Buffer[] = [];
      const ended = new Promise<void>((resolve) => socket.once('close', () => resolve()));
      socket.on('data', (chunk: Buffer) => received.push(chunk));
      if (halfClose) {
        socket.end(Buffer.concat([encodeFrame(Frame.Stdin, Buffer.from('hi\n')), encodeFrame(Frame.CloseStdin)]));
      } else {
        // Nothing is read until the late frame is written: the output and the exit wait in the socket meanwhile.
        socket.pause();
        socket.write(encodeFrame(Frame.Stdin, Buffer.from('hi\n')));
        expect((await runtime.wait(id)).exitCode).toBe(3);
        await sleep(100);
        socket.write(encodeFrame(Frame.CloseStdin));
        await sleep(50);
        socket.resume();
      }
      await ended;
      const frames = new FrameDecoder().push(Buffer.concat(received));
      const text = (type: number) => Buffer.concat(frames.filter((f) => f.type === type).map((f) => f.payload)).toString('utf8');
      const exit = frames.find((f) => f.type === Frame.Exit);
      expect({
        errors,
        stdout: text(Frame.Stdout),
        stderr: text(Frame.Stderr),
        exitCode: exit && (JSON.parse(exit.payload.toString('utf8')) as { exitCode: number }).exitCode,
      }).toEqual({ errors: [], stdout: 'got hi\n', stderr: 'oops\n', exitCode: 3 });
    } finally {
      socket.destroy();
    }
  });

  it('keeps a log flood under the cap with a small monitor', { timeout: 60_000 }, async () => {
    const id = newId();
    const maxBytes = 1024 * 1024;
    const created = await runtime.create(id, await bundle(id, ['sh', '-c', 'yes | head -c 50000000; echo; echo done']), {
      logMaxBytes: maxBytes,
      logMaxFiles: 3,
    });
    let maxRss = await vmRssKb(created.monitorPid);
    const began = Date.now();
    await runtime.start(id);
    const exited = runtime.wait(id);
    let finished = false;
    void exited.then(() => (finished = true));
    while (!finished) {
      maxRss = Math.max(maxRss, await vmRssKb(created.monitorPid).catch(() => 0));
      await new Promise((r) => setTimeout(r, 20));
    }
    expect((await exited).exitCode).toBe(0);
    const files = (await readdir(join(stateRoot, id))).filter((f) => f.startsWith('log.json')).sort();
    expect(files).toEqual(['log.json', 'log.json.1', 'log.json.2']);
    for (const f of files) expect((await stat(join(stateRoot, id, f))).size).toBeLessThanOrEqual(maxBytes);
    expect(maxRss).toBeLessThan(2048);
    const last = await collectLogs(id, { tail: 2 });
    expect(last.map((r) => r.log)).toEqual(['\n', 'done\n']);
    const seconds = (Date.now() - began) / 1000;
    console.log(`log flood of 50 MB in ${seconds} s; monitor VmRSS peak: ${maxRss} kB`);
  });

  it('tails and follows the log until the container ends', async () => {
    const id = newId();
    await runtime.create(id, await bundle(id, ['sh', '-c', 'for i in 1 2 3 4 5; do echo line$i; sleep 0.1; done']));
    await runtime.start(id);
    const followed = await collectLogs(id, { follow: true });
    expect(followed.map((r) => r.log)).toEqual(['line1\n', 'line2\n', 'line3\n', 'line4\n', 'line5\n']);
    expect((await collectLogs(id, { tail: 2 })).map((r) => r.log)).toEqual(['line4\n', 'line5\n']);
  });

  it('keeps a log in logDir across delete and create, rotated by the same caps', async () => {
    const id = newId();
    const logDir = join(tmp.path, 'logs', id);
    const b = await bundle(id, ['sh', '-c', 'echo run-$(cat /proc/sys/kernel/random/uuid | head -c 4); head -c 1500 /dev/zero | tr "\\0" x; echo']);
    for (let i = 0; i < 3; i++) {
      await runtime.create(id, b, { logDir, logMaxBytes: 4096, logMaxFiles: 3 });
      await runtime.start(id);
      await runtime.wait(id);
      await runtime.delete(id);
    }
    await expect(stat(join(stateRoot, id))).rejects.toThrow();
    const files = (await readdir(logDir)).sort();
    expect(files).toEqual(['log.json', 'log.json.1']);
    for (const f of files) expect((await stat(join(logDir, f))).size).toBeLessThanOrEqual(4096);
    const records = [];
    for await (const r of runtime.logs(id, { logDir })) records.push(r.log);
    expect(records.filter((l) => l.startsWith('run-'))).toHaveLength(3);
    const empty = [];
    for await (const r of runtime.logs(id, { logDir: join(tmp.path, 'logs', 'none') })) empty.push(r);
    expect(empty).toEqual([]);
  });

  it('hands each monitor to placeMonitor and returns once it is placed; a failed placement removes what the monitor started', async () => {
    const placed: Array<{ id: string; pid: number }> = [];
    const placing = createRuntime({
      stateRoot,
      runcRoot,
      logger: silentLogger(),
      placeMonitor: async (id, pid) => {
        await sleep(150);
        placed.push({ id, pid });
      },
    });
    const id = newId();
    const created = await placing.create(id, await bundle(id, ['sleep', '30']));
    expect(placed).toEqual([{ id, pid: created.monitorPid }]);
    await placing.start(id);
    const exec = await placing.exec(id, { args: ['true'], cwd: '/' });
    expect(placed.map((p) => p.id)).toEqual([id, id]);
    exec.stdout.resume();
    exec.stderr.resume();
    expect((await exec.exited).exitCode).toBe(0);
    const refusing = createRuntime({
      stateRoot,
      runcRoot,
      logger: silentLogger(),
      placeMonitor: async () => {
        await sleep(150);
        throw new Error('no cgroup');
      },
    });
    const other = newId();
    await expect(refusing.create(other, await bundle(other, ['sleep', '30']))).rejects.toThrow('no cgroup');
    await expect(stat(join(stateRoot, other))).rejects.toThrow();
    await expect(stat(join(runcRoot, other))).rejects.toThrow();
  });

  it('kills with SIGTERM (trapped) and SIGKILL', async () => {
    const trapping = newId();
    const script = 'trap "echo got TERM; exit 42" TERM; echo ready; while :; do sleep 0.1; done';
    await runtime.create(trapping, await bundle(trapping, ['sh', '-c', script]));
    await runtime.start(trapping);
    await waitFor(
      async () => (await collectLogs(trapping)).length > 0,
      () => 'ready',
    );
    await runtime.kill(trapping, 'SIGTERM');
    expect((await runtime.wait(trapping)).exitCode).toBe(42);
    expect((await collectLogs(trapping)).map((r) => r.log)).toEqual(['ready\n', 'got TERM\n']);

    const killed = newId();
    await runtime.create(killed, await bundle(killed, ['sleep', '100']));
    await runtime.start(killed);
    await runtime.kill(killed, 'SIGKILL');
    expect(await runtime.wait(killed)).toMatchObject({ exitCode: 137, signal: 'SIGKILL' });
  });

  it('exec returns the exit code and streams stdout, stderr and stdin', async () => {
    const id = newId();
    await runtime.create(id, await bundle(id, ['sleep', '100']));
    await runtime.start(id);
    const proc = await runtime.exec(id, { args: ['sh', '-c', 'echo out; echo err >&2; exit 5'], cwd: '/' });
    const [out, err] = await Promise.all([readUntil(proc.stdout, /out\n/), readUntil(proc.stderr, /err\n/)]);
    expect([out, err]).toEqual(['out\n', 'err\n']);
    expect((await proc.exited).exitCode).toBe(5);

    const cat = await runtime.exec(id, { args: ['cat'], cwd: '/' }, { stdin: true });
    const echoed = readUntil(cat.stdout, /hello exec\n/);
    cat.stdin.end('hello exec\n');
    await echoed;
    expect((await cat.exited).exitCode).toBe(0);
    expect(await readdir(join(stateRoot, id, 'exec'))).toEqual([]);
  });

  it('keeps containers running across a SIGKILL of the runtime and reports each exit once', { timeout: 20_000 }, async () => {
    const longId = newId();
    const shortId = newId();
    const config = {
      stateRoot,
      runcRoot,
      containers: [
        { id: longId, bundle: await bundle(longId, ['sleep', '100']) },
        { id: shortId, bundle: await bundle(shortId, ['sh', '-c', 'sleep 1; exit 7']) },
      ],
    };
    const child = startProcess(process.execPath, ['--import', tsx, childScript, JSON.stringify(config)]);
    children.push(child);
    await waitFor(
      () => child.output().includes('"started"'),
      () => `runtime child to start containers: ${child.output()}`,
    );
    const started = (JSON.parse(child.output().trim()) as { started: { pid: number; monitorPid: number }[] }).started;
    await child.stop('SIGKILL');
    const [longPid, shortPid] = started.map((s) => s.pid) as [number, number];

    await waitFor(
      async () =>
        (await processStartTime(shortPid)) === undefined && (await processStartTime(started[1]!.monitorPid)) === undefined,
      () => `container ${shortId} and its monitor to end`,
    );
    expect(await processStartTime(longPid)).toBeDefined();

    const restarted = createRuntime({ stateRoot, runcRoot, logger: silentLogger() });
    const first = await restarted.recover();
    expect(first.running.map((c) => [c.id, c.pid, c.monitorAlive])).toEqual([[longId, longPid, true]]);
    expect(first.exited.map((c) => [c.id, c.exit.exitCode])).toEqual([[shortId, 7]]);
    for (const c of first.exited) await restarted.acknowledgeExit(c.id);

    const again = await createRuntime({ stateRoot, runcRoot, logger: silentLogger() }).recover();
    expect(again.exited).toEqual([]);
    expect(again.running.map((c) => c.id)).toEqual([longId]);
    expect((await restarted.state(longId)).status).toBe('running');
  });

  // As if the agent died after runc refused a run and before it removed the run's state: the monitor ended without a
  // pid or an exit, runc's log holds why. That is a failed start, not a lost exit.
  it('reports a run that runc refused as a failed start, and removes its state', async () => {
    const id = newId();
    const dir = join(stateRoot, id);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const msg = 'runc run failed: unable to start container process: exec: "nope": executable file not found in $PATH';
    await writeFile(join(dir, 'runc.log'), `${JSON.stringify({ level: 'error', msg, time: new Date().toISOString() })}\n`);
    const found = await createRuntime({ stateRoot, runcRoot, logger: silentLogger() }).recover();
    expect(found.failed).toEqual([{ id, error: `cannot run container ${id}: ${msg}` }]);
    expect(found.exited.map((e) => e.id)).not.toContain(id);
    await expect(stat(dir)).rejects.toThrow(/ENOENT/);
  });

  it('records a lost exit when the monitor dies before its container', async () => {
    const id = newId();
    const created = await runtime.create(id, await bundle(id, ['sleep', '100']));
    await runtime.start(id);
    process.kill(created.monitorPid, 'SIGKILL');
    await run('runc', ['--root', runcRoot, 'kill', id, 'KILL']);
    await waitFor(
      async () => (await processStartTime(created.pid)) === undefined,
      () => 'container to end',
    );
    const found = await runtime.recover();
    expect(found.exited).toEqual([{ id, exit: expect.objectContaining({ exitCode: 255, lost: true }) }]);
  });
});

describe('container runtime errors', () => {
  it.each([
    ['an invalid id', 'bad/id', {}, 'InvalidArgument', 'invalid container id "bad/id"'],
    ['a relative bundle', 'ok', { bundle: 'rel/bundle' }, 'InvalidArgument', 'bundle path rel/bundle must be absolute'],
    ['a missing config.json', 'ok', { bundle: '/nonexistent-bundle' }, 'InvalidArgument', 'bundle /nonexistent-bundle has no readable config.json'],
    ['a TTY mismatch', 'ok', { tty: true }, 'InvalidArgument', 'process.terminal is false but tty is true'],
    ['a zero log cap', 'ok', { logMaxBytes: 0 }, 'InvalidArgument', 'logMaxBytes must be a positive integer, got 0'],
  ])('create with %s', async (_what, idBase, opts: { bundle?: string; tty?: boolean; logMaxBytes?: number }, kind, message) => {
    const id = idBase === 'ok' ? newId() : idBase;
    const path = opts.bundle ?? (await bundle(`b-${id.replace('/', '_')}`, ['true']));
    const err = await runtime.create(id, path, opts).catch((e: unknown) => e);
    expect(errorKind(err)).toBe(kind);
    expect((err as Error).message).toContain(message);
  });

  it('create reports what runc refused', async () => {
    const id = newId();
    const err = await runtime.create(id, await bundle(id, ['/no/such/binary'])).catch((e: unknown) => e);
    expect(errorKind(err)).toBe('FailedPrecondition');
    expect((err as Error).message).toMatch(new RegExp(`^cannot create container ${id}: .*no such file or directory`));
    await expect(stat(join(stateRoot, id))).rejects.toThrow();
  });

  it('create of an existing id is AlreadyExists', async () => {
    const id = newId();
    const path = await bundle(id, ['sleep', '100']);
    await runtime.create(id, path);
    const err = await runtime.create(id, path).catch((e: unknown) => e);
    expect(errorKind(err)).toBe('AlreadyExists');
    expect((err as Error).message).toBe(`container ${id} already exists`);
  });

  it.each([
    ['start', (r: Runtime, id: string) => r.start(id), 'NotFound', (id: string) => `container ${id} does not exist`],
    ['kill', (r: Runtime, id: string) => r.kill(id), 'NotFound', (id: string) => `container ${id} does not exist`],
    ['state', (r: Runtime, id: string) => r.state(id), 'NotFound', (id: string) => `container ${id} does not exist`],
    ['wait', (r: Runtime, id: string) => r.wait(id), 'NotFound', (id: string) => `container ${id} does not exist`],
    ['delete', (r: Runtime, id: string) => r.delete(id), 'NotFound', (id: string) => `container ${id} does not exist`],
  ])('%s of an unknown container', async (_op, call, kind, message) => {
    const id = `missing-${suffix}`;
    const err = await call(runtime, id).catch((e: unknown) => e);
    expect(errorKind(err)).toBe(kind);
    expect((err as Error).message).toBe(message(id));
  });

  it.each([
    ['a /proc working directory', { args: ['true'], cwd: '/proc/self/fd/3' }, 'working directory /proc/self/fd/3 must be an absolute path outside /proc'],
    ['a relative working directory', { args: ['true'], cwd: 'tmp' }, 'working directory tmp must be an absolute path outside /proc'],
    ['no command', { args: [], cwd: '/' }, 'exec needs a command: process.args is empty'],
  ])('exec with %s is InvalidArgument', async (_what, spec, message) => {
    const id = newId();
    await runtime.create(id, await bundle(id, ['sleep', '100']));
    const err = await runtime.exec(id, spec).catch((e: unknown) => e);
    expect(errorKind(err)).toBe('InvalidArgument');
    expect((err as Error).message).toBe(message);
  });

  it('resize without a TTY and delete of a running container are FailedPrecondition', async () => {
    const id = newId();
    await runtime.create(id, await bundle(id, ['sleep', '100']));
    await runtime.start(id);
    const resizeErr = await runtime.resize(id, 80, 24).catch((e: unknown) => e);
    expect(errorKind(resizeErr)).toBe('FailedPrecondition');
    expect((resizeErr as Error).message).toBe(`container ${id} has no TTY`);
    const deleteErr = await runtime.delete(id).catch((e: unknown) => e);
    expect(errorKind(deleteErr)).toBe('FailedPrecondition');
    expect((deleteErr as Error).message).toMatch(/^runc delete .*not stopped/);
    await runtime.delete(id, { force: true });
    await expect(stat(join(stateRoot, id))).rejects.toThrow();
  });
});
