import { isAscii } from 'node:buffer';
import { execFile, execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { tempDir } from '@strata/kit/testing';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

const execFileAsync = promisify(execFile);
const repo = fileURLToPath(new URL('../../../', import.meta.url));
const launcher = fileURLToPath(new URL('../bin/strata', import.meta.url));
const entry = fileURLToPath(new URL('../bin/strata.mjs', import.meta.url));
/** A certificate file node cannot read: node says so on stderr when it loads the variable at start. */
const missingCerts = '/nonexistent/strata-launcher-test/ca.pem';
const env = { ...process.env, NODE_EXTRA_CA_CERTS: missingCerts };
const dir = tempDir('strata-launcher-');
const usage = /^Usage: {2}strata COMMAND/;

afterAll(() => dir.remove());

/** What a command printed and its exit code; a failure is a result, not an error. */
async function run(file: string, args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}) {
  return execFileAsync(file, args, options).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (err: { code: number; stdout: string; stderr: string }) => ({ code: err.code, stdout: err.stdout, stderr: err.stderr }),
  );
}

describe('the strata launcher (bin/strata)', () => {
  it('starts node without NODE_EXTRA_CA_CERTS, which node alone would load at start', async () => {
    const direct = await execFileAsync(process.execPath, [entry, '--help'], { env });
    expect(direct.stderr).toContain(`Ignoring extra certs from \`${missingCerts}\``);

    const launched = await execFileAsync(launcher, ['--help'], { env });
    expect(launched.stdout).toMatch(usage);
    expect(launched.stderr).toBe('');
  });

  it("passes node's own flags on to the command: --env-file is strata run's, not node's", async () => {
    // Node.js 20 takes --env-file even after the script's name unless `--` ends its options.
    const result = await run(launcher, ['run', '--env-file', '/nonexistent/strata-launcher-test/x.env', '--run-dir', dir.path, 'busybox', 'true']);
    expect(result).toEqual({ code: 125, stdout: '', stderr: expect.stringContaining('cannot read --env-file /nonexistent/strata-launcher-test/x.env: ENOENT') });
    expect(result.stderr).not.toContain('node:');
  });

  it('runs through a symbolic link, as npm links it into node_modules/.bin, and passes the arguments and exit code on', async () => {
    const link = join(dir.path, 'strata');
    symlinkSync(launcher, link);
    const help = await execFileAsync(link, ['--help']);
    expect(help.stdout).toMatch(usage);

    const failed = await run(link, ['pull', 'Busybox']);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toContain('invalid reference format: repository name must be lowercase');
  });

  it('starts no process but node when it is not a symbolic link, by any path: absolute, relative, through a linked directory', async () => {
    // A PATH with node alone: readlink or dirname would not be found.
    const nodeOnly = join(dir.path, 'node-only');
    mkdirSync(nodeOnly);
    symlinkSync(process.execPath, join(nodeOnly, 'node'));
    const linkedApp = join(dir.path, 'linked-app');
    symlinkSync(join(repo, 'apps', 'cli'), linkedApp);
    const bin = join(repo, 'apps', 'cli', 'bin');

    for (const [file, cwd] of [
      [launcher, dir.path],
      ['./strata', bin],
      [join(linkedApp, 'bin', 'strata'), dir.path],
    ] as const) {
      const result = await run(file, ['pull', 'Busybox'], { cwd, env: { PATH: nodeOnly } });
      expect({ file, code: result.code, stderr: result.stderr }).toEqual({
        file,
        code: 1,
        stderr: expect.stringContaining('invalid reference format: repository name must be lowercase'),
      });
    }
  });
});

/**
 * A copy of apps/cli/bin and of the bundle in a tree of its own (its
 * sources, libs and node_modules links to the repo's), so a test can break
 * and remove the code cache without touching apps/cli/dist.
 */
