import { Worker } from 'node:worker_threads';
import { internal } from '@strata/kit';
import type { Digest } from '@strata/oci';

/**
 * The worker: one sha256 per stream id, fed with copies of the bytes in
 * order (messages on a port arrive in the order they were posted). Every
 * update is acknowledged by sending its buffer back, so the sender can
 * bound what is in flight and reuse the buffer (no garbage for either
 * thread's collector to find).
 */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const hashes = new Map();
parentPort.on('message', (m) => {
  try {
    switch (m.op) {
      case 'update': {
        let h = hashes.get(m.id);
        if (h === undefined) { h = createHash('sha256'); hashes.set(m.id, h); }
        h.update(new Uint8Array(m.data));
        parentPort.postMessage({ id: m.id, acked: m.data }, [m.data]);
        break;
      }
      case 'digest': {
        const h = hashes.get(m.id) ?? createHash('sha256');
        hashes.delete(m.id);
        parentPort.postMessage({ id: m.id, hex: h.digest('hex') });
        break;
      }
      case 'drop': hashes.delete(m.id); break;
      default: parentPort.postMessage({ id: m.id, error: 'unknown op ' + m.op });
    }
  } catch (err) {
    hashes.delete(m.id);
    parentPort.postMessage({ id: m.id, error: String((err && err.message) || err) });
  }
});
`;

interface Reply {
  id: number;
  acked?: ArrayBuffer;
  hex?: string;
  error?: string;
}

interface StreamState {
  onReply(reply: Reply): void;
  onDeath(err: Error): void;
}

/** One worker thread shared by every stream of the process; it keeps the process alive only while a stream is open. */
class SharedWorker {
  private readonly worker: Worker;
  private readonly streams = new Map<number, StreamState>();
  private nextId = 0;
  dead: Error | undefined;

  constructor() {
    this.worker = new Worker(WORKER_SOURCE, { eval: true });
    this.worker.on('message', (reply: Reply) => this.streams.get(reply.id)?.onReply(reply));
    const fail = (err: Error) => {
      this.dead ??= err;
      for (const stream of this.streams.values()) stream.onDeath(this.dead);
      this.streams.clear();
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new Error(`exit code ${code}`)));
    this.worker.unref();
  }

  open(state: StreamState): number {
    const id = this.nextId++;
    if (this.streams.size === 0) this.worker.ref();
    this.streams.set(id, state);
    return id;
  }

  close(id: number): void {
    if (!this.streams.delete(id)) return;
    if (this.streams.size === 0) this.worker.unref();
  }

  post(message: { op: string; id: number; data?: ArrayBuffer }): void {
    this.worker.postMessage(message, message.data === undefined ? [] : [message.data]);
  }
}

let shared: SharedWorker | undefined;

function sharedWorker(): SharedWorker {
  if (shared === undefined || shared.dead !== undefined) shared = new SharedWorker();
  return shared;
}

/** What {@link createWorkerDigester} buffers and keeps in flight. */
export interface WorkerDigesterOptions {
  /** Bytes copied into one message to the worker; 1 MiB by default. */
  batchBytes?: number;
  /** Bytes sent but not yet hashed before update() asks the caller to wait; 8 MiB by default. */
  maxInFlightBytes?: number;
}

/** A sha256 of a byte stream computed on a worker thread; see {@link createWorkerDigester}. */
export interface WorkerDigester {
  /**
   * Adds bytes (copied: the caller may reuse them at once). Returns a
   * promise to await before the next update when too many bytes are in
   * flight, otherwise undefined. Rejects with Internal when the worker failed.
   */
  update(data: Uint8Array): Promise<void> | undefined;
  /** The digest of every byte added; the digester is finished afterwards. Internal when the worker failed. */
  digest(): Promise<Digest>;
  /** Frees the stream in the worker; safe to call more than once and after digest(). */
  dispose(): void;
}

/**
 * A sha256 digester whose hashing runs on a worker thread shared by the
 * process (started on first use), so hashing a layer's uncompressed bytes
 * (a few hundred MB/s on one core) overlaps decompressing and writing
 * them. Bytes are copied into batches of options.batchBytes and posted in
 * order; memory stays bounded by options.maxInFlightBytes as long as the
 * caller awaits what update() returns.
 */
export function createWorkerDigester(options: WorkerDigesterOptions = {}): WorkerDigester {
  const batchBytes = options.batchBytes ?? 1 << 20;
  const maxInFlight = options.maxInFlightBytes ?? 8 << 20;
  const worker = sharedWorker();
  let failure: Error | undefined;
  let inFlight = 0;
  let drained: { resolve: () => void; reject: (err: Error) => void } | undefined;
  let digested: { resolve: (hex: string) => void; reject: (err: Error) => void } | undefined;
  /** Batch buffers the worker sent back. */
  const spare: ArrayBuffer[] = [];
  let batch: Uint8Array | undefined;
  let filled = 0;
  let finished = false;

  const fail = (err: Error) => {
    failure ??= err;
    drained?.reject(failure);
    digested?.reject(failure);
    drained = undefined;
    digested = undefined;
  };
  const id = worker.open({
    onReply(reply) {
      if (reply.error !== undefined) {
        fail(internal(`hashing on the worker thread failed: ${reply.error}`));
      } else if (reply.acked !== undefined) {
        inFlight -= reply.acked.byteLength;
        if (reply.acked.byteLength === batchBytes) spare.push(reply.acked);
        if (drained !== undefined && inFlight <= maxInFlight / 2) {
          drained.resolve();
          drained = undefined;
        }
      } else if (reply.hex !== undefined) {
        digested?.resolve(reply.hex);
        digested = undefined;
      }
    },
    onDeath(err) {
      fail(internal(`the hashing worker thread stopped: ${err.message}`, { cause: err }));
    },
  });

  const send = () => {
    if (batch === undefined || filled === 0) return;
    const data = (filled === batch.length ? batch.buffer : batch.buffer.slice(0, filled)) as ArrayBuffer;
    worker.post({ op: 'update', id, data });
    inFlight += filled;
    batch = undefined;
    filled = 0;
  };

  return {
    update(data) {
      if (failure !== undefined) return Promise.reject(failure);
      if (finished) return Promise.reject(internal('a worker digester was updated after its digest'));
      let at = 0;
      while (at < data.length) {
        batch ??= new Uint8Array(spare.pop() ?? new ArrayBuffer(batchBytes));
        const n = Math.min(batch.length - filled, data.length - at);
        batch.set(data.subarray(at, at + n), filled);
        filled += n;
        at += n;
        if (filled === batch.length) send();
      }
      if (inFlight <= maxInFlight) return undefined;
      return new Promise<void>((resolve, reject) => {
        drained = { resolve, reject };
      });
    },
    digest() {
      if (failure !== undefined) return Promise.reject(failure);
      if (finished) return Promise.reject(internal('a worker digester was asked for its digest twice'));
      finished = true;
      send();
      return new Promise<string>((resolve, reject) => {
        digested = { resolve, reject };
        worker.post({ op: 'digest', id });
      }).then(
        (hex) => {
          worker.close(id);
          return `sha256:${hex}` as Digest;
        },
        (err: unknown) => {
          worker.close(id);
          throw err;
        },
      );
    },
    dispose() {
      batch = undefined;
      spare.length = 0;
      if (failure === undefined && !finished) worker.post({ op: 'drop', id });
      finished = true;
      worker.close(id);
    },
  };
}
