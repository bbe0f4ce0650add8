import { execFile } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createGrpcStore } from '@strata/content-grpc';
import { startNatsServer, type TestNatsServer } from '@strata/events-nats/testing';
import type { TestDistributionRegistry } from '@strata/image-fixtures';
import { isNotFound, silentLogger } from '@strata/kit';
import { freePort, startProcess, waitFor, type TestProcess } from '@strata/kit/testing';
import type { Digest } from '@strata/oci';
import type { ServiceSpec, StackContext } from '../apps/cli/src/stack/service.js';
import { layerStoreService, registryMirrorService } from '../apps/cli/src/stack/services.js';
import { root, type SameHostLayerStorePaths } from './lib.js';
import { processHealthy } from '@strata/grpc-kit/testing';

/** The name the mirror knows the bench's upstream by: pull `<mirror>/upstream.bench/<repository>:<tag>`. */
export const UPSTREAM_NAME = 'upstream.bench';

const execFileAsync = promisify(execFile);

/** A registry-mirror with its own NATS and layer-store, on fresh state. */
export interface MirrorStack {
  /** `http://127.0.0.1:<port>`. */
  readonly url: string;
  /** `127.0.0.1:<port>`, for image references. */
  readonly host: string;
  /** The mirror's gRPC socket. */
  readonly socket: string;
  readonly layerStoreSocket: string;
  /** The layer-store's data socket and blob root, as `strata up` passes them to services on its host. */
  readonly sameHost: SameHostLayerStorePaths;
  /** Process ids of the mirror and the layer-store (for CPU accounting). */
  readonly pids: { mirror: number; layerStore: number };
  /** What the mirror and the layer-store wrote to stdout and stderr so far (their logs; the first MiB). */
  output(): { mirror: string; layerStore: string };
  /** Resolves once every digest is committed in the layer-store (a cold fetch commits just after its last bytes). */
  waitCached(digests: readonly Digest[], timeoutMs?: number): Promise<void>;
  /** Stops the mirror, the layer-store and NATS (by pid) and removes the state (unless keepState). */
  stop(): Promise<void>;
}

/** Settings of {@link startMirrorStack}. */
export interface MirrorStackOptions {
  /** Node flags for the mirror and layer-store processes, e.g. `--cpu-prof --cpu-prof-dir=DIR`. */
  nodeArgs?: readonly string[];
  /** Leave the state directory in place at stop (the caller removes it later). */
  keepState?: boolean;
}

/**
 * Starts NATS (JetStream), a layer-store on a fresh state dir under dir and
 * a registry-mirror from this checkout with upstream as `upstream.bench`,
 * with the command lines `strata up` gives them (apps/cli's service specs:
 * the mirror uses the layer-store's data socket and reads its blob root).
 * Resolves once both services answer health; on failure whatever started
 * is stopped again.
 */
export async function startMirrorStack(dir: string, upstream: TestDistributionRegistry, options: MirrorStackOptions = {}): Promise<MirrorStack> {
  rmSync(dir, { recursive: true, force: true });
  const state = join(dir, 'state');
  const runDir = join(dir, 'run');
  mkdirSync(runDir, { recursive: true, mode: 0o700 });
  const nodeArgs = options.nodeArgs ?? [];
  const processes: TestProcess[] = [];
  let nats: TestNatsServer | undefined;
  const stopAll = async () => {
    for (const p of processes.reverse()) await p.stop('SIGTERM', 10_000);
    await nats?.stop();
    if (options.keepState !== true) rmSync(dir, { recursive: true, force: true });
  };
  try {
    nats = await startNatsServer();
    const mirrorPort = await freePort();
    const ctx: StackContext = {
      stateDir: state,
      runDir,
      natsPort: Number(new URL(nats.url).port),
      mirrorPort,
      logsDir: join(state, 'logs'),
      repoRoot: root,
      natsUrl: nats.url,
      mirrorUrl: `http://127.0.0.1:${mirrorPort}`,
    };
    // The command lines `strata up` uses, with node flags in front and the bench's upstream added.
    const run = (spec: ServiceSpec, extra: readonly string[] = []) => {
      const { command, args } = spec.command(ctx);
      return startProcess(command, [...nodeArgs, ...args, ...extra]);
    };
    const layerStoreSocket = join(runDir, 'layer-store.sock');
    const layerStore = run(layerStoreService);
    processes.push(layerStore);
    await processHealthy(layerStore, layerStoreSocket, 'layer-store');
    const host = `127.0.0.1:${mirrorPort}`;
    const socket = join(runDir, 'registry-mirror.sock');
    const mirror = run(registryMirrorService, ['--upstream', `${UPSTREAM_NAME}=${upstream.url}`]);
    processes.push(mirror);
    await processHealthy(mirror, socket, 'registry-mirror');
    const store = createGrpcStore({ unixSocket: layerStoreSocket }, { logger: silentLogger() });
    return {
      url: `http://${host}`,
      host,
      socket,
      layerStoreSocket,
      sameHost: { dataSocket: join(runDir, 'layer-store.data.sock'), root: join(state, 'layer-store') },
      pids: { mirror: mirror.pid, layerStore: layerStore.pid },
      output: () => ({ mirror: mirror.output(), layerStore: layerStore.output() }),
      async waitCached(digests, timeoutMs = 60_000) {
        await waitFor(
          async () => {
            for (const digest of digests) {
              try {
                await store.info(digest);
              } catch (err) {
                if (isNotFound(err)) return false;
                throw err;
              }
            }
            return true;
          },
          () => `the layer-store to hold ${digests.join(', ')}`,
          timeoutMs,
        );
      },
      async stop() {
        await store.close();
        await stopAll();
      },
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

/**
 * `skopeo copy` of `docker://<source>` into a fresh OCI layout at target
 * (`oci:<target>:<tag>`), plain HTTP. Throws with skopeo's output on failure.
 */
export async function skopeoPull(source: string, target: string, tag: string): Promise<void> {
  rmSync(target, { recursive: true, force: true });
  await execFileAsync('skopeo', ['--insecure-policy', 'copy', '--quiet', '--src-tls-verify=false', `docker://${source}`, `oci:${target}:${tag}`], {
    timeout: 600_000,
  });
}
