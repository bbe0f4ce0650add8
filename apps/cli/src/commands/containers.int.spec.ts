import { spawn } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { chmod, rm } from 'node:fs/promises';
import { mkdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
// The node-agent's reusable test stack lives in its app, beside startNodeAgent which it starts.
// eslint-disable-next-line @nx/enforce-module-boundaries
import { startTestStack, type TestStack } from '@strata/app-node-agent/testing';
import { startProcess, tempDir, waitFor, type TestProcess } from '@strata/kit/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const strataBin = fileURLToPath(new URL('../../bin/strata.mjs', import.meta.url));

let stack: TestStack;
// Every CLI process started here, stopped by pid in afterAll whatever happened.
const processes: TestProcess[] = [];

type Result = CapturedRun;

/** Runs the CLI in this process against the test stack. */
async function cli(...argv: string[]): Promise<Result> {
  return runCaptured([argv[0]!, '--run-dir', stack.runDir, ...argv.slice(1)]);
}

/** Starts the `strata` executable with its output on pipes; `--run-dir` goes right after the command. */
function strataProcess(...argv: string[]): TestProcess {
  const p = startProcess(process.execPath, [strataBin, argv[0]!, '--run-dir', stack.runDir, ...argv.slice(1)]);
  processes.push(p);
  return p;
}

/** Runs the `strata` executable to its end; stdout and stderr apart. */
async function strataRun(...argv: string[]): Promise<Result> {
  const p = strataProcess(...argv);
  let out = '';
  let err = '';
  p.child.stdout?.on('data', (b: Buffer) => (out += b.toString('utf8')));
  p.child.stderr?.on('data', (b: Buffer) => (err += b.toString('utf8')));
  const code = await p.exited;
  return { code: typeof code === 'number' ? code : -1, out, err };
}

interface Inspected {
  Id: string;
  Name: string;
  State: { Status: string; Running: boolean; ExitCode: number; Pid: number };
  Config: { Image: string; Cmd: string[] | null; Env: string[]; Hostname: string; Tty: boolean };
  HostConfig: { Memory: number; NanoCpus: number; PidsLimit: number | null; AutoRemove: boolean };
  NetworkSettings: { IPAddress: string; Ports: Record<string, Array<{ HostIp: string; HostPort: string }> | null> };
}

async function inspect(name: string): Promise<Inspected> {
  const r = await cli('inspect', name);
  expect(r.err).toBe('');
  return (JSON.parse(r.out) as Inspected[])[0]!;
}

const names = (prefix: string) => `${prefix}-${process.pid}-${Math.floor(Math.random() * 1e6)}`;

beforeAll(async () => {
  stack = await startTestStack();
  await stack.startAgentProcess();
}, 180_000);

afterAll(async () => {
  for (const p of processes) await p.stop('SIGKILL');
  await stack?.stop();
}, 120_000);

describe('strata run in the foreground', () => {
  it("streams the container's stdout and stderr apart and exits with its exit code", async () => {
    const r = await strataRun('run', '--rm', stack.image, 'sh', '-c', 'echo hello; echo oops >&2');
    expect(r).toEqual({ code: 0, out: 'hello\n', err: 'oops\n' });
  });

  it('exits with the exit code of the container', async () => {
    expect((await strataRun('run', '--rm', stack.image, 'sh', '-c', 'exit 3')).code).toBe(3);
    const name = names('exit');
    expect((await strataRun('run', '--name', name, stack.image, 'sh', '-c', 'exit 3')).code).toBe(3);
    expect(await cli('rm', name)).toMatchObject({ code: 0 });
  });

  it('with --rm ends once the container is removed, as docker run does: its name is free again at once', async () => {
    const name = names('rm-name');
    for (const code of [0, 4]) {
      expect((await strataRun('run', '--rm', '--name', name, stack.image, 'sh', '-c', `exit ${code}`)).code).toBe(code);
      expect(await cli('ps', '-a', '-q', '--filter', `name=${name}`)).toEqual({ code: 0, out: '', err: '' });
    }
  });

  it('reports a command that is not found with 127', async () => {
    const r = await strataRun('run', '--rm', stack.image, 'no-such-command');
    expect({ code: r.code, err: r.err }).toEqual({ code: 127, err: expect.stringMatching(/no-such-command.*executable file not found/) });
  });

  it('keeps the container of a command that is not found created, as docker run does: ps, inspect, wait, start, rm', async () => {
    const name = names('notfound');
    const r = await strataRun('run', '--name', name, stack.image, 'no-such-command');
    expect({ code: r.code, err: r.err }).toEqual({ code: 127, err: expect.stringMatching(/no-such-command.*executable file not found/) });
    const ps = (...filters: string[]) => cli('ps', ...filters.flatMap((f) => ['--filter', f]), '--format', '{{.Names}} {{.State}} {{.Status}}');
    expect(await ps(`name=${name}`, 'status=created')).toEqual({ code: 0, out: `${name} created Created\n`, err: '' });
    expect((await ps(`name=${name}`, 'status=exited')).out).toBe('');
    const state = await cli('inspect', '-f', '{{.State.Status}} {{.State.ExitCode}} {{.State.StartedAt}} {{.State.FinishedAt}} {{.State.Error}}', name);
    expect(state.out).toMatch(/^created 127 0001-01-01T00:00:00Z 0001-01-01T00:00:00Z .*no-such-command.*executable file not found/);
    expect(await cli('wait', name)).toEqual({ code: 0, out: '127\n', err: '' });
    const again = await cli('start', name);
    expect({ code: again.code, err: again.err }).toEqual({ code: 1, err: expect.stringMatching(/^strata: .*no-such-command.*executable file not found/) });
    expect((await ps(`name=${name}`)).out).toBe('');
    expect(await cli('rm', name)).toEqual({ code: 0, out: `${name}\n`, err: '' });
  });

  it('passes -e, -w, -u and --hostname', async () => {
    const r = await strataRun(
      ...['run', '--rm', '-e', 'GREETING=hi', '-w', '/tmp', '-u', 'nobody', '--hostname', 'box', stack.image],
      ...['sh', '-c', 'echo "$GREETING $(pwd) $(id -u) $(hostname)"'],
    );
    expect(r).toEqual({ code: 0, out: 'hi /tmp 65534 box\n', err: '' });
  });

  it('passes --read-only, --add-host, --dns, --ulimit and --shm-size', async () => {
    const r = await strataRun(
      ...['run', '--rm', '--read-only', '--add-host', 'db:10.1.2.3', '--dns', '9.9.9.9', '--ulimit', 'nofile=1000:1000', '--shm-size', '96m', stack.image],
      ...['sh', '-c', 'touch /x 2>/dev/null || echo ro; grep -w db /etc/hosts; grep ^nameserver /etc/resolv.conf; ulimit -n; df -k /dev/shm | tail -1'],
    );
    expect(r).toMatchObject({ code: 0, err: '' });
    expect(r.out).toMatch(/^ro\n10\.1\.2\.3\tdb\nnameserver 9\.9\.9\.9\n1000\nshm +98304 /);
    const bad = await strataRun('run', '--rm', '--add-host', 'db', stack.image, 'true');
    expect(bad).toEqual({ code: 125, out: '', err: 'strata: invalid argument "db" for --add-host: expected HOST:IP\n' });
  });

  it('passes --security-opt seccomp=FILE as the profile, and names what is wrong with one', async () => {
    const dir = tempDir('strata-cli-seccomp-');
    try {
      const profile = join(dir.path, 'no-mkdir.json');
      writeFileSync(profile, JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 13 }] }, null, 2));
      const mkdir = ['sh', '-c', 'mkdir /tmp/d 2>/dev/null && echo made; grep ^Seccomp: /proc/self/status | tr -d "\t"'];
      expect(await strataRun('run', '--rm', '--security-opt', `seccomp=${profile}`, stack.image, ...mkdir)).toEqual({ code: 0, out: 'Seccomp:2\n', err: '' });
      expect(await strataRun('run', '--rm', '--security-opt', 'seccomp=unconfined', stack.image, ...mkdir)).toEqual({ code: 0, out: 'made\nSeccomp:0\n', err: '' });
      const bad = join(dir.path, 'bad.json');
      writeFileSync(bad, '{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO","args":[{"index":7,"op":"SCMP_CMP_EQ"}]}]}');
      expect(await strataRun('run', '--rm', '--security-opt', `seccomp=${bad}`, stack.image, 'true')).toEqual({
        code: 125,
        out: '',
        err: 'strata: decoding seccomp profile failed: syscalls[0].args[0].index must be a whole number from 0 to 5\n',
      });
      const missing = await strataRun('run', '--rm', '--security-opt', `seccomp=${join(dir.path, 'missing.json')}`, stack.image, 'true');
      expect(missing).toMatchObject({ code: 125, err: expect.stringMatching(/^strata: opening seccomp profile \(.*missing\.json\) failed: ENOENT/) });
    } finally {
      dir.remove();
    }
  });

  it('forwards stdin with -i', async () => {
    const p = startProcess(process.execPath, [strataBin, 'run', '--run-dir', stack.runDir, '--rm', '-i', stack.image, 'sh', '-c', 'tr a-z A-Z'], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    processes.push(p);
    let out = '';
    p.child.stdout?.on('data', (b: Buffer) => (out += b.toString('utf8')));
    p.child.stdin?.end('shout\n');
    expect(await p.exited).toBe(0);
    expect(out).toBe('SHOUT\n');
  });

  it('forwards SIGTERM to a container without a TTY', async () => {
    const p = strataProcess('run', '--rm', stack.image, 'sh', '-c', 'trap "echo got-term; exit 9" TERM; echo ready; while true; do sleep 0.1; done');
    let out = '';
    p.child.stdout?.on('data', (b: Buffer) => (out += b.toString('utf8')));
    await waitFor(() => out.includes('ready'), () => `ready in ${JSON.stringify(out)}: ${p.output()}`, 30_000);
    process.kill(p.pid, 'SIGTERM');
    expect(await p.exited).toBe(9);
    expect(out).toBe('ready\ngot-term\n');
  });

  it('says which image it cannot find, tries to pull it and fails with 125', async () => {
    const missing = stack.image.replace(/busybox:test$/, 'missing:1');
    const r = await strataRun('run', '--rm', missing, 'true');
    expect(r.code).toBe(125);
    expect(r.err).toContain(`Unable to find image '${missing}' locally\n`);
  });

  it('pulls as --pull says: never leaves a missing image missing, always pulls one that is there', async () => {
    const missing = stack.image.replace(/busybox:test$/, 'missing:1');
    const never = await strataRun('run', '--rm', '--pull', 'never', missing, 'true');
    expect(never.code).toBe(125);
    expect(never.err).not.toContain('Unable to find image');
    expect(never.err).toContain('No such image');
    const always = await strataRun('run', '--rm', '--pull', 'always', stack.image, 'echo', 'pulled');
    expect(always).toMatchObject({ code: 0, out: 'pulled\n' });
    expect(always.err).not.toContain('Unable to find image');
    expect(always.err).toContain('Digest: sha256:');
  });

  it('refuses an image of another platform than --platform asks for, with 125, as docker run', async () => {
    const r = await cli('run', '--rm', '--platform', 'linux/s390x', stack.image, 'true');
    expect(r).toEqual({
      code: 125,
      out: '',
      err: expect.stringMatching(new RegExp(`^strata: image with reference ${stack.image.replace(/[.]/g, '\\.')} was found but does not match the specified platform: wanted linux/s390x, actual: linux/`)),
    });
    expect((await cli('ps', '-a', '-q', '--filter', `ancestor=${stack.image}`, '--filter', 'status=created')).out).toBe('');
  });

  it('fails before any call for bad values, with 125', async () => {
    for (const argv of [['--memory', '12x'], ['-p', '99999:80'], ['--cpus', '-1']]) {
      const r = await cli('run', ...argv, stack.image);
      expect(r.code).toBe(125);
      expect(r.err).toMatch(/^strata: invalid/);
    }
  });
});

