import { Worker } from 'node:worker_threads';

/** How a program that runProgram ran ended, and what it printed. */
export interface ProgramResult {
  /** Its exit code; -1 when it was killed by a signal or could not be started. */
  code: number;
  /** The signal that killed it (a timeout kills with SIGTERM). */
  signal?: string;
  /** Why it could not be started (`ENOENT`: no such program), or why its output was cut (`ERR_CHILD_PROCESS_STDIO_MAXBUFFER`). */
  error?: string;
  /** Node's message when it did not exit with 0 (`Command failed: …`), or could not be started. */
  message?: string;
  stdout: string;
  stderr: string;
}

/** Settings of {@link runProgram}. */
export interface RunProgramOptions {
  /** Written to its stdin, which is then closed (empty by default). */
  input?: string;
  /** Killed (SIGTERM) after this long; no limit by default. */
  timeoutMs?: number;
  /** Bytes of stdout or stderr kept before it is killed; 64 MiB by default. */
  maxBuffer?: number;
}

/** The worker: execFile of each request, answered by id. CommonJS text, so it needs no loader of the caller's. */
const WORKER = `
const { parentPort } = require('node:worker_threads');
const { execFile } = require('node:child_process');
parentPort.on('message', ({ id, file, args, input, timeoutMs, maxBuffer }) => {
  const child = execFile(file, args, { timeout: timeoutMs, maxBuffer, encoding: 'utf8' }, (err, stdout, stderr) => {
    const result = { id, code: 0, stdout, stderr };
    if (err) {
      result.code = typeof err.code === 'number' ? err.code : -1;
      if (err.signal) result.signal = err.signal;
      if (typeof err.code === 'string') result.error = err.code;
      result.message = err.message;
    }
    parentPort.postMessage(result);
  });
  // A program that exits without reading all its input makes the pipe fail: its exit status tells what happened.
  child.stdin?.on('error', () => undefined);
  child.stdin?.end(input);
});
`;

let worker: Worker | undefined;
let nextId = 0;
const pending = new Map<number, (result: ProgramResult) => void>();

function spawner(): Worker {
  if (worker !== undefined) return worker;
  const w = new Worker(WORKER, { eval: true });
  w.on('message', ({ id, ...result }: ProgramResult & { id: number }) => {
    const resolve = pending.get(id);
    pending.delete(id);
    if (pending.size === 0) w.unref();
    resolve?.(result);
  });
  const failAll = (why: string) => {
    if (worker === w) worker = undefined;
    for (const resolve of pending.values()) resolve({ code: -1, error: 'ERR_WORKER', message: why, stdout: '', stderr: '' });
    pending.clear();
  };
  w.on('error', (err) => failAll(`the program runner failed: ${err.message}`));
  w.on('exit', (code) => failAll(`the program runner exited with ${code}`));
  worker = w;
  return w;
}

/**
 * Runs file with args (no shell: each argument passed as it is) and
 * resolves with how it ended and its output, whatever the exit code; it
 * never rejects. The program is started from a worker thread: Node's spawn
 * forks the calling thread's process and then waits until the child has
 * exec'd, and a fork copies the page tables of all its memory while a busy
 * host may keep the child from a CPU for milliseconds; on the worker, that
 * wait does not hold up the caller's event loop, so a service that starts a
 * program per request keeps answering meanwhile.
 */
export function runProgram(file: string, args: readonly string[], options: RunProgramOptions = {}): Promise<ProgramResult> {
  const w = spawner();
  const id = nextId++;
  return new Promise((resolve) => {
    pending.set(id, resolve);
    w.ref();
    w.postMessage({ id, file, args: [...args], input: options.input ?? '', timeoutMs: options.timeoutMs ?? 0, maxBuffer: options.maxBuffer ?? 64 << 20 });
  });
}
