import { PassThrough, Writable, type Readable } from 'node:stream';
import { Worker } from 'node:worker_threads';

// Programs are started from one worker thread. Node's spawn forks the
// calling thread's process and then waits until the child has exec'd: a fork
// copies the page tables of all the process's memory, and a busy host may
// keep the child from a CPU for milliseconds. On the worker that wait does
// not hold up the caller's event loop, so a service that starts a program
// per request keeps answering meanwhile.

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

/** Settings of {@link startProgram}. */
export interface StartProgramOptions {
  /**
   * A pipe for each descriptor from 2 on: `read` (the program writes, the
   * caller reads) or `write` (the caller writes). Its stdin and stdout are
   * /dev/null.
   */
  pipes: readonly ('read' | 'write')[];
  /** In a process group of its own (spawn's detached). */
  detached?: boolean;
}

/** The worker: CommonJS text, so it needs no loader of the caller's. */
const WORKER = `
const { parentPort } = require('node:worker_threads');
const { execFile, spawn } = require('node:child_process');
const post = (m) => parentPort.postMessage(m);
const writers = new Map();
function run({ id, file, args, input, timeoutMs, maxBuffer }) {
  const child = execFile(file, args, { timeout: timeoutMs, maxBuffer, encoding: 'utf8' }, (err, stdout, stderr) => {
    const result = { id, code: 0, stdout, stderr };
    if (err) {
      result.code = typeof err.code === 'number' ? err.code : -1;
      if (err.signal) result.signal = err.signal;
      if (typeof err.code === 'string') result.error = err.code;
      result.message = err.message;
    }
    post(result);
  });
  // A program that exits without reading all its input makes the pipe fail: its exit status tells what happened.
  child.stdin?.on('error', () => undefined);
  child.stdin?.end(input);
}
function start({ id, file, args, pipes, detached }) {
  const child = spawn(file, args, { stdio: ['ignore', 'ignore', ...pipes.map(() => 'pipe')], detached });
  child.once('error', (err) => post({ id, event: 'error', error: err.code, message: err.message }));
  child.once('spawn', () => {
    child.unref();
    pipes.forEach((direction, i) => {
      const fd = 2 + i;
      const stream = child.stdio[fd];
      if (direction === 'write') {
        stream.on('error', () => undefined);
        writers.set(id + ':' + fd, stream);
        return;
      }
      let ended = false;
      const end = () => { if (!ended) { ended = true; post({ id, event: 'end', fd }); } };
      stream.on('data', (data) => post({ id, event: 'data', fd, data }));
      stream.on('end', end);
      stream.on('close', end);
      stream.on('error', end);
      writers.set(id + ':' + fd, stream);
    });
    post({ id, event: 'spawn' });
  });
}
function pipe({ id, fd, op, data }) {
  const stream = writers.get(id + ':' + fd);
  if (stream === undefined) return;
  if (op === 'write') return void stream.write(data);
  writers.delete(id + ':' + fd);
  if (op === 'end') stream.end(data);
  else stream.destroy();
}
parentPort.on('message', (m) => (m.op === 'run' ? run(m) : m.op === 'start' ? start(m) : pipe(m)));
`;

/** What the worker tells about a program startProgram started. */
type StartEvent =
  | { id: number; event: 'spawn' }
  | { id: number; event: 'error'; error?: string; message: string }
  | { id: number; event: 'data'; fd: number; data: Uint8Array }
  | { id: number; event: 'end'; fd: number };

let worker: Worker | undefined;
let nextId = 0;
/** The requests and started programs the worker may still answer about, by id. */
const pending = new Map<number, (message: (ProgramResult | StartEvent) & { id: number }) => void>();

