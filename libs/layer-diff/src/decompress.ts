import { spawn } from 'node:child_process';
import { Readable, Transform, pipeline } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { invalidArgument, isStrataError, resourceExhausted, unavailable } from '@strata/kit';
import type { LayerCompression } from '@strata/oci';

/** Caps on decompression (SECURITY.md "Bombs"). */
export interface DecompressLimits {
  /** Decompressed bytes, trailing data included; 64 GiB by default. */
  maxBytes: number;
  /** Decompressed bytes per compressed byte, checked once past ratioFloor bytes; 1000 by default. */
  maxRatio: number;
  /** Decompressed bytes before the ratio is checked; 64 MiB by default. */
  ratioFloor: number;
}

/** The defaults of {@link DecompressLimits}. */
export const DEFAULT_DECOMPRESS_LIMITS: Readonly<DecompressLimits> = {
  maxBytes: 64 * 1024 ** 3,
  maxRatio: 1000,
  ratioFloor: 64 << 20,
};

/** Counters a decompression fills while it runs. */
export interface DecompressCounters {
  compressed: number;
  decompressed: number;
}

function counting(counters: DecompressCounters): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      counters.compressed += chunk.length;
      callback(null, chunk);
    },
  });
}

/**
 * zlib's output in 1 MiB pieces, up to 4 MiB of it read ahead on the
 * thread pool while the consumer writes files: with the defaults (16 KiB
 * each, 16 KiB ahead) every piece is a round trip through the event loop
 * and gunzip waits on each file the consumer writes; 1 MiB pieces take a
 * quarter of the event-loop turns (and thread-pool hand-offs) that 256 KiB
 * pieces took for the same bytes.
 */
const GUNZIP_OPTIONS = { chunkSize: 1024 * 1024, readableHighWaterMark: 4 * 1024 * 1024 };

/**
 * The decompressed bytes of blob: gzip through zlib, zstd through the
 * `zstd` binary (Debian package zstd) streaming stdin to stdout, none as
 * they are. Enforces limits while streaming and stops the decompressor as
 * soon as one is passed (ResourceExhausted). Raises InvalidArgument for
 * data that is not valid for its compression and Unavailable when zstd is
 * not installed. Ending the iteration early stops the decompressor.
 */
export async function* decompress(
  blob: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  compression: LayerCompression,
  what: string,
  limits: DecompressLimits,
  counters: DecompressCounters,
): AsyncGenerator<Buffer, void, undefined> {
  const input = blob instanceof Readable ? blob : Readable.from(blob, { objectMode: false });
  let output: Readable;
  let finished: () => Promise<void> = async () => undefined;
  let stop: () => void = () => undefined;

  if (compression === 'none') {
    output = pipeline(input, counting(counters), () => undefined);
  } else if (compression === 'gzip') {
    output = pipeline(input, counting(counters), createGunzip(GUNZIP_OPTIONS), () => undefined);
  } else {
    const child = spawn('zstd', ['-d', '-c', '-q', '--no-progress'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => {
      if (stderr.length < 4096) stderr += b.toString('utf8');
    });
    child.stdin.on('error', () => undefined);
    const exited = new Promise<{ code: number | null; error?: NodeJS.ErrnoException }>((resolve) => {
      child.once('error', (error: NodeJS.ErrnoException) => resolve({ code: null, error }));
      child.once('close', (code) => resolve({ code }));
    });
    pipeline(input, counting(counters), child.stdin, () => undefined);
    output = child.stdout;
    stop = () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    };
    finished = async () => {
      const { code, error } = await exited;
      if (error?.code === 'ENOENT') throw unavailable('zstd is not installed (Debian package zstd)', { cause: error });
      if (error !== undefined || code !== 0) throw invalidArgument(`${what}: not valid zstd data (${stderr.trim() || error?.message || `exit ${code}`})`);
    };
  }

  try {
    for await (const chunk of output as AsyncIterable<Buffer>) {
      counters.decompressed += chunk.length;
      if (counters.decompressed > limits.maxBytes) throw resourceExhausted(`${what}: decompresses to more than ${limits.maxBytes} bytes`);
      if (counters.decompressed > limits.ratioFloor && counters.decompressed > limits.maxRatio * Math.max(1, counters.compressed)) {
        throw resourceExhausted(`${what}: decompresses more than ${limits.maxRatio} times its compressed size`);
      }
      yield chunk;
    }
    await finished();
  } catch (err) {
    if (isStrataError(err)) throw err;
    const code = (err as NodeJS.ErrnoException).code ?? '';
    if (compression === 'gzip' && code.startsWith('Z_')) throw invalidArgument(`${what}: not valid gzip data (${(err as Error).message})`, { cause: err });
    if (compression === 'zstd') {
      await finished();
    }
    throw err;
  } finally {
    stop();
    output.destroy();
    input.destroy();
  }
}
