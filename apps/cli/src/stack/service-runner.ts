import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { canceled, failedPrecondition, unavailable } from '@strata/kit';
import { processStartTime, stopProcess, type StopResult } from './process-control.js';
import type { ServiceSpec, StackContext } from './service.js';
import type { ServiceRecord } from './up-state.js';

/** A service this process started and still holds. */
export interface StartedService {
  record: ServiceRecord;
  child: ChildProcess;
  /** Resolves with how it ended (`exited with code 1`, `was killed by SIGKILL`). */
  exited: Promise<string>;
}

/** The last lines of a log file, for error messages; empty when it cannot be read. */
export function logTail(path: string, lines = 20): string {
  try {
    const size = statSync(path).size;
    const length = Math.min(size, 16 * 1024);
    const buf = Buffer.alloc(length);
    const fd = openSync(path, 'r');
    try {
      readSync(fd, buf, 0, length, size - length);
    } finally {
      closeSync(fd);
    }
    return buf.toString('utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

function withTail(message: string, log: string): string {
  const tail = logTail(log);
  return tail === '' ? `${message} (log: ${log})` : `${message}; the end of ${log}:\n${tail}`;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Starts spec as a detached process (its own process group, output appended
 * to `<logsDir>/<name>.log`) and resolves once it is ready. Raises
 * FailedPrecondition when it cannot start or exits first, Unavailable when
 * it is not ready within its timeout, Canceled when signal aborts; in every
 * case it is stopped before the error is raised, and the message carries
 * the end of its log.
 */
export async function startService(spec: ServiceSpec, ctx: StackContext, signal?: AbortSignal): Promise<StartedService> {
  const conflict = await spec.conflict?.(ctx);
  if (conflict !== undefined) throw failedPrecondition(`cannot start ${spec.name}: ${conflict}`);
  const { command, args, dirs = [] } = spec.command(ctx);
  for (const dir of [ctx.logsDir, ...dirs]) mkdirSync(dir, { recursive: true, mode: 0o700 });
  const log = join(ctx.logsDir, `${spec.name}.log`);
  const fd = openSync(log, 'a', 0o600);
  let child: ChildProcess;
  try {
    writeSync(fd, `--- strata up: ${new Date().toISOString()} starting ${spec.name}: ${[command, ...args].join(' ')}\n`);
    child = spawn(command, args, { cwd: ctx.repoRoot, detached: true, stdio: ['ignore', fd, fd], env: process.env });
  } finally {
    closeSync(fd);
  }
  const exited = new Promise<string>((resolve) => {
    child.once('exit', (code, sig) => resolve(sig ? `was killed by ${sig}` : `exited with code ${code}`));
    child.once('error', (err) => resolve(`could not be started: ${err.message}`));
  });
  if (child.pid === undefined) {
    throw failedPrecondition(`cannot start ${spec.name}: ${command} ${await exited}`);
  }
  const record: ServiceRecord = {
    name: spec.name,
    pid: child.pid,
    startTime: processStartTime(child.pid),
    log,
    endpoints: spec.endpoints(ctx),
  };
  const started: StartedService = { record, child, exited };
  try {
    await waitReady(spec, ctx, started, signal);
  } catch (err) {
    await stopService(record);
    throw err;
  }
  return started;
}

async function waitReady(spec: ServiceSpec, ctx: StackContext, started: StartedService, signal?: AbortSignal): Promise<void> {
  const deadline = Date.now() + spec.readyTimeoutMs;
  let ended: string | undefined;
  void started.exited.then((how) => (ended = how));
  let last = 'no answer yet';
  for (;;) {
    if (signal?.aborted) throw canceled(`interrupted while ${spec.name} was starting`);
    if (ended !== undefined) throw failedPrecondition(withTail(`${spec.name} ${ended} before it was ready`, started.record.log));
    try {
      await spec.probe(ctx);
      if (ended === undefined) return;
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() > deadline) {
      throw unavailable(
        withTail(`${spec.name} was not ready within ${spec.readyTimeoutMs / 1000} s (last check: ${last})`, started.record.log),
      );
    }
    await sleep(100);
  }
}

/** Stops a recorded service by pid: SIGTERM, SIGKILL after timeoutMs (10 s by default). */
export function stopService(record: ServiceRecord, timeoutMs = 10_000): Promise<StopResult> {
  return stopProcess(record.pid, { startTime: record.startTime, timeoutMs });
}