describe('a detached container', () => {
  const name = names('web');
  let id = '';

  it('runs with -d, printing its full id', async () => {
    const r = await cli('run', '-d', '--name', name, '-p', '0:80', '--memory', '64m', '-e', 'A=1', stack.image, 'sh', '-c', 'echo started; mkdir -p /www; echo hello-from-httpd > /www/index.html; httpd -f -p 80 -h /www');
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    id = r.out.trim();
    expect(id).toMatch(/^[a-f0-9]{64}$/);
  });

  it('is listed by ps with its published port', async () => {
    const r = await cli('ps', '--filter', `name=${name}`);
    const lines = r.out.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^CONTAINER ID +IMAGE +COMMAND +CREATED +STATUS +PORTS +NAMES$/);
    expect(lines).toHaveLength(2);
    expect(lines[1]).toContain(id.slice(0, 12));
    expect(lines[1]).toMatch(/Up (Less than a second|\d+ seconds?)/);
    expect(lines[1]).toMatch(/0\.0\.0\.0:\d+->80\/tcp/);
    expect(lines[1]!.endsWith(name)).toBe(true);
    const [row] = JSON.parse((await cli('ps', '--format', 'json', '--filter', `name=${name}`)).out) as Array<Record<string, string>>;
    expect(row).toMatchObject({ ID: id.slice(0, 12), Names: name, State: 'running', Image: stack.image });
    expect((await cli('ps', '-q', '--no-trunc', '--filter', `name=${name}`)).out).toBe(`${id}\n`);
  });

  it('is inspected in the docker shape, and serves HTTP on the picked host port', async () => {
    const c = await inspect(name);
    expect(c).toMatchObject({ Id: id, Name: `/${name}`, State: { Status: 'running', Running: true }, Config: { Image: stack.image } });
    expect(c.State.Pid).toBeGreaterThan(0);
    expect(c.Config.Env).toContain('A=1');
    expect(c.HostConfig.Memory).toBe(64 * 1024 * 1024);
    expect(c.NetworkSettings.IPAddress).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    const hostPort = c.NetworkSettings.Ports['80/tcp']?.[0]?.HostPort;
    expect(Number(hostPort)).toBeGreaterThan(0);
    let body = '';
    await waitFor(
      async () => {
        body = await (await fetch(`http://127.0.0.1:${hostPort}/`)).text();
        return true;
      },
      () => `HTTP on 127.0.0.1:${hostPort}`,
      15_000,
      100,
    );
    expect(body).toBe('hello-from-httpd\n');
  });

  it("prints Docker's templates with inspect -f and ps --format", async () => {
    const c = await inspect(name);
    const bindings = c.NetworkSettings.Ports['80/tcp'] ?? [];
    expect(bindings.length).toBeGreaterThan(0);
    const hostPort = bindings[0]!.HostPort;

    expect(await cli('inspect', '-f', '{{.State.Status}} {{.Name}}', name)).toEqual({ code: 0, out: `running /${name}\n`, err: '' });
    expect(await cli('inspect', '--format', '{{json .Config.Env}}', name)).toMatchObject({ code: 0, out: expect.stringMatching(/^\[.*"A=1".*\]\n$/) });
    const ports = await cli('inspect', '-f', '{{range $p, $b := .NetworkSettings.Ports}}{{$p}}={{(index $b 0).HostPort}} {{end}}', name);
    expect(ports).toEqual({ code: 0, out: `80/tcp=${hostPort} \n`, err: '' });
    expect((JSON.parse((await cli('inspect', '--format', 'json', name)).out) as Inspected[]).map((i) => i.Id)).toEqual([id]);
    const two = await cli('inspect', '-f', '{{.Name}}', name, 'no-such-container-here');
    expect(two).toEqual({ code: 1, out: `/${name}\n`, err: 'strata: No such object: no-such-container-here\n' });
    const field = await cli('inspect', '-f', '{{.State.Nope}}', name);
    expect(field).toMatchObject({ code: 1, out: '', err: expect.stringMatching(/^strata: template: :1:2: executing at <\.State\.Nope>: can't evaluate field Nope \(the fields of \.State are Status, Running/) });
    expect(await cli('inspect', '-f', '{{.Id', name)).toEqual({ code: 1, out: '', err: 'strata: template parsing error: template: :1:0: unclosed action\n' });

    const table = await cli('ps', '--filter', `name=${name}`, '--format', 'table {{.ID}}\\t{{.Names}}\\t{{.State}}');
    expect(table.code).toBe(0);
    expect(table.out.split('\n')).toEqual([
      expect.stringMatching(/^CONTAINER ID +NAMES +STATE$/),
      expect.stringMatching(new RegExp(`^${id.slice(0, 12)} +${name} +running$`)),
      '',
    ]);
    expect(await cli('ps', '--filter', `name=${name}`, '--format', '{{.Names}}\\t{{.Ports}}')).toEqual({
      code: 0,
      out: `${name}\t${bindings.map((b) => `${b.HostIp}:${b.HostPort}->80/tcp`).join(', ')}\n`,
      err: '',
    });
  });

  it('is inspected beside an image by name, as docker inspect does; --type picks the kind', async () => {
    const image = stack.busybox.config.digest;
    expect(await cli('inspect', '-f', '{{.Id}}', name, stack.image)).toEqual({ code: 0, out: `${id}\n${image}\n`, err: '' });
    expect(await cli('inspect', '--type', 'image', '-f', '{{.Id}}', stack.image, name)).toEqual({ code: 1, out: `${image}\n`, err: `strata: No such image: ${name}:latest\n` });
    expect(await cli('inspect', '--type', 'container', '-f', '{{.Id}}', stack.image)).toEqual({ code: 1, out: '', err: `strata: No such container: ${stack.image}\n` });
    expect(await cli('inspect', '--type', 'volume', name)).toMatchObject({ code: 125, out: '', err: expect.stringMatching(/^strata: invalid argument "volume" for --type/) });
  });

  it('lists its published ports with port, as docker port does', async () => {
    const bindings = (await inspect(name)).NetworkSettings.Ports['80/tcp'] ?? [];
    expect(bindings.length).toBeGreaterThan(0);
    expect(await cli('port', name)).toEqual({ code: 0, out: bindings.map((b) => `80/tcp -> ${b.HostIp}:${b.HostPort}\n`).join(''), err: '' });
    expect(await cli('port', id.slice(0, 12), '80/tcp')).toEqual({
      code: 0,
      out: bindings.map((b) => `${b.HostIp}:${b.HostPort}\n`).join(''),
      err: '',
    });
    expect(await cli('port', name, '81')).toEqual({ code: 1, out: '', err: `strata: no public port '81/tcp' published for ${name}\n` });
  });

  it('shows its logs', async () => {
    const r = await cli('logs', name);
    expect(r).toMatchObject({ code: 0, out: 'started\n' });
    const stamped = await cli('logs', '-t', '--tail', '1', name);
    expect(stamped.out).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z started\n$/);
  });

  it('runs exec and exits with its exit code', async () => {
    expect(await strataRun('exec', name, 'sh', '-c', 'echo "in $(hostname) A=$A"; exit 7')).toEqual({
      code: 7,
      out: `in ${id.slice(0, 12)} A=1\n`,
      err: '',
    });
    expect((await strataRun('exec', '-e', 'B=2', '-w', '/www', name, 'sh', '-c', 'echo $B $(pwd)')).out).toBe('2 /www\n');
  });

  it('exec -d returns at once and leaves the process running', async () => {
    const started = Date.now();
    expect(await cli('exec', '-d', name, 'sh', '-c', 'sleep 1; touch /tmp/detached-done')).toEqual({ code: 0, out: '', err: '' });
    expect(Date.now() - started).toBeLessThan(1000);
    await waitFor(async () => (await cli('exec', name, 'test', '-f', '/tmp/detached-done')).code === 0, () => 'the detached exec', 15_000, 200);
  });

  it('shows stats once with --no-stream', async () => {
    const r = await cli('stats', '--no-stream', name);
    const lines = r.out.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^CONTAINER ID +NAME +CPU % +MEM USAGE \/ LIMIT +MEM % +PIDS$/);
    expect(lines[1]).toMatch(new RegExp(`^${id.slice(0, 12)} +${name} +\\d+\\.\\d\\d% +[\\d.]+[KMG]?i?B / 64MiB +\\d+\\.\\d\\d% +\\d+$`));
    const [row] = JSON.parse((await cli('stats', '--no-stream', '--format', 'json', name)).out) as Array<Record<string, string>>;
    expect(row).toMatchObject({ ID: id.slice(0, 12), Name: name });
    expect(Number(row!['PIDs'])).toBeGreaterThanOrEqual(1);
  });

  it('takes new limits with update', async () => {
    expect(await cli('update', '--memory', '128m', '--cpus', '0.5', '--pids-limit', '50', name)).toMatchObject({ code: 0, out: `${name}\n` });
    const c = await inspect(name);
    expect(c.HostConfig).toMatchObject({ Memory: 128 * 1024 * 1024, NanoCpus: 500_000_000, PidsLimit: 50 });
    const [row] = JSON.parse((await cli('stats', '--no-stream', '--format', 'json', name)).out) as Array<Record<string, string>>;
    expect(row!['MemUsage']).toMatch(/ \/ 128MiB$/);
  });

  it('stops, shows as exited, and is removed', async () => {
    expect(await cli('stop', '-t', '1', name)).toMatchObject({ code: 0, out: `${name}\n` });
    expect((await cli('ps', '-q', '--filter', `name=${name}`)).out).toBe('');
    const all = await cli('ps', '-a', '--filter', `name=${name}`);
    expect(all.out).toMatch(/Exited \(\d+\) (Less than a second|\d+ seconds?) ago/);
    expect((await cli('wait', name)).out).toMatch(/^\d+\n$/);
    expect(await cli('rm', name)).toMatchObject({ code: 0, out: `${name}\n` });
    expect((await cli('ps', '-a', '-q', '--filter', `name=${name}`)).out).toBe('');
    expect(await stack.leftovers([id])).toEqual([]);
    const gone = await cli('inspect', name);
    expect(gone.code).toBe(1);
    expect(gone.out).toBe('[]\n');
    expect(gone.err).toBe(`strata: No such object: ${name}\n`);
  });
});

