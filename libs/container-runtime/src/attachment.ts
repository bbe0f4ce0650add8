import { closeSync, openSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { basename, dirname } from 'node:path';
import { PassThrough, Writable, type Readable } from 'node:stream';
import { unavailable } from '@strata/kit';
import type { ExitRecord } from './state-files.js';

/**
 * The monitor's attach protocol: frames of type (1 byte), payload length
 * (4 bytes, big endian) and payload. Client to monitor: stdin data, close
 * stdin, resize (cols, rows as big-endian uint16). Monitor to client:
 * stdout data, stderr data, exit (the exit record as JSON).
 */
export const Frame = {
  Stdin: 0,
  CloseStdin: 1,
  Resize: 2,
  Stdout: 1,
  Stderr: 2,
  Exit: 3,
} as const;

const MAX_STDIN_FRAME = 64 * 1024;

/** Encodes one frame of the attach protocol. */
export function encodeFrame(type: number, payload: Uint8Array = new Uint8Array(0)): Buffer {
  const out = Buffer.allocUnsafe(5 + payload.length);
  out[0] = type;
  out.writeUInt32BE(payload.length, 1);
  out.set(payload, 5);
  return out;
}

/** Encodes a resize frame; cols and rows must be 1..65535. */
export function resizeFrame(cols: number, rows: number): Buffer {
  const payload = Buffer.alloc(4);
  payload.writeUInt16BE(cols, 0);
  payload.writeUInt16BE(rows, 2);
  return encodeFrame(Frame.Resize, payload);
}

/** Splits a byte stream into frames; keeps partial frames between pushes. */
export class FrameDecoder {
  private buf: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): { type: number; payload: Buffer }[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const frames: { type: number; payload: Buffer }[] = [];
    while (this.buf.length >= 5) {
      const len = this.buf.readUInt32BE(1);
      if (this.buf.length < 5 + len) break;
      frames.push({ type: this.buf[0]!, payload: this.buf.subarray(5, 5 + len) });
      this.buf = this.buf.subarray(5 + len);
    }
    return frames;
  }
}

/**
 * A live connection to a process's stdio through its monitor. Closing stdin
 * (`stdin.end()`) closes the process's stdin (for a TTY it sends EOT).
 * stdout and stderr end when the process has ended and its output is
 * drained, or when the connection is detached; a TTY's output is all on
 * stdout.
 */
export interface Attachment {
  readonly stdin: Writable;
  readonly stdout: Readable;
  readonly stderr: Readable;
  /** Sets the TTY's window size; ignored by the monitor for a process without a TTY. */
  resize(cols: number, rows: number): void;
  /** Resolves when the connection closes: with the exit record when the process ended while attached. */
  readonly closed: Promise<ExitRecord | undefined>;
  /** Closes the connection; the process keeps running. */
  detach(): void;
}

/**
 * Connects to a unix socket; paths longer than sun_path allows are reached
 * through /proc/self/fd of their directory.
 */
export async function connectUnix(path: string): Promise<Socket> {
  let dirFd: number | undefined;
  let target = path;
  if (Buffer.byteLength(path) > 107) {
    dirFd = openSync(dirname(path), 'r');
    target = `/proc/self/fd/${dirFd}/${basename(path)}`;
  }
  try {
    return await new Promise<Socket>((resolve, reject) => {
      const socket = connect(target);
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(socket);
      });
      socket.once('error', reject);
    });
  } finally {
    if (dirFd !== undefined) closeSync(dirFd);
  }
}

function toExitRecord(json: string): ExitRecord | undefined {
  try {
    const raw = JSON.parse(json) as { pid: number; exitCode: number; finishedAt: string };
    return { pid: raw.pid, exitCode: raw.exitCode, finishedAt: raw.finishedAt };
  } catch {
    return undefined;
  }
}

/**
 * Attaches to the monitor listening on socketPath. Raises Unavailable when
 * nothing listens there (the process has ended or its monitor is gone).
 */
export async function attachTo(socketPath: string): Promise<Attachment> {
  let socket: Socket;
  try {
    socket = await connectUnix(socketPath);
  } catch (cause) {
    throw unavailable('cannot attach: the process has ended or its monitor is gone', { cause });
  }
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const decoder = new FrameDecoder();
  let exit: ExitRecord | undefined;

  const resumeWhenDrained = (stream: PassThrough) => {
    socket.pause();
    stream.once('drain', () => socket.resume());
  };
  socket.on('data', (chunk: Buffer) => {
    for (const frame of decoder.push(chunk)) {
      if (frame.type === Frame.Stdout) {
        if (!stdout.write(frame.payload)) resumeWhenDrained(stdout);
      } else if (frame.type === Frame.Stderr) {
        if (!stderr.write(frame.payload)) resumeWhenDrained(stderr);
      } else if (frame.type === Frame.Exit) {
        exit = toExitRecord(frame.payload.toString('utf8'));
      }
    }
  });
  const closed = new Promise<ExitRecord | undefined>((resolve) => {
    socket.once('close', () => {
      stdout.end();
      stderr.end();
      resolve(exit);
    });
  });
  socket.on('error', () => socket.destroy());

  const stdin = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      // Once the monitor has ended the connection (the process is gone), input has nowhere to go.
      if (!socket.writable) return callback();
      let ok = true;
      for (let off = 0; off < chunk.length; off += MAX_STDIN_FRAME) {
        ok = socket.write(encodeFrame(Frame.Stdin, chunk.subarray(off, off + MAX_STDIN_FRAME)));
      }
      if (ok) callback();
      else socket.once('drain', () => callback());
    },
    final(callback) {
      if (socket.writable) socket.write(encodeFrame(Frame.CloseStdin));
      callback();
    },
  });
  stdin.on('error', () => undefined);

  return {
    stdin,
    stdout,
    stderr,
    resize(cols, rows) {
      if (socket.writable) socket.write(resizeFrame(cols, rows));
    },
    closed,
    detach() {
      socket.end();
      socket.destroy();
    },
  };
}
