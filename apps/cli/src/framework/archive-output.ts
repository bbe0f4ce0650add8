import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { invalidArgument } from '@strata/kit';
import type { CliIo } from './command.js';

/** Where an archive command (`save`, `export`) writes, and how it ends. */
export interface ArchiveOutput {
  out: NodeJS.WritableStream;
  /** Writes data, waiting while out is full. */
  write(data: Uint8Array): Promise<void>;
  /** With ok, the file takes its name; otherwise the partial file is removed. Nothing for stdout. */
  finish(ok: boolean): Promise<void>;
}

/**
 * The archive's destination as the docker CLI's `save` and `export` choose
 * it: file (written under a temporary name, renamed once complete), or
 * STDOUT, which must not be a terminal (InvalidArgument with Docker's
 * words: "cowardly refusing to save to a terminal").
 */
export function archiveOutput(io: CliIo, file: string | undefined): ArchiveOutput {
  let out: NodeJS.WritableStream;
  let finish: (ok: boolean) => Promise<void>;
  if (file === undefined) {
    if (io.stdout.isTTY === true || io.stdoutBytes === undefined) {
      throw invalidArgument('cowardly refusing to save to a terminal. Use the -o flag or redirect');
    }
    out = io.stdoutBytes;
    finish = async () => undefined;
  } else {
    const partial = join(dirname(file), `.${basename(file)}.partial-${process.pid}`);
    const stream = createWriteStream(partial, { mode: 0o644 });
    out = stream;
    finish = async (ok) => {
      stream.end();
      await once(stream, 'close');
      if (ok) await rename(partial, file);
      else await rm(partial, { force: true });
    };
  }
  return {
    out,
    async write(data) {
      if (!out.write(data)) await once(out, 'drain');
    },
    finish,
  };
}
