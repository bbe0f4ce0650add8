import type { Duplex } from 'node:stream';
import type { ClientDuplexStream } from '@grpc/grpc-js';
import type { ExitStatus, TerminalSize } from '@strata/api/containers/v1';
import type { RpcClient } from '@strata/grpc-kit';
import { aborted, type StrataError } from '@strata/kit';
import { compareApiVersions } from './docker-router.js';

/** Stream ids of Docker's multiplexed framing. */
export const STDIN = 0;
export const STDOUT = 1;
export const STDERR = 2;

/**
 * One frame of Docker's multiplexed stream (`application/vnd.docker.
 * multiplexed-stream`): a header of the stream id, three zero bytes and the
 * payload size (big-endian uint32), then the payload.
 */
export function frame(stream: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(8);
  header[0] = stream;
  header.writeUInt32BE(payload.length, 4);
  return Buffer.concat([header, payload]);
}

/** The Content-Type of attach/exec/logs output: raw for a TTY, multiplexed otherwise (API 1.42+; raw before, framed all the same). */
export function stdioContentType(tty: boolean, apiVersion: string): string {
  return tty || compareApiVersions(apiVersion, '1.42') < 0 ? 'application/vnd.docker.raw-stream' : 'application/vnd.docker.multiplexed-stream';
}

/** A message an Attach or Exec stream sends after its first one. */
export type StdioInput = { $case: 'stdin'; value: Buffer } | { $case: 'closeStdin'; value: boolean } | { $case: 'resize'; value: TerminalSize };

/** An Attach or Exec response as this module reads it. */
export interface StdioResponse {
  message?:
    | { $case: 'stdout'; value: Buffer }
    | { $case: 'stderr'; value: Buffer }
    | { $case: 'exit'; value: ExitStatus }
    | { $case: 'started'; value: { pid: number; execId: string } }
    | undefined;
}

/** An open Attach or Exec call. */
export interface StdioCall {
  /** Resolves with the first response (Attach: the attachment is in place; Exec: started); rejects with the call's error when it ends first. */
  readonly first: Promise<StdioResponse>;
  /** Resolves with the exit status ending the call; rejects with the call's StrataError, or Aborted when it ends without one. */
  readonly exited: Promise<ExitStatus>;
  /** Sends a message on the call, unless it ended. */
  send(message: StdioInput): void;
  /** Cancels the call unless it ended. */
  cancel(): void;
}

/** What {@link openStdioCall} reports on. */
export interface StdioHandlers {
  /** Each response, the first included. */
  onResponse(response: StdioResponse): void;
}

/**
 * Writes first on call and follows it: every response goes to handlers,
 * the exit status and the end settle exited.
 */
export function openStdioCall(
  client: RpcClient,
  call: ClientDuplexStream<{ message?: unknown }, StdioResponse>,
  first: { message?: unknown },
  handlers: StdioHandlers,
): StdioCall {
  let ended = false;
  let markFirst!: (r: StdioResponse) => void;
  let failFirst!: (err: StrataError) => void;
  const firstResponse = new Promise<StdioResponse>((resolve, reject) => {
    markFirst = resolve;
    failFirst = reject;
  });
  let gotFirst = false;
  const exited = new Promise<ExitStatus>((resolve, reject) => {
    let status: ExitStatus | undefined;
    call.on('data', (response: StdioResponse) => {
      if (!gotFirst) {
        gotFirst = true;
        markFirst(response);
      }
      if (response.message?.$case === 'exit') status = response.message.value;
      handlers.onResponse(response);
    });
    call.on('error', (err) => {
      ended = true;
      const translated = client.translate(err);
      failFirst(translated);
      reject(translated);
    });
    call.on('end', () => {
      ended = true;
      const err = aborted('the node-agent ended the stream before the process exited');
      failFirst(err);
      if (status !== undefined) resolve(status);
      else reject(err);
    });
  });
  exited.catch(() => undefined);
  firstResponse.catch(() => undefined);
  call.write(first);
  return {
    first: firstResponse,
    exited,
    send(message) {
      if (!ended) call.write({ message });
    },
    cancel() {
      if (ended) return;
      ended = true;
      call.cancel();
    },
  };
}

/** What {@link pipeStdio} connects. */
export interface PipeOptions {
  /** The taken-over connection. */
  socket: Duplex;
  call: StdioCall;
  /** Raw output (TTY) instead of multiplexed frames. */
  tty: boolean;
  /** Forward the socket's bytes as stdin, and its end as the end of stdin. */
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
}

/** Where an Attach or Exec call's output goes. */
export interface OutputSink {
  /** Writes a response's stdout/stderr (framed unless tty, each stream only when asked for); kept until connect(). */
  write(response: StdioResponse): void;
  /** Sends what was kept to socket, and everything after it. */
  connect(socket: Duplex): void;
}

/** An {@link OutputSink} that keeps output until the connection is taken over. */
export function outputSink(options: { tty: boolean; stdout: boolean; stderr: boolean }): OutputSink {
  let socket: Duplex | undefined;
  const pending: Buffer[] = [];
  return {
    write(response) {
      const m = response.message;
      if (m === undefined || (m.$case !== 'stdout' && m.$case !== 'stderr') || m.value.length === 0) return;
      if ((m.$case === 'stdout' && !options.stdout) || (m.$case === 'stderr' && !options.stderr)) return;
      const bytes = options.tty ? m.value : frame(m.$case === 'stdout' ? STDOUT : STDERR, m.value);
      if (socket === undefined) pending.push(bytes);
      else if (!socket.destroyed) socket.write(bytes);
    },
    connect(target) {
      socket = target;
      for (const bytes of pending.splice(0)) socket.write(bytes);
    },
  };
}

/**
 * Connects a taken-over socket to an open call: its bytes become stdin (when
 * asked for), its half-close the end of stdin, its close cancels the call;
 * the call's exit ends the socket. Resolves with the exit status, or
 * rejects as the call's exited does (the socket destroyed).
 */
export async function pipeStdio(options: PipeOptions): Promise<ExitStatus> {
  const { socket, call } = options;
  if (options.stdin) {
    socket.on('data', (chunk: Buffer) => call.send({ $case: 'stdin', value: chunk }));
    socket.once('end', () => call.send({ $case: 'closeStdin', value: true }));
  } else {
    socket.on('data', () => undefined);
  }
  socket.once('close', () => call.cancel());
  try {
    const status = await call.exited;
    socket.end();
    return status;
  } catch (err) {
    socket.destroy();
    throw err;
  }
}
