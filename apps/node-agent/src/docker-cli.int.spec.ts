import { execFileSync } from 'node:child_process';
import { get } from 'node:http';
import { readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDockerCli, dockerRequest, rawExchange, type DockerCli } from '@strata/docker-api/testing';
import { pushImage, webImage } from '@strata/image-fixtures';
import { startProcess, tempDir, waitFor, type TestProcess } from '@strata/kit/testing';
import { startTestStack, type TestStack } from './testing/test-stack.js';

let stack: TestStack;
let agent: TestProcess;
let docker: DockerCli;
let web: string;
const started: TestProcess[] = [];

const names = (prefix: string) => `${prefix}-${process.pid}-${Math.floor(Math.random() * 1e6)}`;

function fetchPage(port: number, path = '/'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path, timeout: 5_000 }, (res) => {
      let body = '';
      res.on('data', (b: Buffer) => (body += b.toString('utf8')));
      res.once('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).once('error', reject);
  });
}

/** The cells of a `docker ps` table line: columns are padded with at least two spaces, cells have at most one. */
const cells = (line: string) => line.trim().split(/\s{2,}/);

/** Runs `docker args…` inside a pseudo-terminal (util-linux `script`), so the CLI sees a TTY as a user's would. */
function inTerminal(args: readonly string[]): { p: TestProcess; output: () => string } {
  // A 40x100 terminal, whose size the CLI sends to the container (resize).
  const command = `stty rows 40 cols 100; ${['/opt/strata/docker-cli/docker', ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ')}`;
  const p = startProcess('script', ['-qec', command, '/dev/null'], { env: docker.env, stdio: ['pipe', 'pipe', 'pipe'] });
  started.push(p);
  let out = '';
  p.child.stdout?.on('data', (b: Buffer) => (out += b.toString('utf8')));
  return { p, output: () => out };
}

beforeAll(async () => {
  stack = await startTestStack();
  const [image] = await Promise.all([webImage(), (async () => (agent = await stack.startAgentProcess()))()]);
  await pushImage(stack.mirrorUrl, 'local/web', 'test', image);
  web = `${new URL(stack.mirrorUrl).host}/local/web:test`;
  docker = await createDockerCli(stack.dockerSocket);
}, 180_000);

afterAll(async () => {
  for (const p of started) await p.stop('SIGKILL');
  await docker?.remove();
  await stack?.stop();
}, 120_000);

