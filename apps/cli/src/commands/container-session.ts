import type { ClientDuplexStream } from '@grpc/grpc-js';
import type { ExecStarted, ExitStatus, TerminalSize } from '@strata/api/containers/v1';
import type { RpcClient } from '@strata/grpc-kit';
import { aborted } from '@strata/kit';
import type { CliIo } from '../framework/command.js';
import { DEFAULT_DETACH_KEYS, detachScanner, parseDetachKeys } from './detach-keys.js';

/** What the CLI sends on an Attach or Exec stream after its first message. */
type InputMessage =
  | { $case: 'stdin'; value: Buffer }
  | { $case: 'closeStdin'; value: boolean }
  | { $case: 'resize'; value: TerminalSize };

/** A request of Attach or Exec, the first one (open or start) included. */
export interface SessionRequest {
  message?: InputMessage | { $case: 'open' | 'start'; value: unknown } | undefined;
}

/** A response of Attach or Exec. */
export interface SessionResponse {
  message?:
    | { $case: 'stdout'; value: Buffer }
    | { $case: 'stderr'; value: Buffer }
    | { $case: 'exit'; value: ExitStatus }
    | { $case: 'started'; value: ExecStarted }
    | undefined;
}

/** Signals `run` and `start -a` forward to a container without a TTY, as Docker's sig-proxy does. */
export const PROXIED_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR2'];

/** Settings of {@link openSession}. */
export interface SessionOptions {
  io: CliIo;
  /** Forward the CLI's stdin (when it has one), then its end. */
  stdin: boolean;
  /** The other side is a terminal: local terminal in raw mode, its size forwarded. */
  tty: boolean;
  /** Called for each of {@link PROXIED_SIGNALS} the CLI gets while the session is open; absent for no proxying. */
  proxySignal?: (signal: NodeJS.Signals) => void;
  /**
   * The key sequence that detaches (see parseDetachKeys; Ctrl-P Ctrl-Q
   * when unset), watched for on stdin with a TTY, as Docker does: the
   * bytes of the sequence are not forwarded, and {@link Session.detached}
   * resolves.
   */
  detachKeys?: Uint8Array | undefined;
}

/** One Attach or Exec stream connected to the CLI's stdio. */
export interface Session {
  /** Resolves with ExecStarted for an exec. */
  readonly started: Promise<ExecStarted>;
  /**
   * Resolves with the first response: for an Attach, the agent's empty
   * stdout chunk saying the attachment is in place (Start after it, and no
   * output is lost). Rejects as exited does when the stream ends first.
   */
  readonly attached: Promise<void>;
  /** Resolves with the exit status that ends the stream; rejects with the call's StrataError, or Aborted when it ends without one. */
  readonly exited: Promise<ExitStatus>;
  /** Resolves when the detach keys were typed (stdin is no longer forwarded then; close() leaves the process running). */
  readonly detached: Promise<void>;
  /** Sends the local terminal's size (nothing without a TTY or a size). */
  sendSize(): void;
  /** Starts forwarding stdin (when asked for), the terminal and signals. */
  connect(): void;
  /** Stops forwarding, restores the terminal and cancels the stream if it is still open; safe to call twice. */
  close(): void;
}

/** The local terminal's size, when stdout is one. */
export function terminalSize(io: CliIo): TerminalSize | undefined {
  const { columns, rows } = io.stdout;
  return io.stdout.isTTY && columns !== undefined && rows !== undefined && columns > 0 && rows > 0 ? { cols: columns, rows } : undefined;
}

/**
 * Opens an Attach or Exec stream: sends first, then writes the container's
 * stdout and stderr to the CLI's. {@link Session.connect} starts the input
 * side: stdin bytes (raw mode on a local terminal with tty, so Ctrl-C
 * reaches the process as a byte), its end, window size changes, and the
 * signals to proxy. The terminal is restored by close(), which the caller
 * runs in a finally.
 */