describe('create, start, kill, rm -f', () => {
  it('creates a container that start runs and kill ends', async () => {
    const name = names('created');
    const created = await cli('create', '--name', name, stack.image, 'sleep', '1000');
    expect(created.code).toBe(0);
    expect((await inspect(name)).State.Status).toBe('created');
    expect(await cli('start', name)).toMatchObject({ code: 0, out: `${name}\n` });
    expect((await inspect(name)).State.Running).toBe(true);
    expect(await cli('kill', '-s', 'KILL', name)).toMatchObject({ code: 0, out: `${name}\n` });
    expect((await cli('wait', name)).out).toBe('137\n');
    expect(await cli('rm', '-f', name)).toMatchObject({ code: 0 });
  });

  it('start -a streams the output and exits with the exit code', async () => {
    const name = names('attached');
    await cli('create', '--name', name, stack.image, 'sh', '-c', 'echo attached; exit 4');
    expect(await strataRun('start', '-a', name)).toEqual({ code: 4, out: 'attached\n', err: '' });
    await cli('rm', name);
  });

  it('start -a runs an exited container again with all its output and this run\'s exit code; logs keep both runs', async () => {
    const name = names('again');
    await cli('create', '--name', name, stack.image, 'sh', '-c', 'test -f /ran && { echo second; exit 6; }; touch /ran; echo first; exit 5');
    expect(await strataRun('start', '-a', name)).toEqual({ code: 5, out: 'first\n', err: '' });
    expect(await strataRun('start', '-a', name)).toEqual({ code: 6, out: 'second\n', err: '' });
    expect((await cli('logs', name)).out).toBe('first\nsecond\n');
    await cli('rm', name);
  });

  it('runs --userns private as the node range on the host, root inside', async () => {
    // runc reaches the rootfs as the container's root: the test's temporary directories must be searchable.
    for (const dir of [stack.dir, stack.stateDir]) await chmod(dir, 0o711);
    const r = await strataRun('run', '--rm', '--userns', 'private', '--network', 'none', stack.image, 'sh', '-c', 'id -u; cat /proc/self/uid_map');
    expect({ ...r, out: r.out.replace(/[ \t]+/g, ' ') }).toEqual({ code: 0, out: '0\n 0 100000 65536\n', err: '' });
  });

  it('rm -f of a container that is not there says so on stderr and exits 0, as docker rm -f; rm without -f exits 1', async () => {
    const name = names('gone');
    await cli('create', '--name', name, stack.image, 'true');
    expect(await cli('rm', '-f', 'no-such-container', name)).toEqual({ code: 0, out: `${name}\n`, err: 'strata: No such container: no-such-container\n' });
    expect(await cli('rm', 'no-such-container')).toEqual({ code: 1, out: '', err: 'strata: No such container: no-such-container\n' });
  });

  it('ps -n N and -l show the newest containers that pass the filters, whatever their state', async () => {
    const prefix = names('newest');
    const [first, second, third] = [`${prefix}-1`, `${prefix}-2`, `${prefix}-3`];
    await cli('create', '--name', first, stack.image, 'true');
    await cli('run', '-d', '--name', second, stack.image, 'sleep', '1000');
    await cli('create', '--name', third, stack.image, 'true');
    const listed = async (...argv: string[]) => (await cli('ps', '--filter', `name=${prefix}`, '--format', '{{.Names}}', ...argv)).out;
    try {
      expect(await listed()).toBe(`${second}\n`);
      expect(await listed('-n', '2')).toBe(`${third}\n${second}\n`);
      expect(await listed('--last', '5')).toBe(`${third}\n${second}\n${first}\n`);
      expect(await listed('-l')).toBe(`${third}\n`);
      expect(await listed('-l', '--filter', 'status=running')).toBe(`${second}\n`);
      expect((await cli('ps', '-lq', '--no-trunc', '--filter', `name=${prefix}`)).out).toBe(`${(await inspect(third)).Id}\n`);
      expect(await cli('ps', '-n', 'two')).toEqual({ code: 125, out: '', err: expect.stringMatching(/^strata: flag -n needs a whole number/) });
    } finally {
      await cli('rm', '-f', first, second, third);
    }
  });

  it('restart stops a running container within -t and starts it again, starts an exited one, and the logs keep every run', async () => {
    const name = names('restart');
    await cli('run', '-d', '--name', name, stack.image, 'sh', '-c', 'trap "" TERM; echo run; while true; do sleep 0.1; done');
    try {
      const first = await inspect(name);
      const began = Date.now();
      expect(await cli('restart', '-t', '1', name, 'no-such-container')).toEqual({ code: 1, out: `${name}\n`, err: 'strata: No such container: no-such-container\n' });
      // The process ignores SIGTERM: killed after the second -t gives it.
      expect(Date.now() - began).toBeGreaterThanOrEqual(1000);
      const second = await inspect(name);
      expect(second.State).toMatchObject({ Status: 'running', Running: true });
      expect(second.State.Pid).not.toBe(first.State.Pid);
      expect(await cli('kill', name)).toMatchObject({ code: 0 });
      expect((await cli('wait', name)).out).toBe('137\n');
      expect(await cli('restart', name)).toEqual({ code: 0, out: `${name}\n`, err: '' });
      expect((await inspect(name)).State.Running).toBe(true);
      let logs = '';
      await waitFor(async () => (logs = (await cli('logs', name)).out) === 'run\nrun\nrun\n', () => `three runs in the logs, not ${JSON.stringify(logs)}`);
    } finally {
      await cli('rm', '-f', name);
    }
  });

  it('logs --until shows the records up to that time, as docker logs --until', async () => {
    const name = names('until');
    await cli('run', '-d', '--name', name, stack.image, 'sh', '-c', 'echo a; sleep 1.5; echo b; exec sleep 1000');
    await waitFor(async () => (await cli('logs', name)).out === 'a\n', () => 'the first line');
    const between = new Date(Date.now() + 200);
    await waitFor(async () => (await cli('logs', name)).out === 'a\nb\n', () => 'the second line');
    expect(await cli('logs', '--until', between.toISOString(), name)).toEqual({ code: 0, out: 'a\n', err: '' });
    expect(await cli('logs', '-f', '--until', between.toISOString(), name)).toEqual({ code: 0, out: 'a\n', err: '' });
    expect(await cli('rm', '-f', name)).toMatchObject({ code: 0 });
  });

  it('logs --tail 0 shows no recorded line, and with -f only what the container writes next, until it exits', async () => {
    const done = names('tail0-done');
    const ticking = names('tail0-ticking');
    try {
      expect((await strataRun('run', '--name', done, stack.image, 'sh', '-c', 'echo old; echo old-err >&2')).code).toBe(0);
      expect(await cli('logs', done)).toEqual({ code: 0, out: 'old\n', err: 'old-err\n' });
      expect(await cli('logs', '--tail', '0', done)).toEqual({ code: 0, out: '', err: '' });
      expect(await cli('logs', '-f', '--tail', '0', done)).toEqual({ code: 0, out: '', err: '' });
      expect(await cli('logs', '--tail', '1', done)).toEqual({ code: 0, out: '', err: 'old-err\n' });
      expect(await cli('logs', '--tail', '0', 'no-such-container')).toEqual({ code: 1, out: '', err: 'strata: No such container: no-such-container\n' });

      await cli('run', '-d', '--name', ticking, stack.image, 'sh', '-c', 'echo old; while true; do echo tick; sleep 0.2; done');
      await waitFor(async () => (await cli('logs', ticking)).out.includes('tick'), () => 'the first tick');
      const follower = strataProcess('logs', '-f', '--tail', '0', ticking);
      let out = '';
      follower.child.stdout?.on('data', (b: Buffer) => (out += b.toString('utf8')));
      await waitFor(() => out.includes('tick'), () => `a tick in ${JSON.stringify(out)}: ${follower.output()}`, 30_000);
      expect(await cli('stop', '-t', '1', ticking)).toMatchObject({ code: 0 });
      expect(await follower.exited).toBe(0);
      expect(out).toMatch(/^(tick\n)+$/);
    } finally {
      await cli('rm', '-f', done, ticking);
    }
  });

  it('run -d --rm of a command that cannot start exits 127 and leaves no container, as docker run -d --rm', async () => {
    const name = names('drm');
    const r = await cli('run', '-d', '--rm', '--name', name, stack.image, 'no-such-command');
    expect({ code: r.code, out: r.out, err: r.err }).toEqual({ code: 127, out: '', err: expect.stringMatching(/^strata: .*no-such-command.*executable file not found/) });
    expect(await cli('ps', '-a', '-q', '--filter', `name=${name}`)).toEqual({ code: 0, out: '', err: '' });
  });

  it('pause freezes a container (ps says Paused, exec is refused, top lists it) and unpause thaws it; rename renames it, as docker pause, top and rename', async () => {
    const name = names('paused');
    await cli('run', '-d', '--name', name, stack.image, 'sleep', '1000');
    expect(await cli('pause', name)).toMatchObject({ code: 0, out: `${name}\n` });
    expect((await inspect(name)).State.Status).toBe('paused');
    expect((await cli('ps', '--filter', `name=${name}`, '--format', '{{.Status}}')).out).toMatch(/^Up .* \(Paused\)\n$/);
    const exec = await cli('exec', name, 'true');
    expect(exec.code).not.toBe(0);
    expect(exec.err).toContain('is paused, unpause the container before exec');
    const again = await cli('pause', name);
    expect(again.code).toBe(1);
    expect(again.err).toContain('is already paused');
    const top = await cli('top', name, '-o', 'pid,args');
    expect(top).toMatchObject({ code: 0, err: '' });
    expect(top.out).toMatch(/^PID +COMMAND\n *\d+ +sleep 1000\n$/);
    expect(await cli('diff', name)).toEqual({ code: 0, out: '', err: '' });
    expect(await cli('unpause', name)).toMatchObject({ code: 0, out: `${name}\n` });
    expect((await inspect(name)).State.Status).toBe('running');
    expect(await cli('exec', name, 'true')).toMatchObject({ code: 0 });
    const exported = join(tmpdir(), `strata-export-${process.pid}.tar`);
    try {
      expect(await cli('export', '-o', exported, name)).toEqual({ code: 0, out: '', err: '' });
      expect(execFileSync('tar', ['-tf', exported], { encoding: 'utf8' }).split('\n')).toContain('bin/busybox');
    } finally {
      await rm(exported, { force: true });
    }
    expect(await cli('export', name)).toMatchObject({ code: 1, err: 'strata: cowardly refusing to save to a terminal. Use the -o flag or redirect\n' });
    const renamed = `${name}-renamed`;
    expect(await cli('rename', name, renamed)).toEqual({ code: 0, out: '', err: '' });
    expect((await inspect(renamed)).Name).toBe(`/${renamed}`);
    expect(await cli('rm', '-f', renamed)).toMatchObject({ code: 0 });
  });

  it('container prune removes the stopped containers the filters pick, after asking unless -f, as docker container prune', async () => {
    const label = `prune=${process.pid}`;
    const name = names('pruned');
    await cli('create', '--name', name, '--label', label, stack.image, 'true');
    const id = (await inspect(name)).Id;
    const declined = await runCaptured(['container', 'prune', '--run-dir', stack.runDir, '--filter', `label=${label}`], { stdin: 'n\n' });
    expect(declined).toMatchObject({ code: 0, out: 'WARNING! This will remove all stopped containers.\nAre you sure you want to continue? [y/N] ' });
    expect((await inspect(name)).Id).toBe(id);
    const pruned = await runCaptured(['container', 'prune', '--run-dir', stack.runDir, '-f', '--filter', `label=${label}`]);
    expect(pruned).toMatchObject({ code: 0, out: expect.stringMatching(new RegExp(`^Deleted Containers:\n${id}\n\nTotal reclaimed space: .+\n$`)) });
    expect((await cli('inspect', name)).code).toBe(1);
  });

  it('rm refuses a running container without -f', async () => {
    const name = names('busy');
    await cli('run', '-d', '--name', name, stack.image, 'sleep', '1000');
    const r = await cli('rm', name);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^strata: /);
    expect(await cli('rm', '-f', name)).toMatchObject({ code: 0, out: `${name}\n` });
  });
});

