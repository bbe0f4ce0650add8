import { spawn } from 'node:child_process';

/** What a GNU tar run produced. */
export interface GnuTarResult {
  /** Exit code (or -1 when it could not start or was killed by a signal). */
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs GNU tar (`tar` from PATH) with args, feeding input (an archive) on
 * stdin when given: the reference reader and extractor for tests. Never
 * throws for a failing tar; look at code and stderr.
 */
export function gnuTar(args: readonly string[], input?: Uint8Array, cwd?: string): Promise<GnuTarResult> {
  return new Promise((resolve) => {
    const child = spawn('tar', args, { stdio: ['pipe', 'pipe', 'pipe'], ...(cwd === undefined ? {} : { cwd }) });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.stdin.on('error', () => undefined);
    child.once('error', (e) => resolve({ code: -1, stdout: '', stderr: e.message }));
    child.once('close', (code) => resolve({ code: code ?? -1, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }));
    child.stdin.end(input === undefined ? undefined : Buffer.from(input.buffer, input.byteOffset, input.byteLength));
  });
}
