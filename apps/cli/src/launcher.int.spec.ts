import { execFile } from 'node:child_process';
import { symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { tempDir } from '@strata/kit/testing';
import { afterAll, describe, expect, it } from 'vitest';

const execFileAsync = promisify(execFile);
const launcher = fileURLToPath(new URL('../bin/strata', import.meta.url));
const entry = fileURLToPath(new URL('../bin/strata.mjs', import.meta.url));
/** A certificate file node cannot read: node says so on stderr when it loads the variable at start. */
const missingCerts = '/nonexistent/strata-launcher-test/ca.pem';
const env = { ...process.env, NODE_EXTRA_CA_CERTS: missingCerts };
const dir = tempDir('strata-launcher-');

afterAll(() => dir.remove());

describe('the strata launcher (bin/strata)', () => {
  it('starts node without NODE_EXTRA_CA_CERTS, which node alone would load at start', async () => {
    const direct = await execFileAsync(process.execPath, [entry, '--help'], { env });
    expect(direct.stderr).toContain(`Ignoring extra certs from \`${missingCerts}\``);

    const launched = await execFileAsync(launcher, ['--help'], { env });
    expect(launched.stdout).toMatch(/^Usage: {2}strata COMMAND/);
    expect(launched.stderr).toBe('');
  });

  it('runs through a symbolic link, as npm links it into node_modules/.bin, and passes the arguments and exit code on', async () => {
    const link = join(dir.path, 'strata');
    symlinkSync(launcher, link);
    const help = await execFileAsync(link, ['--help']);
    expect(help.stdout).toMatch(/^Usage: {2}strata COMMAND/);

    const failed = await execFileAsync(link, ['pull', 'Busybox']).then(
      () => undefined,
      (err: { code: number; stderr: string }) => err,
    );
    expect(failed?.code).toBe(1);
    expect(failed?.stderr).toContain('invalid reference format: repository name must be lowercase');
  });
});
