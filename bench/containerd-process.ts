/**
 * A containerd of its own for a benchmark (Debian's `containerd` package,
 * whose service is never started): config, root, state and sockets under
 * one directory, CRI plugin off, started and stopped by pid; the directory
 * is removed after stop().
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startProcess, waitFor, type TestProcess } from '@strata/kit/testing';

const execFileAsync = promisify(execFile);

/** A running containerd. */
export interface ContainerdProcess {
  /** Its gRPC socket (`ctr -a`). */
  socket: string;
  pid: number;
  /** SIGTERM by pid (SIGKILL after 30 s), then removes its directory (unless keepState). */
  stop(): Promise<void>;
}

/** Starts containerd under base (emptied first) and waits until `ctr version` answers; keepState leaves base to the caller at stop. */
export async function startContainerd(base: string, options: { keepState?: boolean } = {}): Promise<ContainerdProcess> {
  rmSync(base, { recursive: true, force: true });
  mkdirSync(base, { recursive: true, mode: 0o700 });
  const socket = join(base, 'containerd.sock');
  const config = join(base, 'config.toml');
  writeFileSync(
    config,
    [
      'version = 2',
      `root = "${join(base, 'root')}"`,
      `state = "${join(base, 'state')}"`,
      'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
      '[grpc]',
      `  address = "${socket}"`,
      '[ttrpc]',
      `  address = "${socket}.ttrpc"`,
      '[debug]',
      '  address = ""',
      '[metrics]',
      '  address = ""',
      '[plugins."io.containerd.internal.v1.opt"]',
      `  path = "${join(base, 'opt')}"`,
      '',
    ].join('\n'),
  );
  const p: TestProcess = startProcess('containerd', ['--config', config]);
  const stop = async () => {
    await p.stop('SIGTERM', 30_000);
    if (options.keepState !== true) rmSync(base, { recursive: true, force: true });
  };
  try {
    await waitFor(
      async () => {
        if (p.child.exitCode !== null) throw new Error(`containerd exited (${p.child.exitCode}):\n${p.output()}`);
        if (!existsSync(socket)) return false;
        return execFileAsync('ctr', ['-a', socket, 'version']).then(
          () => true,
          () => false,
        );
      },
      () => 'containerd to answer',
      30_000,
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return { socket, pid: p.pid, stop };
}
