import { describe, expect, it } from 'vitest';
import { once } from 'node:events';
import type { Readable, Writable } from 'node:stream';
import { runProgram, startProgram } from './run-program.js';

async function text(stream: Readable): Promise<string> {
  let out = '';
  stream.setEncoding('utf8').on('data', (s: string) => (out += s));
  await once(stream, 'end');
  return out;
}

describe('runProgram', () => {
  it('gives the program its input and returns its exit code and output, whatever the code', async () => {
    expect(await runProgram('sh', ['-c', 'cat; echo oops >&2; exit 3'], { input: 'hello\n' })).toMatchObject({
      code: 3,
      stdout: 'hello\n',
      stderr: 'oops\n',
    });
    expect(await runProgram('printf', ['%s|', 'a b', '$HOME', '; true'])).toEqual({ code: 0, stdout: 'a b|$HOME|; true|', stderr: '' });
  });

  it('tells a missing program, a timeout and too much output apart from an exit code', async () => {
    expect(await runProgram('/no/such/program', [])).toMatchObject({ code: -1, error: 'ENOENT' });
    const slow = await runProgram('sleep', ['5'], { timeoutMs: 100 });
    expect(slow).toMatchObject({ code: -1, signal: 'SIGTERM' });
    expect(await runProgram('head', ['-c', '100000', '/dev/zero'], { maxBuffer: 1000 })).toMatchObject({ code: -1, error: 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER' });
  });

  it('runs programs side by side, each answered with its own result', async () => {
    const results = await Promise.all(Array.from({ length: 12 }, (_, i) => runProgram('sh', ['-c', `sleep 0.0${i % 3}; echo ${i}`])));
    expect(results.map((r) => r.stdout)).toEqual(Array.from({ length: 12 }, (_, i) => `${i}\n`));
  });

  it('starts a program with pipes for descriptors 2 and up, read and written from this thread', async () => {
    // fd 3 gets what the program read from fd 4, upper-cased; fd 2 its complaint.
    const [err, out, input] = (await startProgram('sh', ['-c', 'echo started >&3; tr a-z A-Z <&4 >&3; echo done >&2'], { pipes: ['read', 'read', 'write'] })) as [
      Readable,
      Readable,
      Writable,
    ];
    const outText = text(out);
    input.write('hello ');
    input.end('world\n');
    expect(await outText).toBe('started\nHELLO WORLD\n');
    expect(await text(err)).toBe('done\n');
  });

  it('rejects for a program that cannot start, and closes a pipe the reader gives up', async () => {
    await expect(startProgram('/no/such/program', [], { pipes: ['read'] })).rejects.toMatchObject({ code: 'ENOENT' });
    // The program writes to fd 3 until the pipe breaks (SIGPIPE), then says so on fd 2.
    const [err, out] = (await startProgram('sh', ['-c', 'trap "" PIPE; while echo x >&3; do :; done; echo broken >&2'], { pipes: ['read', 'read'] })) as [Readable, Readable];
    await once(out, 'data');
    out.destroy();
    expect(await text(err)).toMatch(/broken\n$/);
  });
});
