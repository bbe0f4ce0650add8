import { access, constants } from 'node:fs/promises';
import { startProcess, tempDir, type TestProcess } from '@strata/kit/testing';

/** Where tools/scripts/setup.sh puts the docker CLI taken from Debian's docker.io package. */
export const DOCKER_CLI = '/opt/strata/docker-cli/docker';

/** What one docker CLI command did. */
export interface DockerCliResult {
  code: number | string;
  out: string;
  err: string;
}

/** The docker CLI pointed at one Docker API socket, with its own config dir. */
export interface DockerCli {
  /** The environment it runs with: DOCKER_HOST, DOCKER_CONFIG, PATH. */
  readonly env: Record<string, string>;
  /**
   * Runs `docker args…`, writing input (when given) to its stdin and closing
   * it, and answers its exit code and output. A run over timeoutMs (30 s by
   * default) is killed by its pid and answers what came.
   */
  run(args: readonly string[], options?: { input?: string; timeoutMs?: number }): Promise<DockerCliResult>;
  /** Starts `docker args…` for a test to drive (stdio piped); stopped by remove() unless ended before. */
  start(args: readonly string[]): TestProcess;
  /** Stops what start() started and removes the config dir. */
  remove(): Promise<void>;
}

/**
 * A {@link DockerCli} for the Docker API on socketPath. Raises an Error
 * naming setup.sh when the CLI is not installed.
 */
export async function createDockerCli(socketPath: string, binary = DOCKER_CLI): Promise<DockerCli> {
  await access(binary, constants.X_OK).catch(() => {
    throw new Error(`the docker CLI is not at ${binary}: run tools/scripts/setup.sh (it extracts it from Debian's docker.io package)`);
  });
  const config = tempDir('strata-docker-cli-');
  const env = { DOCKER_HOST: `unix://${socketPath}`, DOCKER_CONFIG: config.path, PATH: process.env['PATH'] ?? '/usr/bin:/bin' };
  const started: TestProcess[] = [];
  const start = (args: readonly string[]) => {
    const p = startProcess(binary, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    started.push(p);
    return p;
  };
  return {
    env,
    start,
    async run(args, options = {}) {
      const p = startProcess(binary, args, { env, stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      const closed = new Promise((resolve) => p.child.once('close', resolve));
      p.child.stdout?.on('data', (b: Buffer) => (out += b.toString('utf8')));
      p.child.stderr?.on('data', (b: Buffer) => (err += b.toString('utf8')));
      if (options.input !== undefined) p.child.stdin?.end(options.input);
      const timer = setTimeout(() => void p.stop('SIGKILL'), options.timeoutMs ?? 30_000);
      try {
        const code = await p.exited;
        // Output may still be in flight when the process exits: its pipes close after.
        await closed;
        return { code, out, err };
      } finally {
        clearTimeout(timer);
        await p.stop('SIGKILL');
      }
    },
    async remove() {
      for (const p of started) await p.stop('SIGKILL');
      config.remove();
    },
  };
}
