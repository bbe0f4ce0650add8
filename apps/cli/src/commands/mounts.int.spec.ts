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

const strata = (...argv: string[]) => runCaptured([argv[0]!, '--run-dir', stack.runDir, ...argv.slice(1)]);

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
