import { describe, expect, it } from 'vitest';
import { runProgram } from './run-program.js';

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
});
