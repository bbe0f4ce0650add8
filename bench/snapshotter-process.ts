import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { waitForHealthy } from '@strata/grpc-kit';
import { startProcess, type TestProcess } from '@strata/kit/testing';
import { root, type SameHostLayerStorePaths } from './lib.js';

/** A snapshotter process of this checkout on its own state directory. */
export interface SnapshotterProcess {
  /** Its gRPC socket (Snapshots, Diff): `<runDir>/snapshotter.sock`. */
  readonly socket: string;
  readonly pid: number;
  /** Stops it (SIGTERM, by pid) and removes its state directory with every snapshot in it (unless keepState). */
  stop(): Promise<void>;
}

/** Settings of {@link startSnapshotterProcess}. */
export interface SnapshotterProcessOptions {
  /** Fresh state goes here (removed first, and again by stop). */
  stateDir: string;
  /** Where its socket goes; may be the run dir of other services (the CLI finds them all there). */
  runDir: string;
  /** The layer-store it reads layer blobs from. */
  layerStoreSocket: string;
  /** The layer-store's data socket and blob root, passed as `strata up` passes them to a snapshotter on the layer-store's host. */
  sameHost?: SameHostLayerStorePaths;
  /** Node flags, e.g. `--cpu-prof --cpu-prof-dir=DIR`. */
  nodeArgs?: readonly string[];
  /** Leave the state directory in place at stop (the caller removes it later). */
  keepState?: boolean;
}

/**
 * Starts apps/snapshotter as `strata up` does (overlay driver where the
 * kernel has it), without events, on a fresh state directory; resolves once
 * it answers health. Throws with its output when it exits first.
 */
export async function startSnapshotterProcess(options: SnapshotterProcessOptions): Promise<SnapshotterProcess> {
  const { stateDir, runDir } = options;
  rmSync(stateDir, { recursive: true, force: true });
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  mkdirSync(runDir, { recursive: true, mode: 0o700 });
  const args = [
    ...(options.nodeArgs ?? []),
    join(root, 'apps/snapshotter/bin/snapshotter.mjs'),
    ...['--state-dir', stateDir, '--run-dir', runDir, '--nats-url', '', '--layer-store-socket', options.layerStoreSocket],
    ...(options.sameHost === undefined ? [] : ['--layer-store-data-socket', options.sameHost.dataSocket, '--layer-store-root', options.sameHost.root]),
  ];
  const p: TestProcess = startProcess(process.execPath, args);
  const socket = join(runDir, 'snapshotter.sock');
  const stop = async () => {
    await p.stop('SIGTERM', 30_000);
    if (options.keepState !== true) rmSync(stateDir, { recursive: true, force: true });
  };
  try {
    await Promise.race([
      waitForHealthy({ unixSocket: socket }, { timeoutMs: 30_000 }),
      p.exited.then((code) => {
        throw new Error(`snapshotter exited (${code}) before it was healthy:\n${p.output()}`);
      }),
    ]);
  } catch (err) {
    await stop();
    throw err;
  }
  return { socket, pid: p.pid, stop };
}
