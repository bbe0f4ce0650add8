import { execFile } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { writeBusyboxRootfs } from '@strata/image-fixtures';

const run = promisify(execFile);

/** Builds strata-monitor with make when its binary is missing or older than its source. */
export async function ensureMonitorBuilt(): Promise<void> {
  await run('make', ['-s', '-C', fileURLToPath(new URL('../../native', import.meta.url))]);
}

/** Writes a read-only busybox root file system (with `stty` and `tty`) into dir for test bundles. */
export async function writeTestRootfs(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeBusyboxRootfs(dir, { extraApplets: ['stty', 'tty'] });
}

/** Settings of {@link writeTestBundle}. */
export interface TestBundleOptions {
  /** Absolute path of a root file system (shared read-only between bundles). */
  rootfs: string;
  args: string[];
  tty?: boolean;
  env?: string[];
}

/**
 * Writes an OCI bundle into dir (created if missing): `runc spec`'s default
 * config.json with the given args, terminal flag and read-only rootfs.
 */
export async function writeTestBundle(dir: string, options: TestBundleOptions): Promise<string> {
  await mkdir(dir, { recursive: true });
  await run('runc', ['spec', '--bundle', dir]);
  const path = join(dir, 'config.json');
  const spec = JSON.parse(await readFile(path, 'utf8')) as {
    process: { args: string[]; terminal: boolean; env: string[] };
    root: { path: string; readonly: boolean };
  };
  spec.process.args = options.args;
  spec.process.terminal = options.tty ?? false;
  if (options.env) spec.process.env = [...spec.process.env, ...options.env];
  spec.root = { path: options.rootfs, readonly: true };
  await writeFile(path, JSON.stringify(spec, null, 2));
  return dir;
}

/** Force-deletes every container runc knows under root (a test's leftovers); nothing when runc lists none. */
export async function deleteRuncContainers(root: string): Promise<void> {
  const { stdout } = await run('runc', ['--root', root, 'list', '-q']).catch(() => ({ stdout: '' }));
  for (const id of stdout.split('\n').filter(Boolean)) await run('runc', ['--root', root, 'delete', '-f', id]).catch(() => undefined);
}
