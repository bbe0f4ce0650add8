import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Where {@link freePort} looks: below the kernel's ephemeral range (32768 on),
 * from which bind(0) and outgoing connections take theirs, one slice per
 * vitest worker (VITEST_POOL_ID; slice 0 outside vitest). A port the kernel
 * handed out for bind(0) and took back could be handed to another worker's
 * test a moment later, before the first started its server on it (one
 * nats-server then answered another test's client); slices never meet.
 */
const PORT_BASE = 20_000;
const PORT_SLICES = 8;
const PORTS_PER_SLICE = 1_500;

/** Ports this process handed out (a server may not be listening on them yet). */
const handedOut = new Set<number>();
let cursor = Math.floor(Math.random() * PORTS_PER_SLICE);

/** True when nothing listens on 127.0.0.1:port. */
function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/**
 * A free TCP port on 127.0.0.1 for a test's server: bound and released, from
 * this vitest worker's own slice of ports (see PORT_BASE), never the same
 * twice in one process.
 */
export async function freePort(): Promise<number> {
  const base = PORT_BASE + (Number(process.env.VITEST_POOL_ID ?? 0) % PORT_SLICES) * PORTS_PER_SLICE;
  for (let tried = 0; tried < PORTS_PER_SLICE; tried++) {
    cursor = (cursor + 1) % PORTS_PER_SLICE;
    const port = base + cursor;
    if (handedOut.has(port) || !(await canBind(port))) continue;
    handedOut.add(port);
    return port;
  }
  throw new Error(`no free port left in ${base}-${base + PORTS_PER_SLICE - 1}`);
}

/** A fresh directory under the OS temp dir, mode 0700, and its removal. */
export function tempDir(prefix = 'strata-test-'): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** A child process started by a test, ended by its own pid. */
export interface TestProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Everything it wrote to stdout and stderr so far (capped at 1 MiB). */
  output(): string;
  /** Resolves with the exit code (or signal name) when it ends. */
  exited: Promise<number | string>;
  /** Sends signal (SIGTERM by default) and waits up to timeoutMs, then SIGKILL. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<void>;
}

/**
 * Spawns a process for a test. Its output is captured (shown when a wait
 * fails). Stop it with `stop()`; nothing is ever killed by name.
 */
export function startProcess(command: string, args: readonly string[], options: SpawnOptions = {}): TestProcess {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
  let out = '';
  const collect = (b: Buffer) => {
    if (out.length < 1 << 20) out += b.toString('utf8');
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? signal ?? -1));
    child.once('error', (err) => {
      out += `\nspawn error: ${err.message}`;
      resolve(-1);
    });
  });
  if (child.pid === undefined) throw new Error(`cannot start ${command}`);
  const pid = child.pid;
  return {
    child,
    pid,
    output: () => out,
    exited,
    async stop(signal = 'SIGTERM', timeoutMs = 5000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      try {
        process.kill(pid, signal);
      } catch {
        return;
      }
      const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), timeoutMs).unref());
      if ((await Promise.race([exited, timer])) === 'timeout') {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
        await exited;
      }
    },
  };
}

/** Polls check() every intervalMs until it returns true, or throws after timeoutMs with what(). */
export async function waitFor(
  check: () => boolean | Promise<boolean>,
  what: () => string,
  timeoutMs = 15_000,
  intervalMs = 50,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      /* not yet */
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what()}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Steps of a test fixture's teardown, see {@link createCleanup}. */
export interface Cleanup {
  /** Runs fn; a failure is kept for done() and the teardown goes on. */
  attempt(fn: () => Promise<unknown>): Promise<void>;
  /** Raises one AggregateError naming every failure of the attempts, if any. */
  done(): void;
}

/**
 * A teardown that runs every step whatever the others did (a stack's
 * processes, mounts, cgroups and namespaces must all go even when one step
 * fails), then reports the failures together, `what` naming the fixture.
 */
export function createCleanup(what: string): Cleanup {
  const errors: unknown[] = [];
  return {
    async attempt(fn) {
      try {
        await fn();
      } catch (err) {
        errors.push(err);
      }
    },
    done() {
      if (errors.length > 0) {
        throw new AggregateError(errors, `${what} cleanup had ${errors.length} failure(s): ${errors.map((e) => (e instanceof Error ? e.message : String(e))).join('; ')}`);
      }
    },
  };
}