function spawner(): Worker {
  if (worker !== undefined) return worker;
  const w = new Worker(WORKER, { eval: true });
  w.on('message', (message: (ProgramResult | StartEvent) & { id: number }) => pending.get(message.id)?.(message));
  const failAll = (why: string) => {
    if (worker === w) worker = undefined;
    const listeners = [...pending.values()];
    pending.clear();
    for (const listener of listeners) listener({ id: -1, event: 'error', error: 'ERR_WORKER', message: why });
  };
  w.on('error', (err) => failAll(`the program runner failed: ${err.message}`));
  w.on('exit', (code) => failAll(`the program runner exited with ${code}`));
  worker = w;
  return w;
}

/** Registers listener for id's messages; the worker keeps the process alive while any is registered. */
function listen(w: Worker, id: number, listener: (message: (ProgramResult | StartEvent) & { id: number }) => void): () => void {
  pending.set(id, listener);
  w.ref();
  return () => {
    if (!pending.delete(id)) return;
    if (pending.size === 0) w.unref();
  };
}

/**
 * Runs file with args (no shell: each argument passed as it is) and
 * resolves with how it ended and its output, whatever the exit code; it
 * never rejects. Started from the worker thread (see the top of this file).
 */
export function runProgram(file: string, args: readonly string[], options: RunProgramOptions = {}): Promise<ProgramResult> {
  const w = spawner();
  const id = nextId++;
  return new Promise((resolve) => {
    const done = listen(w, id, (message) => {
      done();
      if ('event' in message) {
        resolve({ code: -1, error: message.event === 'error' ? message.error : 'ERR_WORKER', message: 'message' in message ? message.message : '', stdout: '', stderr: '' });
      } else {
        const { id: _id, ...result } = message;
        resolve(result);
      }
    });
    w.postMessage({ op: 'run', id, file, args: [...args], input: options.input ?? '', timeoutMs: options.timeoutMs ?? 0, maxBuffer: options.maxBuffer ?? 64 << 20 });
  });
}

/**
 * Starts file with args from the worker thread (see the top of this file)
 * without waiting for it, with a pipe for each descriptor from 2 on as
 * options.pipes asks. Resolves once it runs with a stream for each pipe, in
 * the same order: Readable for `read`, Writable for `write` (destroying a
 * stream closes the pipe). Rejects with the spawn error (its code: ENOENT
 * for no such program).
 */
export function startProgram(file: string, args: readonly string[], options: StartProgramOptions): Promise<(Readable | Writable)[]> {
  const w = spawner();
  const id = nextId++;
  const streams = new Map<number, PassThrough>();
  let open = 0;
  return new Promise((resolve, reject) => {
    const closed = () => {
      if (--open === 0) done();
    };
    const done = listen(w, id, (message) => {
      if (!('event' in message)) return;
      if (message.event === 'error') {
        done();
        for (const s of streams.values()) s.destroy();
        reject(Object.assign(new Error(message.message), { code: message.error }));
      } else if (message.event === 'data') {
        streams.get(message.fd)?.write(Buffer.from(message.data));
      } else if (message.event === 'end') {
        streams.get(message.fd)?.end();
      } else {
        // Without pipes nothing more is told about it.
        if (made.length === 0) done();
        resolve(made);
      }
    });
    const send = (fd: number, op: 'write' | 'end' | 'destroy', data?: Uint8Array) => w.postMessage({ op, id, fd, data });
    const made = options.pipes.map((direction, i): Readable | Writable => {
      const fd = 2 + i;
      open++;
      if (direction === 'read') {
        const s = new PassThrough();
        streams.set(fd, s);
        // A reader that gives up closes the program's end too.
        s.once('close', () => {
          if (!s.writableEnded) send(fd, 'destroy');
          closed();
        });
        return s;
      }
      return new Writable({
        write(chunk: Buffer, _encoding, callback) {
          send(fd, 'write', chunk);
          callback();
        },
        final(callback) {
          send(fd, 'end');
          callback();
        },
        destroy(err, callback) {
          send(fd, 'destroy');
          closed();
          callback(err);
        },
      });
    });
    w.postMessage({ op: 'start', id, file, args: [...args], pipes: [...options.pipes], detached: options.detached === true });
  });
}
