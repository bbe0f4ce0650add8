import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { internal } from '@strata/kit';
import type { Digest } from '@strata/oci';

/**
 * The worker: one sha256 per stream id. Messages on a port arrive in order,
 * so each stream's bytes are hashed in the order they were sent.
 */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const { openSync, readSync, closeSync } = require('node:fs');
const hashes = new Map();
const hashOf = (id) => {
  let h = hashes.get(id);
  if (h === undefined) { h = createHash('sha256'); hashes.set(id, h); }
  return h;
};
parentPort.on('message', (m) => {
  try {
    switch (m.op) {
      case 'update': hashOf(m.id).update(m.data); parentPort.postMessage({ seq: m.seq }); break;
      case 'reset': hashes.set(m.id, createHash('sha256')); parentPort.postMessage({ seq: m.seq }); break;
      case 'digest': parentPort.postMessage({ seq: m.seq, hex: hashOf(m.id).copy().digest('hex') }); break;
      case 'drop': hashes.delete(m.id); parentPort.postMessage({ seq: m.seq }); break;
      case 'file': {
        const h = createHash('sha256');
        const fd = openSync(m.path, 'r');
        let size = 0;
        try {
          const buf = Buffer.allocUnsafe(1 << 20);
          for (;;) {
            const n = readSync(fd, buf, 0, buf.length, size);
            if (n === 0) break;
            h.update(buf.subarray(0, n));
            size += n;
          }
        } finally {
          closeSync(fd);
        }
        hashes.set(m.id, h);
        parentPort.postMessage({ seq: m.seq, size });
        break;
      }
      default: parentPort.postMessage({ seq: m.seq, error: 'unknown op ' + m.op });
    }
  } catch (err) {
    parentPort.postMessage({ seq: m.seq, error: String(err && err.message || err) });
  }
});
`;

interface Reply {
  seq: number;
  hex?: string;
  size?: number;
  error?: string;
}

interface Pending {
  resolve: (reply: Reply) => void;
  reject: (err: Error) => void;
}

class HashWorker {
  readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private seq = 0;
  streams = 0;
  dead: Error | undefined;

  constructor() {
    this.worker = new Worker(WORKER_SOURCE, { eval: true });
    this.worker.on('message', (reply: Reply) => {
      const p = this.pending.get(reply.seq);
      this.pending.delete(reply.seq);
      if (this.pending.size === 0) this.worker.unref();
      if (p === undefined) return;
      if (reply.error !== undefined) p.reject(internal(`hashing failed: ${reply.error}`));
      else p.resolve(reply);
    });
    const fail = (err: Error) => {
      this.dead ??= err;
      for (const p of this.pending.values()) p.reject(internal(`the hashing worker stopped: ${err.message}`, { cause: err }));
      this.pending.clear();
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new Error(`exit code ${code}`)));
    this.worker.unref();
  }

  send(message: Record<string, unknown>, transfer: ArrayBuffer[] = []): Promise<Reply> {
    if (this.dead !== undefined) return Promise.reject(internal(`the hashing worker stopped: ${this.dead.message}`));
    const seq = this.seq++;
    return new Promise<Reply>((resolve, reject) => {
      if (this.pending.size === 0) this.worker.ref();
      this.pending.set(seq, { resolve, reject });
      this.worker.postMessage({ ...message, seq }, transfer);
    });
  }
}

/** A running sha256 computed off the main thread. Calls are applied in call order. */
export interface HashStream {
  /**
   * Hashes data; resolves when it is hashed. Data over a SharedArrayBuffer
   * is hashed in place (no copy): the caller must not change those bytes
   * until this resolves. Other data is copied first, so awaiting is only
   * needed for backpressure.
   */
  update(data: Uint8Array): Promise<void>;
  /** Restarts from no bytes. */
  reset(): Promise<void>;
  /** Restarts from the bytes of the file at path; resolves with how many there were. */
  loadFile(path: string): Promise<number>;
  /** Digest of everything so far; the stream stays usable. */
  digest(): Promise<Digest>;
  /** Frees the stream's state in the worker. */
  dispose(): void;
}

/** Worker threads that compute sha256 digests beside the main thread. */
export interface HashPool {
  /** A new stream, placed on the least busy worker. */
  stream(): HashStream;
  /**
   * Starts a worker now when none is running, so that the first stream does
   * not wait for a thread to boot (40–60 ms). An idle worker does not keep
   * the process alive.
   */
  warm(): void;
  /** How many workers are running. */
  readonly running: number;
  /** Stops the workers; streams still open fail with Internal. A later stream or warm starts new ones. */
  close(): Promise<void>;
}

/**
 * A pool of up to `size` hashing workers (by default one per CPU, at most
 * 4), started when first needed. Hashing a blob (sha256 runs at a few
 * hundred MB/s without SHA extensions) then overlaps receiving and writing
 * it. Workers keep the process alive only while they have work.
 */
export function createHashPool(size = Math.min(4, Math.max(1, availableParallelism()))): HashPool {
  const workers: HashWorker[] = [];
  let nextId = 0;
  const prune = () => {
    for (let i = workers.length - 1; i >= 0; i--) if (workers[i]!.dead !== undefined) workers.splice(i, 1);
  };
  const pick = (): HashWorker => {
    prune();
    if (workers.length < size) {
      const idle = workers.find((w) => w.streams === 0);
      if (idle !== undefined) return idle;
      const w = new HashWorker();
      workers.push(w);
      return w;
    }
    return workers.reduce((a, b) => (b.streams < a.streams ? b : a));
  };
  return {
    warm() {
      prune();
      if (workers.length === 0 && size > 0) workers.push(new HashWorker());
    },
    get running() {
      prune();
      return workers.length;
    },
    stream() {
      const worker = pick();
      const id = nextId++;
      worker.streams++;
      let disposed = false;
      return {
        async update(data) {
          if (data.buffer instanceof SharedArrayBuffer) {
            await worker.send({ op: 'update', id, data });
            return;
          }
          const copy = new Uint8Array(data.byteLength);
          copy.set(data);
          await worker.send({ op: 'update', id, data: copy }, [copy.buffer]);
        },
        async reset() {
          await worker.send({ op: 'reset', id });
        },
        async loadFile(path) {
          return (await worker.send({ op: 'file', id, path })).size ?? 0;
        },
        async digest() {
          return `sha256:${(await worker.send({ op: 'digest', id })).hex}` as Digest;
        },
        dispose() {
          if (disposed) return;
          disposed = true;
          worker.streams--;
          worker.send({ op: 'drop', id }).catch(() => undefined);
        },
      };
    },
    async close() {
      const all = workers.splice(0);
      await Promise.all(all.map((w) => w.worker.terminate()));
    },
  };
}

/**
 * A running sha256 computed on the calling thread: for blobs small enough
 * (manifests, configs) that a round trip to a worker, or starting one,
 * costs more than the hash. Same contract as the pool's streams; update
 * hashes before it returns.
 */
export function inlineHashStream(): HashStream {
  let hash = createHash('sha256');
  return {
    async update(data) {
      hash.update(data);
    },
    async reset() {
      hash = createHash('sha256');
    },
    async loadFile(path) {
      const next = createHash('sha256');
      let size = 0;
      const fh = await open(path, 'r');
      try {
        for await (const chunk of fh.createReadStream({ start: 0, highWaterMark: 1 << 20, autoClose: false })) {
          next.update(chunk as Buffer);
          size += (chunk as Buffer).length;
        }
      } finally {
        await fh.close();
      }
      hash = next;
      return size;
    },
    async digest() {
      return `sha256:${hash.copy().digest('hex')}` as Digest;
    },
    dispose() {},
  };
}

let shared: HashPool | undefined;
let holders = 0;

/**
 * The process's hashing pool, shared by every fs store (like libuv's thread
 * pool); its workers keep the process alive only while they have work.
 */
export function sharedHashPool(): HashPool {
  shared ??= createHashPool();
  return shared;
}

/**
 * A hold on the shared pool for an open store: it warms the pool (one
 * worker) now, so that the first blob written after a service starts does
 * not pay for starting a thread; release() stops the pool's workers once
 * no store holds it any more. Calling release again does nothing.
 */
export function holdSharedHashPool(): { pool: HashPool; release(): Promise<void> } {
  const pool = sharedHashPool();
  holders++;
  pool.warm();
  let released = false;
  return {
    pool,
    async release() {
      if (released) return;
      released = true;
      if (--holders === 0) await pool.close();
    },
  };
}