describe('the docker CLI against the node-agent', () => {
  it('serves the socket with mode 0660, and docker version and info', async () => {
    expect((await stat(stack.dockerSocket)).mode & 0o777).toBe(0o660);
    const version = await docker.run(['version']);
    expect(version.code).toBe(0);
    expect(version.out).toMatch(/^Server: Strata\n Engine:\n {2}Version: {10}0\.1\.0\n {2}API version: {6}1\.44 \(minimum version 1\.24\)\n/m);
    expect(version.out).toMatch(/^ {2}OS\/Arch: {10}linux\/(amd64|arm64)$/m);
    const info = await docker.run(['info', '--format', '{{json .}}']);
    expect(info.code).toBe(0);
    expect(JSON.parse(info.out)).toMatchObject({
      Driver: 'overlayfs',
      CgroupDriver: 'cgroupfs',
      CgroupVersion: expect.stringMatching(/^[12]$/),
      OSType: 'linux',
      Name: 'test-node',
      ServerVersion: '0.1.0',
      Swarm: { LocalNodeState: 'inactive' },
      NCPU: expect.any(Number),
      MemTotal: expect.any(Number),
      KernelVersion: expect.any(String),
    });
    const text = await docker.run(['info']);
    expect(text.out).toMatch(/^ Swarm: inactive$/m);
    expect(text.out).toMatch(/^ Containers: \d+\n {2}Running: \d+\n {2}Paused: 0\n {2}Stopped: \d+$/m);
  }, 30_000);

  it('runs a web server with a published port: ps, inspect, the page from the host, exec, stop, rm -f', async () => {
    const name = names('web');
    const run = await docker.run(['run', '-d', '-p', '0:80', '--name', name, '-l', 'suite=docker-cli', web]);
    expect(run).toMatchObject({ code: 0, err: '' });
    const id = run.out.trim();
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    try {
      const port = await docker.run(['port', name, '80']);
      const hostPort = Number(/^0\.0\.0\.0:(\d+)$/m.exec(port.out)?.[1]);
      expect(hostPort).toBeGreaterThan(0);
      await waitFor(async () => (await fetchPage(hostPort)).status === 200, () => `the page on port ${hostPort}`, 15_000);
      expect((await fetchPage(hostPort)).body).toContain('<h1>Hello from a Strata container</h1>');

      const ps = await docker.run(['ps', '--filter', 'label=suite=docker-cli']);
      const [header, row, ...rest] = ps.out.trimEnd().split('\n');
      expect(cells(header!)).toEqual(['CONTAINER ID', 'IMAGE', 'COMMAND', 'CREATED', 'STATUS', 'PORTS', 'NAMES']);
      expect(rest).toEqual([]);
      const [shortId, image, command, , status, ports, shownName] = cells(row!);
      expect({ shortId, image, command, ports, shownName }).toEqual({
        shortId: id.slice(0, 12),
        image: web,
        command: '"httpd -f -p 80 -h /…"',
        ports: `0.0.0.0:${hostPort}->80/tcp`,
        shownName: name,
      });
      expect(status).toMatch(/^Up /);

      const inspected = JSON.parse((await docker.run(['inspect', name])).out) as unknown[];
      expect(inspected).toHaveLength(1);
      expect(inspected[0]).toMatchObject({
        Id: id,
        Name: `/${name}`,
        State: { Status: 'running', Running: true, ExitCode: 0, OOMKilled: false, Pid: expect.any(Number) },
        Config: { Image: web, Cmd: ['httpd', '-f', '-p', '80', '-h', '/var/www'], ExposedPorts: { '80/tcp': {} }, Labels: { suite: 'docker-cli' } },
        HostConfig: { NetworkMode: 'bridge', AutoRemove: false },
        NetworkSettings: { Ports: { '80/tcp': [{ HostIp: '0.0.0.0', HostPort: String(hostPort) }] } },
      });
      const format = await docker.run(['inspect', '-f', '{{.State.Status}} {{(index (index .NetworkSettings.Ports "80/tcp") 0).HostPort}}', name]);
      expect(format.out).toBe(`running ${hostPort}\n`);

      expect(await docker.run(['exec', name, 'sh', '-c', 'echo in-exec; echo to-err >&2; exit 4'])).toEqual({ code: 4, out: 'in-exec\n', err: 'to-err\n' });
      expect(await docker.run(['exec', '-i', '-w', '/tmp', '-e', 'X=1', '-u', 'nobody', name, 'sh', '-c', 'echo "$X $(pwd) $(id -u) $(tr a-z A-Z)"'], { input: 'shout' })).toEqual({
        code: 0,
        out: '1 /tmp 65534 SHOUT\n',
        err: '',
      });
      // moby records 127 for an exec whose command is not found (translateContainerdStartErr), 126 when it cannot be invoked.
      const missing = await docker.run(['exec', name, 'no-such-command']);
      expect(missing.code).toBe(127);
      expect(missing.out).toMatch(/no-such-command.*not found/);

      const tty = inTerminal(['exec', '-it', name, 'sh']);
      await waitFor(() => tty.output().includes('/ #'), () => `a prompt in ${JSON.stringify(tty.output())}`, 15_000);
      tty.p.child.stdin?.write('echo tty-$((6*7)) $(busybox stty size)\n');
      await waitFor(() => tty.output().includes('tty-42 40 100'), () => `tty-42 40 100 in ${JSON.stringify(tty.output())}`, 15_000);
      tty.p.child.stdin?.write('exit 6\n');
      expect(await tty.p.exited).toBe(6);

      // The exec API without the docker CLI: a streamed start without upgrade, a detached one, inspect.
      const socket = stack.dockerSocket;
      const created = await dockerRequest(socket, 'POST', `/v1.43/containers/${name}/exec`, JSON.stringify({ Cmd: ['sh', '-c', 'echo plain; exit 2'], AttachStdout: true }));
      expect(created.status).toBe(201);
      const execId = (created.json() as { Id: string }).Id;
      const plain = await dockerRequest(socket, 'POST', `/v1.43/exec/${execId}/start`, JSON.stringify({ Detach: false, Tty: false }));
      expect(plain.status).toBe(200);
      expect(plain.headers['content-type']).toBe('application/vnd.docker.multiplexed-stream');
      expect(plain.body).toEqual(Buffer.concat([Buffer.from([1, 0, 0, 0, 0, 0, 0, 6]), Buffer.from('plain\n')]));
      const execInfo = await dockerRequest(socket, 'GET', `/exec/${execId}/json`);
      expect(execInfo.json()).toMatchObject({ ID: execId, Running: false, ExitCode: 2, ContainerID: id, ProcessConfig: { entrypoint: 'sh', arguments: ['-c', 'echo plain; exit 2'], tty: false } });
      const again = await dockerRequest(socket, 'POST', `/v1.43/exec/${execId}/start`, '{}');
      expect({ status: again.status, body: again.json() }).toEqual({ status: 409, body: { message: `exec ${execId} has already been started` } });
      const detached = (await dockerRequest(socket, 'POST', `/containers/${name}/exec`, JSON.stringify({ Cmd: ['sleep', '1'] }))).json() as { Id: string };
      expect((await dockerRequest(socket, 'POST', `/exec/${detached.Id}/start`, JSON.stringify({ Detach: true }))).status).toBe(200);
      expect((await dockerRequest(socket, 'GET', `/exec/${detached.Id}/json`)).json()).toMatchObject({ Running: true, ExitCode: null, Pid: expect.any(Number) });
      await waitFor(async () => ((await dockerRequest(socket, 'GET', `/exec/${detached.Id}/json`)).json() as { ExitCode: number | null }).ExitCode === 0, () => 'the detached exec to end', 10_000);
      const unknownExec = await dockerRequest(socket, 'GET', '/exec/nope/json');
      expect({ status: unknownExec.status, body: unknownExec.json() }).toEqual({ status: 404, body: { message: 'No such exec instance: nope' } });

      const exported = join(tmpdir(), `docker-export-${process.pid}.tar`);
      try {
        expect(await docker.run(['export', '-o', exported, name])).toEqual({ code: 0, out: '', err: '' });
        expect(execFileSync('tar', ['-xOf', exported, 'var/www/index.html'], { encoding: 'utf8' })).toContain('Hello from a Strata container');
      } finally {
        rmSync(exported, { force: true });
      }
      expect(await docker.run(['diff', name])).toEqual({ code: 0, out: '', err: '' });
      await docker.run(['exec', name, 'sh', '-c', 'touch /tmp/t']);
      expect(await docker.run(['diff', name])).toEqual({ code: 0, out: 'C /tmp\nA /tmp/t\n', err: '' });
      const stats = await docker.run(['stats', '--no-stream', name]);
      expect(stats).toMatchObject({ code: 0, err: '' });
      const [statsHeader, statsRow] = stats.out.trimEnd().split('\n');
      expect(cells(statsHeader!)).toEqual(['CONTAINER ID', 'NAME', 'CPU %', 'MEM USAGE / LIMIT', 'MEM %', 'NET I/O', 'BLOCK I/O', 'PIDS']);
      expect(cells(statsRow!)).toEqual([id.slice(0, 12), name, expect.stringMatching(/^\d+\.\d\d%$/), expect.stringMatching(/^[\d.]+[KMG]iB \/ [\d.]+[KMG]iB$/), expect.stringMatching(/%$/), '0B / 0B', '0B / 0B', '1']);
      expect(await docker.run(['pause', name])).toEqual({ code: 0, out: `${name}\n`, err: '' });
      expect((await docker.run(['inspect', '-f', '{{.State.Status}} {{.State.Paused}}', name])).out).toBe('paused true\n');
      const frozenExec = await docker.run(['exec', name, 'true']);
      expect(frozenExec.code).not.toBe(0);
      expect(frozenExec.err).toContain(`Container ${id} is paused, unpause the container before exec`);
      const top = await docker.run(['top', name, '-o', 'pid,args']);
      expect(top).toMatchObject({ code: 0, err: '' });
      expect(top.out).toMatch(/^PID +COMMAND\n\d+ +httpd -f -p 80 -h \/var\/www\n$/);
      expect(await docker.run(['unpause', name])).toEqual({ code: 0, out: `${name}\n`, err: '' });
      expect((await fetchPage(hostPort)).status).toBe(200);

      expect(await docker.run(['rename', name, `${name}-2`])).toEqual({ code: 0, out: '', err: '' });
      expect((await docker.run(['inspect', '-f', '{{.Name}}', id])).out).toBe(`/${name}-2\n`);
      expect(await docker.run(['rename', `${name}-2`, name])).toEqual({ code: 0, out: '', err: '' });
      // A stopped container of its own label is all a filtered prune takes.
      const pruned = await docker.run(['create', '--label', `prune=${name}`, web]);
      const prune = await docker.run(['container', 'prune', '-f', '--filter', `label=prune=${name}`]);
      expect(prune).toMatchObject({ code: 0, out: expect.stringMatching(new RegExp(`^Deleted Containers:\n${pruned.out.trim()}\n\nTotal reclaimed space: `)) });

      const stop = await docker.run(['stop', '-t', '2', name]);
      expect(stop).toEqual({ code: 0, out: `${name}\n`, err: '' });
      const stopped = JSON.parse((await docker.run(['inspect', name])).out) as Array<{ State: { Status: string; Running: boolean; FinishedAt: string } }>;
      expect(stopped[0]!.State).toMatchObject({ Status: 'exited', Running: false });
      expect(stopped[0]!.State.FinishedAt).not.toBe('0001-01-01T00:00:00Z');
    } finally {
      const rm = await docker.run(['rm', '-f', name]);
      expect(rm).toEqual({ code: 0, out: `${name}\n`, err: '' });
    }
    const gone = await docker.run(['inspect', name]);
    expect(gone.code).toBe(1);
    expect(gone.err).toContain(`Error: No such object: ${name}`);
  }, 90_000);

  it('runs in the foreground with --rm: output apart, exit codes, nothing left', async () => {
    expect(await docker.run(['run', '--rm', stack.image, 'echo', 'hi'])).toEqual({ code: 0, out: 'hi\n', err: '' });
    expect(await docker.run(['run', '--rm', stack.image, 'sh', '-c', 'echo out; echo err >&2; exit 3'])).toEqual({ code: 3, out: 'out\n', err: 'err\n' });
    expect(await docker.run(['run', '--rm', '-i', stack.image, 'tr', 'a-z', 'A-Z'], { input: 'piped\n' })).toEqual({ code: 0, out: 'PIPED\n', err: '' });
    const options = ['--read-only', '--add-host', 'db:10.1.2.3', '--dns', '9.9.9.9', '--dns-search', 'corp.example', '--dns-option', 'ndots:2'];
    const limits = ['--ulimit', 'nofile=1024:2048', '--shm-size', '128m'];
    const checks = 'touch /x 2>/dev/null || echo ro; grep -w db /etc/hosts; grep -v "^#" /etc/resolv.conf; ulimit -n; df -k /dev/shm | tail -1';
    const run = await docker.run(['run', '--rm', ...options, ...limits, stack.image, 'sh', '-c', checks]);
    expect(run).toMatchObject({ code: 0, err: '' });
    expect(run.out).toMatch(/^ro\n10\.1\.2\.3\tdb\nnameserver 9\.9\.9\.9\nsearch corp\.example\noptions ndots:2\n1024\nshm +131072 /);
    expect((await docker.run(['run', '--rm', stack.image, 'ip', 'link', 'set', 'lo', 'mtu', '1400'])).code).not.toBe(0);
    expect(await docker.run(['run', '--rm', '--cap-add', 'NET_ADMIN', stack.image, 'ip', 'link', 'set', 'lo', 'mtu', '1400'])).toEqual({ code: 0, out: '', err: '' });
    const pinned = await docker.run(['run', '--rm', '--cpuset-cpus', '0', '--cpu-shares', '512', stack.image, 'sh', '-c', 'grep Cpus_allowed_list /proc/self/status | tr -d "\\t"; cat /sys/fs/cgroup/cpu/cpu.shares']);
    expect(pinned).toEqual({ code: 0, out: 'Cpus_allowed_list:0\n512\n', err: '' });
    // --security-opt seccomp=FILE: the docker CLI reads the file and sends its JSON.
    const profileDir = tempDir('strata-docker-seccomp-');
    try {
      const profile = join(profileDir.path, 'no-mkdir.json');
      writeFileSync(profile, JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 13 }] }, null, 2));
      const mkdir = ['sh', '-c', 'mkdir /tmp/d && echo made; grep ^Seccomp: /proc/self/status | tr -d "\t"'];
      expect(await docker.run(['run', '--rm', '--security-opt', `seccomp=${profile}`, stack.image, ...mkdir])).toEqual({ code: 0, out: 'Seccomp:2\n', err: 'mkdir: can\'t create directory \'/tmp/d\': Permission denied\n' });
      expect(await docker.run(['run', '--rm', '--security-opt', 'seccomp=unconfined', stack.image, ...mkdir])).toEqual({ code: 0, out: 'made\nSeccomp:0\n', err: '' });
      const apparmor = await docker.run(['run', '--rm', '--security-opt', 'apparmor=unconfined', stack.image, 'true']);
      expect(apparmor.err).toContain('invalid --security-opt "apparmor=unconfined": this node has no AppArmor');
    } finally {
      profileDir.remove();
    }
    const notFound = await docker.run(['run', '--rm', stack.image, 'no-such-command']);
    expect(notFound.code).toBe(127);
    expect(notFound.err).toMatch(/^docker: Error response from daemon: .*no-such-command.*not found/m);
    const left = await docker.run(['ps', '-a', '--filter', `ancestor=${stack.image}`, '--format', '{{.Names}}']);
    expect(left).toEqual({ code: 0, out: '', err: '' });
  }, 60_000);

  // As with Docker: a container whose process cannot start stays "created", with the exit code and error; `docker
  // wait` answers at once, it can be started again and removed without -f.
  it('keeps a container whose command is not found created, as docker does', async () => {
    const name = names('notfound');
    try {
      const run = await docker.run(['run', '--name', name, stack.image, 'no-such-command']);
      expect(run.code).toBe(127);
      expect(run.err).toMatch(/^docker: Error response from daemon: .*no-such-command.*not found/m);
      const ps = await docker.run(['ps', '-a', '--filter', `name=${name}`, '--filter', 'status=created', '--format', '{{.Names}} {{.State}} {{.Status}}']);
      expect(ps).toEqual({ code: 0, out: `${name} created Created\n`, err: '' });
      const notFound = expect.stringMatching(/no-such-command.*executable file not found/);
      const inspect = JSON.parse((await docker.run(['inspect', name])).out) as Array<{ State: Record<string, unknown> }>;
      expect(inspect[0]!.State).toMatchObject({
        Status: 'created',
        Running: false,
        Pid: 0,
        ExitCode: 127,
        Error: notFound,
        StartedAt: '0001-01-01T00:00:00Z',
        FinishedAt: '0001-01-01T00:00:00Z',
      });
      expect(await docker.run(['wait', name])).toEqual({ code: 0, out: '127\n', err: '' });
      const waited = await dockerRequest(stack.dockerSocket, 'POST', `/v1.43/containers/${name}/wait`);
      expect(waited.json()).toEqual({ StatusCode: 127, Error: { Message: notFound } });
      const again = await docker.run(['start', name]);
      expect(again.code).toBe(1);
      expect(again.err).toMatch(/no-such-command.*not found/);
      // Docker answers a command not found (exit code 127) or not executable (126) with 400, another failure with 500.
      const answered = await dockerRequest(stack.dockerSocket, 'POST', `/v1.43/containers/${name}/start`);
      expect({ status: answered.status, body: answered.json() }).toEqual({ status: 400, body: { message: notFound } });
      expect((await docker.run(['ps', '-a', '--filter', `name=${name}`, '--format', '{{.State}}'])).out).toBe('created\n');
      expect(await docker.run(['rm', name])).toEqual({ code: 0, out: `${name}\n`, err: '' });
    } finally {
      await docker.run(['rm', '-f', name]);
    }
  }, 60_000);

  // dockerd restarts an on-failure:1 container once (die, start, die), RestartCount 1; the foreground run ends with the
  // first exit's code.
  it('restarts a container run with --restart on-failure:1 once, as docker does', async () => {
    const name = names('restart');
    try {
      const run = await docker.run(['run', '--name', name, '--restart', 'on-failure:1', stack.image, 'sh', '-c', 'echo run; exit 3']);
      expect(run.code).toBe(3);
      const state = () => docker.run(['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}} {{.RestartCount}} {{json .HostConfig.RestartPolicy}}', name]);
      await waitFor(async () => (await state()).out.startsWith('exited 3 1 '), () => 'one restart, then exited');
      await new Promise((r) => setTimeout(r, 500));
      expect(await state()).toEqual({ code: 0, out: 'exited 3 1 {"Name":"on-failure","MaximumRetryCount":1}\n', err: '' });
      expect((await docker.run(['logs', name])).out).toBe('run\nrun\n');
      expect(await docker.run(['update', '--restart', 'unless-stopped', name])).toEqual({ code: 0, out: `${name}\n`, err: '' });
      expect((await docker.run(['inspect', '-f', '{{.HostConfig.RestartPolicy.Name}}', name])).out).toBe('unless-stopped\n');
      expect(await docker.run(['update', '--cpu-shares', '256', '--cpuset-cpus', '0', name])).toEqual({ code: 0, out: `${name}\n`, err: '' });
      expect((await docker.run(['inspect', '-f', '{{.HostConfig.CpuShares}} {{.HostConfig.CpusetCpus}}', name])).out).toBe('256 0\n');
      const bad = await docker.run(['run', '-d', '--restart', 'sometimes', stack.image, 'true']);
      expect(bad.code).toBe(125);
      expect(bad.err).toContain("invalid restart policy: unknown policy 'sometimes'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'");
    } finally {
      await docker.run(['rm', '-f', name]);
    }
  }, 60_000);

  it('copies files out of and into a container with docker cp, running or stopped', async () => {
    const name = names('cp');
    const dir = tempDir('strata-docker-cp-');
    try {
      const setup = 'mkdir -p /data/sub && echo inside > /data/sub/f && ln -s sub/f /data/link && exec sleep 1000';
      expect((await docker.run(['run', '-d', '--name', name, '--hostname', 'cp-host', stack.image, 'sh', '-c', setup])).code).toBe(0);
      await waitFor(async () => (await docker.run(['exec', name, 'cat', '/data/sub/f'])).out === 'inside\n', () => 'the files to be written');
      expect(await docker.run(['cp', `${name}:/etc/hostname`, join(dir.path, 'h')])).toMatchObject({ code: 0 });
      expect(readFileSync(join(dir.path, 'h'), 'utf8')).toBe('cp-host\n');
      expect(await docker.run(['cp', `${name}:/data`, join(dir.path, 'copy')])).toMatchObject({ code: 0 });
      expect(readFileSync(join(dir.path, 'copy/sub/f'), 'utf8')).toBe('inside\n');
      expect(readlinkSync(join(dir.path, 'copy/link'))).toBe('sub/f');
      // -L follows the link, inside the container.
      expect(await docker.run(['cp', '-L', `${name}:/data/link`, join(dir.path, 'followed')])).toMatchObject({ code: 0 });
      expect(readFileSync(join(dir.path, 'followed'), 'utf8')).toBe('inside\n');
      const missing = await docker.run(['cp', `${name}:/nope`, join(dir.path, 'x')]);
      expect(missing.code).toBe(1);
      expect(missing.err).toContain(`Error: No such container:path: ${name}:/nope`);
      // Into it: a file into a directory, a directory under a new name, links and owners as docker cp gives them.
      expect(await docker.run(['cp', join(dir.path, 'h'), `${name}:/tmp/`])).toMatchObject({ code: 0 });
      expect((await docker.run(['exec', name, 'cat', '/tmp/h'])).out).toBe('cp-host\n');
      expect(await docker.run(['cp', join(dir.path, 'copy'), `${name}:/back`])).toMatchObject({ code: 0, err: '' });
      expect((await docker.run(['exec', name, 'sh', '-c', 'cat /back/sub/f; readlink /back/link; stat -c %u /back/sub/f'])).out).toBe('inside\nsub/f\n0\n');
      const notDir = await docker.run(['cp', join(dir.path, 'h'), `${name}:/data/sub/f/x`]);
      expect(notDir.code).toBe(1);
      expect((await docker.run(['stop', '-t', '0', name])).code).toBe(0);
      expect(await docker.run(['cp', `${name}:/data/sub/f`, join(dir.path, 'stopped')])).toMatchObject({ code: 0 });
      expect(readFileSync(join(dir.path, 'stopped'), 'utf8')).toBe('inside\n');
      expect(await docker.run(['cp', join(dir.path, 'h'), `${name}:/data/while-stopped`])).toMatchObject({ code: 0 });
      expect(await docker.run(['cp', `${name}:/data/while-stopped`, join(dir.path, 'round-trip')])).toMatchObject({ code: 0 });
      expect(readFileSync(join(dir.path, 'round-trip'), 'utf8')).toBe('cp-host\n');
    } finally {
      await docker.run(['rm', '-f', name]);
      dir.remove();
    }
  }, 60_000);

  it('runs health checks from --health-* flags: docker inspect and docker ps show the verdict', async () => {
    const name = names('health');
    try {
      const run = await docker.run(['run', '-d', '--name', name, '--health-cmd', 'test -f /tmp/ok', '--health-interval', '200ms', '--health-retries', '1', stack.image, 'sleep', '1000']);
      expect(run.code).toBe(0);
      const status = async () => (await docker.run(['inspect', '-f', '{{.State.Health.Status}}', name])).out.trim();
      await waitFor(async () => (await status()) === 'unhealthy', () => 'unhealthy after a failure');
      // The checks in force, the defaults filled in (this docker CLI leaves out the fields it does not know or that are zero).
      expect((await docker.run(['inspect', '-f', '{{json .Config.Healthcheck}}', name])).out).toMatch(/^\{"Test":\["CMD-SHELL","test -f \/tmp\/ok"\],"Interval":200000000,"Timeout":30000000000,.*"Retries":1\}\n$/);
      expect((await docker.run(['exec', name, 'touch', '/tmp/ok'])).code).toBe(0);
      await waitFor(async () => (await status()) === 'healthy', () => 'healthy after a pass');
      expect((await docker.run(['ps', '--filter', `name=${name}`, '--format', '{{.Status}}'])).out).toMatch(/^Up .* \(healthy\)\n$/);
      const conflict = await docker.run(['run', '--rm', '--no-healthcheck', '--health-cmd', 'true', stack.image, 'true']);
      expect(conflict.code).not.toBe(0);
    } finally {
      await docker.run(['rm', '-f', name]);
    }
  }, 60_000);

  it('runs -it through a pseudo-terminal', async () => {
    const tty = inTerminal(['run', '-it', '--rm', stack.image, 'sh']);
    await waitFor(() => tty.output().includes('/ #'), () => `a prompt in ${JSON.stringify(tty.output())}`, 15_000);
    // The 20.10 client (API 1.41, no ConsoleSize at create) sets the terminal's size after start, as with Docker,
    // so the shell may prompt before it has one: wait for a size (busybox stty fails while it is 0 rows).
    tty.p.child.stdin?.write('until busybox stty size 2>/dev/null | busybox grep -q .; do sleep 0.1; done; [ -t 0 ] && echo is-a-tty-$((6*7)) $(busybox stty size)\n');
    await waitFor(() => tty.output().includes('is-a-tty-42 40 100'), () => `is-a-tty-42 40 100 in ${JSON.stringify(tty.output())}`, 15_000);
    tty.p.child.stdin?.write('exit 5\n');
    expect(await tty.p.exited).toBe(5);
    expect(tty.output()).toContain('\r\n');
  }, 30_000);

  it('follows logs until the container exits, stdout and stderr apart, with --tail and -t', async () => {
    const name = names('logs');
    const run = await docker.run(['run', '-d', '--name', name, stack.image, 'sh', '-c', 'for i in 1 2 3 4; do echo out$i; echo err$i >&2; sleep 0.3; done']);
    expect(run.code).toBe(0);
    try {
      const follow = await docker.run(['logs', '-f', name], { timeoutMs: 20_000 });
      expect(follow).toEqual({ code: 0, out: 'out1\nout2\nout3\nout4\n', err: 'err1\nerr2\nerr3\nerr4\n' });
      // The tail counts records of both streams, as Docker's does.
      const tail = await docker.run(['logs', '--tail', '2', '-t', name]);
      expect(tail.out).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z out4\n$/);
      expect(tail.err).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z err4\n$/);
      // tail=0 is no line at all (the Containers API's tail 0 means all).
      expect(await docker.run(['logs', '--tail', '0', name])).toEqual({ code: 0, out: '', err: '' });
      expect(await docker.run(['wait', name])).toEqual({ code: 0, out: '0\n', err: '' });
    } finally {
      await docker.run(['rm', '-f', name]);
    }
  }, 60_000);

  it('answers bad input with Docker-shaped errors and keeps serving', async () => {
    const socket = stack.dockerSocket;
    const unknown = await dockerRequest(socket, 'GET', '/v1.43/no/such/endpoint');
    expect({ status: unknown.status, body: unknown.json() }).toEqual({ status: 404, body: { message: 'page not found' } });
    const malformed = await dockerRequest(socket, 'POST', '/v1.43/containers/create', '{"Image": ');
    expect(malformed.status).toBe(400);
    expect((malformed.json() as { message: string }).message).toMatch(/^invalid JSON in request body: /);
    const huge = await rawExchange(socket, `GET /_ping HTTP/1.1\r\nHost: docker\r\nX-Big: ${'a'.repeat(64 * 1024)}\r\n\r\n`);
    expect(huge).toMatch(/^HTTP\/1\.1 431 /);
    expect(huge).toContain('{"message":"request headers too large: at most 16384 bytes"}');
    const garbage = await rawExchange(socket, '\u0000\u0001 not http at all\r\n\r\n');
    expect(garbage).toMatch(/^HTTP\/1\.1 400 /);
    const missing = await dockerRequest(socket, 'GET', '/containers/no-such-container/json');
    expect({ status: missing.status, body: missing.json() }).toEqual({ status: 404, body: { message: 'No such container: no-such-container' } });

    const devices = await docker.run(['run', '--rm', '--device', '/dev/null:/dev/mine', stack.image, 'true']);
    expect(devices.code).toBe(125);
    expect(devices.err).toContain("docker: Error response from daemon: unsupported option HostConfig.Devices: Strata's Docker API does not implement it; leave it unset.");
    const caps = await docker.run(['run', '--rm', '--cap-add', 'NOPE', stack.image, 'true']);
    expect(caps.code).toBe(125);
    expect(caps.err).toContain('docker: Error response from daemon: unknown capability: "NOPE" (--cap-add).');
    const filter = await docker.run(['ps', '--filter', 'before=x']);
    expect(filter).toMatchObject({ code: 1, err: expect.stringContaining("unsupported filter 'before'") });

    const ping = await dockerRequest(socket, 'HEAD', '/_ping');
    expect(ping.status).toBe(200);
    expect(ping.headers).toMatchObject({ 'api-version': '1.44', ostype: 'linux', 'docker-experimental': 'false', 'cache-control': 'no-cache, no-store, must-revalidate' });
    expect(agent.child.exitCode).toBeNull();
    expect((await docker.run(['version', '--format', '{{.Server.APIVersion}}'])).out).toBe('1.44\n');
  }, 30_000);
});