describe('the code cache of the bundle (bin/strata.cjs)', () => {
  const root = join(dir.path, 'tree');
  const fixtureBin = join(root, 'apps', 'cli', 'bin', 'strata');
  const dist = join(root, 'apps', 'cli', 'dist');
  const bundle = join(dist, 'strata.cjs');
  const cache = join(dist, 'strata.cjs.cache');
  /** The first line of a cache that belongs to the bundle: its size and mtime. */
  const key = () => {
    const stats = statSync(bundle);
    return `${stats.size} ${stats.mtimeMs}\n`;
  };
  /** key() with the mtime's last digit changed: a build of another time. */
  const otherBundlesKey = () => key().replace(/(\d)\n$/, (_, digit: string) => `${(Number(digit) + 1) % 10}\n`);
  const cacheFile = () => ({ ino: statSync(cache).ino, bytes: readFileSync(cache) });

  beforeAll(() => {
    const repoDist = join(repo, 'apps', 'cli', 'dist');
    if (!existsSync(join(repoDist, 'strata.cjs'))) execFileSync(process.execPath, [join(repo, 'tools', 'scripts', 'build-cli.mjs')], { stdio: 'ignore' });
    mkdirSync(join(root, 'apps', 'cli', 'bin'), { recursive: true });
    mkdirSync(dist);
    for (const name of ['strata', 'strata.cjs', 'strata.mjs']) copyFileSync(join(repo, 'apps', 'cli', 'bin', name), join(root, 'apps', 'cli', 'bin', name));
    for (const name of ['strata.cjs', 'inputs.json']) copyFileSync(join(repoDist, name), join(dist, name));
    for (const path of ['apps/cli/src', 'libs', 'node_modules']) symlinkSync(join(repo, path), join(root, path));
  });

  beforeEach(() => {
    // Newer than every source: the launcher runs it even while someone edits one.
    const now = new Date();
    utimesSync(bundle, now, now);
    execFileSync('rm', ['-rf', cache]);
  });

  it('runs the bundle without a cache and writes one when the command ends', async () => {
    const help = await run(fixtureBin, ['--help']);
    expect(help).toEqual({ code: 0, stdout: expect.stringMatching(usage), stderr: '' });

    const written = readFileSync(cache);
    expect(written.subarray(0, key().length).toString()).toBe(key());
    expect(written.length).toBeGreaterThan(key().length + 10_000);
  });

  it('uses a cache V8 accepts and leaves it as it is', async () => {
    await run(fixtureBin, ['--help']);
    const before = cacheFile();

    const failed = await run(fixtureBin, ['pull', 'Busybox']);
    expect(failed).toEqual({ code: 1, stdout: '', stderr: expect.stringContaining('invalid reference format: repository name must be lowercase') });
    expect(cacheFile()).toEqual(before);
  });

  it('rewrites an accepted cache when STRATA_WRITE_CODE_CACHE=1 asks, after the command', async () => {
    await run(fixtureBin, ['--help']);
    const before = cacheFile();

    const help = await run(fixtureBin, ['--help'], { env: { ...process.env, STRATA_WRITE_CODE_CACHE: '1' } });
    expect(help.stdout).toMatch(usage);
    const after = cacheFile();
    expect(after.ino).not.toBe(before.ino);
    expect(after.bytes.subarray(0, key().length).toString()).toBe(key());
  });

  it.each([
    ['V8 rejects (garbage after the right first line)', () => `${key()}not a code cache`],
    // V8 would take it: it checks the length of the source alone.
    ["is another bundle's of the same length (its data after a first line naming another mtime)", () => otherBundlesKey() + readFileSync(cache, 'latin1').slice(key().length)],
    ['is empty', () => ''],
  ])('ignores a cache that %s and replaces it', async (_case, contents) => {
    await run(fixtureBin, ['--help']);
    writeFileSync(cache, contents(), 'latin1');
    const broken = cacheFile();

    const failed = await run(fixtureBin, ['pull', 'Busybox']);
    expect(failed).toEqual({ code: 1, stdout: '', stderr: expect.stringContaining('invalid reference format: repository name must be lowercase') });
    const replaced = cacheFile();
    expect(replaced.bytes.subarray(0, key().length).toString()).toBe(key());
    expect(replaced.bytes.equals(broken.bytes)).toBe(false);

    // The new cache is accepted: the next start leaves it alone.
    await run(fixtureBin, ['--help']);
    expect(cacheFile()).toEqual(replaced);
  });

  it('runs when the cache cannot be read or written (a directory in its place), leaving no temporary file', async () => {
    mkdirSync(cache);
    const help = await run(fixtureBin, ['--help']);
    expect(help).toEqual({ code: 0, stdout: expect.stringMatching(usage), stderr: '' });
    expect(statSync(cache).isDirectory()).toBe(true);
    expect(readdirSync(dist).sort()).toEqual(['inputs.json', 'strata.cjs', 'strata.cjs.cache']);
  });

  it('reads a bundle as UTF-8 when it is not ASCII (the build writes ASCII, read as latin1)', async () => {
    expect(isAscii(readFileSync(join(repo, 'apps', 'cli', 'dist', 'strata.cjs')))).toBe(true);
    const original = readFileSync(bundle);
    try {
      writeFileSync(bundle, "process.stdout.write('h\u00e9llo ' + /\u00b5s/.test('5µs') + ' µs ✓\\n');\n");
      expect(await run(fixtureBin, [])).toEqual({ code: 0, stdout: 'héllo true µs ✓\n', stderr: '' });
      writeFileSync(bundle, "process.stdout.write('h\\u00e9llo ' + /\\u00b5s/.test('5\\u00b5s') + '\\n');\n");
      expect(await run(fixtureBin, [])).toEqual({ code: 0, stdout: 'héllo true\n', stderr: '' });
    } finally {
      writeFileSync(bundle, original);
    }
  });

  it('runs the TypeScript sources through tsx when a source is newer than the bundle, without a cache', async () => {
    const old = new Date('2000-01-01T00:00:00Z');
    const original = readFileSync(bundle);
    writeFileSync(bundle, "process.stdout.write('the stale bundle ran\\n');\n");
    utimesSync(bundle, old, old);
    try {
      const help = await run(fixtureBin, ['--help']);
      expect(help).toEqual({ code: 0, stdout: expect.stringMatching(usage), stderr: '' });
      expect(existsSync(cache)).toBe(false);
    } finally {
      writeFileSync(bundle, original);
    }
  });
});
