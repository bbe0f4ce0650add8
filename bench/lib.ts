import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, rmSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@grpc/grpc-js';
import { connect, waitForHealthy } from '@strata/grpc-kit';

/** The repository root. */
export const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** A scratch directory under bench/.work (same disk as the repo), emptied first. */
export function workDir(name: string): string {
  const dir = join(root, 'bench', '.work', name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return dir;
}

/** Seconds taken by fn. */
export async function timed(fn: () => Promise<unknown> | unknown): Promise<number> {
  const start = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - start) / 1e9;
}

/** The median of values (the upper one of an even count); 0 for none. */
export function middle(values: readonly number[]): number {
  return [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;
}

/** The median of runs of fn, in seconds; `before` runs untimed before each. */
export async function median(runs: number, fn: () => Promise<unknown> | unknown, before?: () => Promise<unknown> | unknown): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    if (before) await before();
    times.push(await timed(fn));
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)] ?? 0;
}

/** Runs a command to completion, throwing with its output on failure. */
export function run(command: string, args: string[]): void {
  execFileSync(command, args, { stdio: ['ignore', 'ignore', 'inherit'] });
}

/** How a service on the same host reaches a layer-store's bytes: its data socket and its blob root (what `strata up` passes). */
export interface SameHostLayerStorePaths {
  dataSocket: string;
  root: string;
}

/** Starts the layer-store service from this checkout on a state dir; resolves once it answers health. */

export async function startLayerStore(stateDir: string): Promise<{ socket: string; sameHost: SameHostLayerStorePaths; stop: () => Promise<void> }> {
  const runDir = join(stateDir, 'run');
  const child = spawn(
    process.execPath,
    [join(root, 'apps/layer-store/bin/layer-store.mjs'), '--state-dir', stateDir, '--run-dir', runDir, '--nats-url', ''],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  const socket = join(runDir, 'layer-store.sock');
  await waitForHealthy({ unixSocket: socket }, { timeoutMs: 30_000 });
  return {
    socket,
    sameHost: { dataSocket: join(runDir, 'layer-store.data.sock'), root: join(stateDir, 'layer-store') },
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

const identity = (b: Buffer): Buffer => b;

/** The one method of bench/grpc-echo-server.ts: raw bytes both ways. */
export const echoMethod = {
  path: '/bench.Echo/Stream',
  requestStream: false,
  responseStream: true,
  requestSerialize: identity,
  requestDeserialize: identity,
  responseSerialize: identity,
  responseDeserialize: identity,
} as const;

/**
 * MiB/s of a plain grpc-js server-streaming call over a unix socket on this
 * machine: bench/grpc-echo-server.ts in its own process sends sizeMiB MiB in
 * 1 MiB messages (no protobuf, no disk), received by a client with Strata's
 * channel options; the median of runs. The transport's ceiling for a read.
 */
export async function grpcEchoCeiling(dir: string, sizeMiB: number, runs: number): Promise<number> {
  const socket = join(dir, 'echo.sock');
  const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'bench/grpc-echo-server.ts'), socket], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = once(child, 'exit');
  try {
    const [line] = (await once(child.stdout, 'data')) as [Buffer];
    if (!line.toString().startsWith('ready')) throw new Error(`echo server: ${line.toString()}`);
    const c = connect({ unixSocket: socket });
    const client = new Client(c.address, c.credentials, c.options);
    try {
      const bytes = sizeMiB * 1024 * 1024;
      const seconds = await median(runs, async () => {
        let got = 0;
        const call = client.makeServerStreamRequest(echoMethod.path, echoMethod.requestSerialize, echoMethod.responseDeserialize, Buffer.from(String(bytes)));
        for await (const message of call) got += (message as Buffer).length;
        if (got !== bytes) throw new Error(`echo server sent ${got} bytes, not ${bytes}`);
      });
      return sizeMiB / seconds;
    } finally {
      client.close();
    }
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
}

/** One result line: name, value, reference, ratio and target. */
export function report(name: string, strata: number, reference: number, unit: string, target?: number): void {
  const ratio = strata / reference;
  const verdict = target === undefined ? '' : ratio >= target ? `  (target ≥ ${target}×: met)` : `  (target ≥ ${target}×: MISSED)`;
  console.log(`${name.padEnd(34)} strata ${strata.toFixed(1)} ${unit}   reference ${reference.toFixed(1)} ${unit}   ratio ${ratio.toFixed(2)}×${verdict}`);
}

/** One result line for a duration (lower is better): seconds, reference, ratio and the ≤ target. */
export function reportSeconds(name: string, strata: number, reference: number, target?: number): void {
  const ratio = strata / reference;
  const verdict = target === undefined ? '' : ratio <= target ? `  (target ≤ ${target}×: met)` : `  (target ≤ ${target}×: MISSED)`;
  console.log(`${name.padEnd(34)} strata ${strata.toFixed(2)} s   reference ${reference.toFixed(2)} s   ratio ${ratio.toFixed(2)}×${verdict}`);
}

/** A line under a result: the same Strata figure against an upper bound of what this machine allows. */
export function bound(name: string, strata: number, limit: number): void {
  console.log(`${name.padEnd(34)} bound ${limit.toFixed(1)} MiB/s   strata reaches ${((100 * strata) / limit).toFixed(0)}% of it`);
}
