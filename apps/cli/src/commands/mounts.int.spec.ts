import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
// The node-agent's reusable test stack lives in its app, beside startNodeAgent which it starts.
// eslint-disable-next-line @nx/enforce-module-boundaries
import { startTestStack, type TestStack } from '@strata/app-node-agent/testing';
import { tempDir } from '@strata/kit/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCaptured } from '../testing/run-captured.js';

let stack: TestStack;
let host: ReturnType<typeof tempDir>;

/** Runs `strata COMMAND…` against the stack: `--run-dir` right after the command's name (two words for `volume …`). */
const strata = (...argv: string[]) => {
  const words = argv[0] === 'volume' ? 2 : 1;
  return runCaptured([...argv.slice(0, words), '--run-dir', stack.runDir, ...argv.slice(words)]);
};

beforeAll(async () => {
  host = tempDir('strata-cli-mounts-');
  stack = await startTestStack();
  await stack.startAgent();
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  host?.remove();
}, 120_000);

describe('strata run with -v, --mount and --tmpfs', { timeout: 60_000 }, () => {
  it('binds host directories and mounts tmpfs as docker run does, and inspect shows them', async () => {
    writeFileSync(join(host.path, 'in'), 'from the host\n');
    const made = join(host.path, 'made');
    const script = 'cat /in/in; echo back > /out/file; touch /ro/x 2>&1 | grep -o "Read-only file system"; grep -o " /t tmpfs [a-z,]*" /proc/mounts';
    const run = await strata(
      'run', '--name', 'mounts-cli', '--network', 'none',
      '-v', `${host.path}:/in`, '-v', `${made}:/out`, '--mount', `type=bind,src=${host.path},dst=/ro,readonly`, '--tmpfs', '/t:exec',
      stack.image, 'sh', '-c', script,
    );
    expect(run).toEqual({ code: 0, out: 'from the host\nRead-only file system\n /t tmpfs rw,nosuid,nodev,relatime\n', err: '' });
    expect(readFileSync(join(made, 'file'), 'utf8')).toBe('back\n');
    const inspected = await strata('inspect', '-f', '{{json .Mounts}}', 'mounts-cli');
    expect(JSON.parse(inspected.out)).toEqual([
      { Type: 'bind', Source: host.path, Destination: '/in', Mode: '', RW: true, Propagation: 'rprivate' },
      { Type: 'bind', Source: made, Destination: '/out', Mode: '', RW: true, Propagation: 'rprivate' },
      { Type: 'bind', Source: host.path, Destination: '/ro', Mode: '', RW: false, Propagation: 'rprivate' },
    ]);
    expect((await strata('rm', 'mounts-cli')).code).toBe(0);
  });

  it.each([
    [['--mount', 'type=bind,src=/nonexistent-strata,dst=/x'], 'strata: invalid mount config for type "bind": bind source path does not exist: /nonexistent-strata\n'],
    [['--mount', 'type=bind,dst=/x,colour=red'], 'strata: invalid argument "type=bind,dst=/x,colour=red" for "--mount" flag: unexpected key \'colour\' in \'colour=red\'\n'],
    [['-v', '/a:/b:rx'], 'strata: invalid mode: rx\n'],
    [['-v', '/a:/x', '--tmpfs', '/x'], 'strata: Duplicate mount point: /x\n'],
  ])('refuses %j with exit 125', async (flags, err) => {
    expect(await strata('run', '--rm', ...flags, stack.image, 'true')).toEqual({ code: 125, out: '', err });
    expect(existsSync('/nonexistent-strata')).toBe(false);
  });
});

describe('strata volume', { timeout: 60_000 }, () => {
  it('creates, lists, inspects and removes volumes as docker volume does; data outlives the containers', async () => {
    expect(await strata('volume', 'create', '--label', 'team=a', 'cli-vol')).toEqual({ code: 0, out: 'cli-vol\n', err: '' });
    const ran = await strata('run', '--name', 'vol-writer', '--network', 'none', '-v', 'cli-vol:/data', stack.image, 'sh', '-c', 'echo kept > /data/f');
    expect(ran.code).toBe(0);
    const inspected = JSON.parse((await strata('inspect', '-f', '{{json .Mounts}}', 'vol-writer')).out) as unknown[];
    const mountpoint = JSON.parse((await strata('volume', 'inspect', '-f', '{{json .Mountpoint}}', 'cli-vol')).out) as string;
    expect(inspected).toEqual([{ Type: 'volume', Name: 'cli-vol', Source: mountpoint, Destination: '/data', Driver: 'local', Mode: 'z', RW: true, Propagation: '' }]);
    expect(await strata('volume', 'rm', 'cli-vol')).toMatchObject({ code: 1, out: '', err: expect.stringMatching(/^strata: remove cli-vol: volume is in use - \[[0-9a-f]{64}\]\n$/) });
    expect((await strata('rm', 'vol-writer')).code).toBe(0);
    const reader = await strata('run', '--rm', '--network', 'none', '--mount', 'type=volume,src=cli-vol,dst=/in', stack.image, 'cat', '/in/f');
    expect(reader).toEqual({ code: 0, out: 'kept\n', err: '' });
    const listed = await strata('volume', 'ls', '--filter', 'label=team=a');
    expect(listed).toEqual({ code: 0, out: 'DRIVER  VOLUME NAME\nlocal   cli-vol\n', err: '' });
    const [view] = JSON.parse((await strata('volume', 'inspect', 'cli-vol')).out) as Array<Record<string, unknown>>;
    expect(view).toEqual({ CreatedAt: expect.stringMatching(/Z$/), Driver: 'local', Labels: { team: 'a' }, Mountpoint: mountpoint, Name: 'cli-vol', Options: null, Scope: 'local' });
    expect(await strata('volume', 'rm', 'cli-vol', 'nope-vol')).toEqual({ code: 1, out: 'cli-vol\n', err: 'strata: get nope-vol: no such volume\n' });
    expect(existsSync(mountpoint)).toBe(false);
  });

  it('gives -v /path an anonymous volume that rm -v removes and prune finds when rm keeps it', async () => {
    expect((await strata('run', '--name', 'anon-1', '--network', 'none', '-v', '/scratch', stack.image, 'true')).code).toBe(0);
    const name = (JSON.parse((await strata('inspect', '-f', '{{json .Mounts}}', 'anon-1')).out) as Array<{ Name: string }>)[0]!.Name;
    expect((await strata('volume', 'ls', '-q', '--filter', 'dangling=false')).out).toContain(`${name}\n`);
    expect((await strata('rm', '-v', 'anon-1')).code).toBe(0);
    expect((await strata('volume', 'ls', '-q')).out).not.toContain(name);
    expect((await strata('run', '--name', 'anon-2', '--network', 'none', '-v', '/scratch', stack.image, 'true')).code).toBe(0);
    const kept = (JSON.parse((await strata('inspect', '-f', '{{json .Mounts}}', 'anon-2')).out) as Array<{ Name: string }>)[0]!.Name;
    expect((await strata('rm', 'anon-2')).code).toBe(0);
    expect(await strata('volume', 'prune', '-f')).toEqual({ code: 0, out: `Deleted Volumes:\n${kept}\n\nTotal reclaimed space: 0B\n`, err: '' });
    expect(await strata('volume', 'rm', 'a$')).toMatchObject({ code: 1, err: expect.stringContaining('no such volume') });
  });
});