/**
 * A python3 relay that runs argv on a new pseudo-terminal of 24x80: bytes
 * on its stdin go to the terminal, except a line `\0RESIZE rows cols\n`,
 * which resizes it (the kernel then sends SIGWINCH); what the terminal
 * shows goes to its stdout; it exits with the program's exit code.
 */
const PTY_RELAY = String.raw`
import fcntl, os, pty, select, struct, sys, termios
pid, fd = pty.fork()
if pid == 0:
    fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack('HHHH', 24, 80, 0, 0))
    os.execvp(sys.argv[1], sys.argv[1:])
pending = b''
while True:
    r, _, _ = select.select([fd, 0], [], [])
    if fd in r:
        try:
            data = os.read(fd, 4096)
        except OSError:
            break
        if not data:
            break
        os.write(1, data)
    if 0 in r:
        data = os.read(0, 4096)
        if not data:
            continue
        pending += data
        while pending:
            if pending.startswith(b'\0'):
                if b'\n' not in pending:
                    break
                line, pending = pending.split(b'\n', 1)
                _, rows, cols = line[1:].split()
                fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack('HHHH', int(rows), int(cols), 0, 0))
            else:
                cut = pending.find(b'\0')
                chunk, pending = (pending, b'') if cut < 0 else (pending[:cut], pending[cut:])
                os.write(fd, chunk)
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
`;
import { runCaptured, type CapturedRun } from '../testing/run-captured.js';

