import { connect as connectTcp } from 'node:net';
import { freePort, startProcess, tempDir, waitFor, type TestProcess } from '@strata/kit/testing';

/** Settings of {@link startNatsServer}. */
export interface NatsServerOptions {
  /** Port to listen on; a free one by default. */
  port?: number;
  /** Address to listen on (one; e.g. a test bridge's gateway that network namespaces reach); 127.0.0.1 by default. */
  host?: string;
}

/** A real `nats-server -js` started for a test. */
export interface TestNatsServer {
  /** `nats://<host>:<port>`. */
  readonly url: string;
  readonly port: number;
  /** JetStream store directory; removed by stop(). */
  readonly storeDir: string;
  /** The current server process id (changes on restart). */
  pid(): number;
  /** Ends the server by its pid and removes the store directory. Idempotent. */
  stop(): Promise<void>;
  /**
   * Ends the server and starts it again on the same port and store, running
   * whileDown (if given) in between, when nothing listens on the port.
   */
  restart(whileDown?: () => void | Promise<void>): Promise<void>;
}

/** True when something on port speaks the NATS protocol (sends INFO). */
export function natsAnswers(port: number, timeoutMs = 1000, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connectTcp({ host, port });
    let seen = '';
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.on('error', () => done(false));
    socket.on('data', (b) => {
      seen += b.toString('latin1');
      if (seen.length >= 5) done(seen.startsWith('INFO '));
    });
  });
}

async function launch(port: number, storeDir: string, host = '127.0.0.1'): Promise<TestProcess> {
  const proc = startProcess('nats-server', ['-js', '-a', host, '-p', String(port), '-sd', storeDir]);
  const exitedEarly = proc.exited.then((code) => {
    throw new Error(`nats-server on port ${port} exited (${code}) before it accepted connections:\n${proc.output()}`);
  });
  try {
    await Promise.race([
      waitFor(() => natsAnswers(port, 1000, host), () => `nats-server on port ${port} to accept connections:\n${proc.output()}`),
      exitedEarly,
    ]);
  } catch (err) {
    await proc.stop('SIGKILL');
    throw err;
  } finally {
    exitedEarly.catch(() => undefined);
  }
  return proc;
}

/**
 * Starts the Debian `nats-server` binary with JetStream on 127.0.0.1 (or options.host) and a
 * fresh store directory, and resolves once it accepts connections. Raises
 * an Error with the server's output when it exits or does not answer in
 * time; nothing is left behind then.
 */
export async function startNatsServer(options: NatsServerOptions = {}): Promise<TestNatsServer> {
  const port = options.port ?? (await freePort());
  const host = options.host ?? '127.0.0.1';
  const store = tempDir('strata-nats-');
  let proc: TestProcess;
  try {
    proc = await launch(port, store.path, host);
  } catch (err) {
    store.remove();
    throw err;
  }
  let stopped = false;
  return {
    url: `nats://${host}:${port}`,
    port,
    storeDir: store.path,
    pid: () => proc.pid,
    async stop() {
      if (stopped) return;
      stopped = true;
      await proc.stop();
      store.remove();
    },
    async restart(whileDown) {
      if (stopped) throw new Error(`nats-server on port ${port} was stopped; start a new one`);
      await proc.stop();
      try {
        await whileDown?.();
      } finally {
        proc = await launch(port, store.path, host);
      }
    },
  };
}