describe('mounts with the docker CLI', () => {
  it('runs with -v, --mount and --tmpfs, and docker inspect shows them as Docker does', async () => {
    const dir = tempDir('strata-docker-mounts-');
    try {
      writeFileSync(join(dir.path, 'f'), 'from the host\n');
      const name = names('mounts');
      const script = 'cat /data/f; touch /data/x 2>&1 | grep -o "Read-only file system"; echo out > /m/y; grep -o " /t tmpfs [a-z,]*" /proc/mounts';
      const ran = await docker.run(['run', '--name', name, '-v', `${dir.path}:/data:ro`, '--mount', `type=bind,src=${dir.path},dst=/m`, '--tmpfs', '/t', stack.image, 'sh', '-c', script]);
      expect(ran).toMatchObject({ code: 0, out: 'from the host\nRead-only file system\n /t tmpfs rw,nosuid,nodev,noexec,relatime\n' });
      expect(readFileSync(join(dir.path, 'y'), 'utf8')).toBe('out\n');
      const mounts = await docker.run(['inspect', '-f', '{{json .Mounts}} {{json .HostConfig.Binds}} {{json .HostConfig.Tmpfs}}', name]);
      expect(mounts.out.trim().split(' ').map((j) => JSON.parse(j) as unknown)).toEqual([
        [
          { Type: 'bind', Source: dir.path, Destination: '/data', Mode: 'ro', RW: false, Propagation: 'rprivate' },
          { Type: 'bind', Source: dir.path, Destination: '/m', Mode: '', RW: true, Propagation: 'rprivate' },
        ],
        [`${dir.path}:/data:ro`],
        { '/t': '' },
      ]);
      expect((await docker.run(['rm', name])).code).toBe(0);
      const bad = await docker.run(['run', '--rm', '-v', `${dir.path}:/data:rx`, stack.image, 'true']);
      expect(bad).toMatchObject({ code: 125, err: expect.stringMatching(/^docker: Error response from daemon: invalid mode: rx\.?\n/) });
    } finally {
      dir.remove();
    }
  }, 60_000);
});