export function openSession(client: RpcClient, call: ClientDuplexStream<SessionRequest, SessionResponse>, first: SessionRequest, options: SessionOptions): Session {
  const { io, tty } = options;
  let ended = false;
  let rawMode = false;
  const cleanups: Array<() => void> = [];
  const write = (message: InputMessage) => {
    if (!ended) call.write({ message });
  };

  let markStarted!: (s: ExecStarted) => void;
  const started = new Promise<ExecStarted>((resolve) => (markStarted = resolve));
  let markAttached!: () => void;
  const firstResponse = new Promise<void>((resolve) => (markAttached = resolve));
  const exited = new Promise<ExitStatus>((resolve, reject) => {
    let status: ExitStatus | undefined;
    call.on('data', (response: SessionResponse) => {
      markAttached();
      const m = response.message;
      if (m === undefined) return;
      switch (m.$case) {
        case 'stdout':
          io.stdout.write(m.value);
          return;
        case 'stderr':
          io.stderr.write(m.value);
          return;
        case 'started':
          markStarted(m.value);
          return;
        case 'exit':
          status = m.value;
          return;
      }
    });
    call.on('error', (err) => {
      ended = true;
      reject(client.translate(err));
    });
    call.on('end', () => {
      ended = true;
      if (status !== undefined) resolve(status);
      else reject(aborted('the node-agent ended the stream before the process exited'));
    });
  });
  // Keeps an unobserved failure (the caller may await something else first) from crashing the process.
  exited.catch(() => undefined);
  const attached = Promise.race([firstResponse, exited.then(() => undefined)]);
  attached.catch(() => undefined);
  let markDetached!: () => void;
  const detached = new Promise<void>((resolve) => (markDetached = resolve));
  const scan = tty ? detachScanner(options.detachKeys ?? parseDetachKeys(DEFAULT_DETACH_KEYS)) : undefined;
  call.write(first);

  const session: Session = {
    started,
    attached,
    exited,
    detached,
    sendSize() {
      const size = tty ? terminalSize(io) : undefined;
      if (size !== undefined) write({ $case: 'resize', value: size });
    },
    connect() {
      const input = io.stdin;
      if (tty && input?.isTTY && input.setRawMode) {
        input.setRawMode(true);
        rawMode = true;
      }
      if (tty && io.stdout.on) {
        const onResize = () => session.sendSize();
        io.stdout.on('resize', onResize);
        cleanups.push(() => io.stdout.off?.('resize', onResize));
      }
      if (options.proxySignal && io.onSignal) {
        for (const signal of PROXIED_SIGNALS) cleanups.push(io.onSignal(signal, () => options.proxySignal?.(signal)));
      }
      if (!options.stdin) return;
      if (input === undefined) {
        write({ $case: 'closeStdin', value: true });
        return;
      }
      const iterator = input[Symbol.asyncIterator]();
      // A pending read keeps the process alive: stop reading for good (the CLI ends with the session).
      cleanups.push(() => {
        void iterator.return?.();
        input.destroy?.();
      });
      void (async () => {
        try {
          for (;;) {
            const next = await iterator.next();
            if (next.done || ended) break;
            const bytes = Buffer.from(next.value);
            const scanned = scan?.(bytes) ?? { forward: bytes, detach: false };
            if (scanned.forward.length > 0) write({ $case: 'stdin', value: scanned.forward });
            if (scanned.detach) {
              // The process keeps its stdin open: detaching is no end of input.
              markDetached();
              return;
            }
          }
        } catch {
          // A stdin that fails is a stdin that ended.
        }
        write({ $case: 'closeStdin', value: true });
      })();
    },
    close() {
      for (const cleanup of cleanups.splice(0)) cleanup();
      if (rawMode) {
        io.stdin?.setRawMode?.(false);
        rawMode = false;
      }
      if (!ended) {
        ended = true;
        call.cancel();
      }
    },
  };
  return session;
}