/** The CLI with argv on a pseudo-terminal of PTY_RELAY, then `code=<its exit code>` and `stty -a` on that terminal. */
function onTerminal(...argv: string[]) {
  const cliLine = [process.execPath, strataBin, argv[0]!, '--run-dir', stack.runDir, ...argv.slice(1)].map((a) => `'${a}'`).join(' ');
  const child = spawn('python3', ['-c', PTY_RELAY, 'sh', '-c', `${cliLine}; echo "code=$?"; stty -a`], { stdio: ['pipe', 'pipe', 'pipe'] });
  let screen = '';
  const relay: TestProcess = {
    child,
    pid: child.pid!,
    output: () => screen,
    exited: new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1))),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, 'SIGKILL');
    },
  };
  processes.push(relay);
  child.stdout.on('data', (b: Buffer) => (screen += b.toString('utf8')));
  return {
    relay,
    screen: () => screen,
    type: (text: string) => child.stdin.write(text),
    seen: (pattern: RegExp, what: string) => waitFor(() => pattern.test(screen), () => `${what} on the terminal:\n${screen}`, 15_000),
  };
}

describe('strata run -it', () => {
  it('gives the container a terminal: size, resize, Ctrl-C, exit code, and restores the local terminal', async () => {
    const { relay, screen, type, seen } = onTerminal('run', '--rm', '-it', stack.image, 'sh');
    await seen(/\/ # /, 'a shell prompt');
    type('busybox stty size\n');
    await seen(/\n\r*24 80\r*\n/, 'the initial size 24 80');
    type('\0RESIZE 30 100\n');
    await waitFor(
      async () => {
        type('busybox stty size\n');
        await new Promise((r) => setTimeout(r, 200));
        return /\n\r*30 100\r*\n/.test(screen());
      },
      () => `the new size 30 100 on the terminal:\n${screen()}`,
      15_000,
    );
    type('sleep 100\n');
    await new Promise((r) => setTimeout(r, 300));
    type('\x03');
    type('echo after-$((40+2))\n');
    await seen(/after-42/, 'the shell after Ctrl-C interrupted sleep');
    type('exit 5\n');
    expect(await relay.exited).toBe(0);
    expect(screen()).toContain('code=5');
    const stty = screen().slice(screen().indexOf('code=5'));
    expect(stty).toMatch(/(^|\s)icanon(\s|$)/);
    expect(stty).toMatch(/(^|\s)echo(\s|$)/);
  }, 90_000);

  it('detaches with Ctrl-P Ctrl-Q (exec with its --detach-keys), leaving the container running, and attach connects to it again', async () => {
    const name = names('detach');
    const first = onTerminal('run', '-it', '--name', name, stack.image, 'sh');
    await first.seen(/\/ # /, 'a shell prompt');
    first.type('echo one-$((0+1))\n');
    await first.seen(/one-1/, 'the first command');
    first.type('\x10\x11');
    expect(await first.relay.exited).toBe(0);
    expect(first.screen()).toContain('code=0');
    expect((await inspect(name)).State.Running).toBe(true);

    const exec = onTerminal('exec', '-it', '--detach-keys', 'ctrl-x', name, 'sh');
    await exec.seen(/\/ # /, 'the prompt of an exec');
    exec.type('\x18');
    expect(await exec.relay.exited).toBe(0);
    expect(exec.screen()).toContain('code=0');

    const second = onTerminal('attach', name);
    await new Promise((r) => setTimeout(r, 300));
    second.type('echo two-$((1+1))\n');
    await second.seen(/two-2/, 'a command in the attached shell');
    second.type('exit 5\n');
    expect(await second.relay.exited).toBe(0);
    expect(second.screen()).toContain('code=5');
    expect((await inspect(name)).State).toMatchObject({ Status: 'exited', ExitCode: 5 });

    const stopped = await cli('attach', name);
    expect(stopped).toMatchObject({ code: 1, err: 'strata: You cannot attach to a stopped container, start it first\n' });
    expect(await cli('rm', name)).toMatchObject({ code: 0 });
  }, 90_000);
});

describe('strata attach', () => {
  it("streams a running container's output until it exits, then exits with its exit code", async () => {
    const name = names('attach');
    await cli('run', '-d', '--name', name, stack.image, 'sh', '-c', 'trap "echo bye; exit 3" TERM; while true; do echo tick; sleep 0.1; done');
    const p = strataProcess('attach', name);
    let out = '';
    p.child.stdout?.on('data', (b: Buffer) => (out += b.toString('utf8')));
    await waitFor(() => out.includes('tick\n'), () => 'ticks through attach');
    expect(await cli('stop', name)).toMatchObject({ code: 0 });
    expect(await p.exited).toBe(3);
    expect(out).toMatch(/bye\n$/);
    expect(await cli('attach', '--detach-keys', 'ctrl-1', name)).toMatchObject({ code: 125 });
    expect(await cli('rm', name)).toMatchObject({ code: 0 });
  });
});

describe('strata cp', () => {
  it("copies out of and into a container with the docker CLI's rules, and refuses what it cannot do", async () => {
    const name = names('cp');
    const dir = tempDir('strata-cli-cp-');
    try {
      const setup = 'mkdir -p /data/sub && echo inside > /data/sub/f && ln -s sub/f /data/link && exec sleep 1000';
      expect((await cli('run', '-d', '--name', name, '--hostname', 'cp-host', stack.image, 'sh', '-c', setup)).code).toBe(0);
      await waitFor(async () => (await cli('exec', name, 'cat', '/data/sub/f')).out === 'inside\n', () => 'the files to be written');
      const local = (p: string) => join(dir.path, p);
      // Out: a file to a new name, a directory under a new name, into an existing directory, contents with /., -L.
      expect(await cli('cp', `${name}:/etc/hostname`, local('h'))).toEqual({ code: 0, out: '', err: '' });
      expect(readFileSync(local('h'), 'utf8')).toBe('cp-host\n');
      expect((await cli('cp', `${name}:/data`, local('copy'))).code).toBe(0);
      expect(readFileSync(local('copy/sub/f'), 'utf8')).toBe('inside\n');
      expect(readlinkSync(local('copy/link'))).toBe('sub/f');
      mkdirSync(local('into'));
      expect((await cli('cp', `${name}:/data`, local('into'))).code).toBe(0);
      expect(readFileSync(local('into/data/sub/f'), 'utf8')).toBe('inside\n');
      expect((await cli('cp', `${name}:/data/sub/.`, local('into'))).code).toBe(0);
      expect(readFileSync(local('into/f'), 'utf8')).toBe('inside\n');
      expect((await cli('cp', '-L', `${name}:/data/link`, local('followed'))).code).toBe(0);
      expect(readFileSync(local('followed'), 'utf8')).toBe('inside\n');
      // In: a file into a directory, a directory under a new name, a directory's contents into an existing one.
      expect((await cli('cp', local('h'), `${name}:/tmp`)).code).toBe(0);
      expect((await cli('cp', local('copy'), `${name}:/back`)).code).toBe(0);
      expect((await cli('cp', `${local('copy')}/.`, `${name}:/data`)).code).toBe(0);
      const check = await cli('exec', name, 'sh', '-c', 'cat /tmp/h /back/sub/f; readlink /back/link; stat -c %u /back/sub/f; ls /data/sub');
      expect(check.out).toBe('cp-host\ninside\nsub/f\n0\nf\n');
      // Refusals, before or from the node.
      expect(await cli('cp', local('h'), local('x'))).toMatchObject({ code: 1, err: 'strata: must specify at least one container source\n' });
      expect(await cli('cp', `${name}:/a`, `${name}:/b`)).toMatchObject({ code: 1, err: 'strata: copying between containers is not supported\n' });
      expect((await cli('cp', `${name}:/nope`, local('x'))).err).toBe(`strata: Could not find the file /nope in container ${name}\n`);
      expect((await cli('cp', `${name}:/data`, local('h'))).err).toBe(`strata: cannot copy a directory onto the file ${local('h')}\n`);
      expect((await cli('cp', local('copy'), `${name}:/etc/hostname`)).err).toBe(`strata: cannot copy a directory onto the file ${name}:/etc/hostname\n`);
    } finally {
      await cli('rm', '-f', name);
      dir.remove();
    }
  }, 60_000);
});