describe('volumes with the docker CLI', () => {
  it('creates, lists, inspects and removes volumes; -v NAME keeps data across containers, -v /path is anonymous', async () => {
    const vol = names('vol');
    expect(await docker.run(['volume', 'create', '--label', 'team=a', vol])).toEqual({ code: 0, out: `${vol}\n`, err: '' });
    const writer = names('writer');
    expect((await docker.run(['run', '--name', writer, '-v', `${vol}:/data`, '-v', '/scratch', stack.image, 'sh', '-c', 'echo kept > /data/f'])).code).toBe(0);
    const [inspected] = JSON.parse((await docker.run(['volume', 'inspect', vol])).out) as Array<Record<string, unknown>>;
    expect(inspected).toEqual({ CreatedAt: expect.stringMatching(/Z$/), Driver: 'local', Labels: { team: 'a' }, Mountpoint: expect.stringMatching(/\/_data$/), Name: vol, Options: null, Scope: 'local' });
    const mounts = JSON.parse((await docker.run(['inspect', '-f', '{{json .Mounts}}', writer])).out) as Array<Record<string, unknown>>;
    expect(mounts).toEqual([
      { Type: 'volume', Name: vol, Source: inspected!['Mountpoint'], Destination: '/data', Driver: 'local', Mode: 'z', RW: true, Propagation: '' },
      { Type: 'volume', Name: expect.stringMatching(/^[0-9a-f]{64}$/), Source: expect.stringMatching(/\/_data$/), Destination: '/scratch', Driver: 'local', Mode: '', RW: true, Propagation: '' },
    ]);
    const anonymous = mounts[1]!['Name'] as string;
    const inUse = await docker.run(['volume', 'rm', vol]);
    expect(inUse.code).toBe(1);
    expect(inUse.err).toMatch(new RegExp(`^Error response from daemon: remove ${vol}: volume is in use - \\[[0-9a-f]{64}\\]\\n$`));
    expect((await docker.run(['volume', 'ls', '-q', '--filter', 'label=team=a'])).out).toBe(`${vol}\n`);
    expect((await docker.run(['rm', '-v', writer])).code).toBe(0);
    expect((await docker.run(['volume', 'ls', '-q'])).out).not.toContain(anonymous);
    expect(await docker.run(['run', '--rm', '--mount', `type=volume,src=${vol},dst=/in`, stack.image, 'cat', '/in/f'])).toMatchObject({ code: 0, out: 'kept\n' });
    expect(await docker.run(['volume', 'rm', vol])).toEqual({ code: 0, out: `${vol}\n`, err: '' });
    expect((await docker.run(['volume', 'inspect', vol])).err).toBe(`Error: No such volume: ${vol}\n`);
  }, 60_000);
});
