import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { startProcess, waitFor, type TestProcess } from '@strata/kit/testing';

const shutdownModule = fileURLToPath(new URL('./shutdown.ts', import.meta.url));
const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));

/** A program that registers onShutdownSignals with a shutdown taking stopMs (or forever when negative). */
function program(stopMs: number): TestProcess {
  const code = `
    import { onShutdownSignals } from ${JSON.stringify(shutdownModule)};
    import { silentLogger } from '@strata/kit';
    onShutdownSignals(async (signal) => {
      console.log('stopping ' + signal);
      await new Promise((r) => ${stopMs} < 0 ? setInterval(() => undefined, 1000) : setTimeout(r, ${stopMs}));
      console.log('stopped');
    }, silentLogger());
    setInterval(() => undefined, 1000);
    console.log('ready');
  `;
  return startProcess(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { cwd: repoRoot });
}

describe('onShutdownSignals', () => {
  let proc: TestProcess | undefined;
  afterEach(async () => {
    await proc?.stop('SIGKILL');
    proc = undefined;
  });

  it.each(['SIGTERM', 'SIGINT'] as const)('runs the shutdown once on %s and exits 0', async (signal) => {
    const p = (proc = program(100));
    await waitFor(() => p.output().includes('ready'), () => p.output());
    process.kill(p.pid, signal);
    await expect(p.exited).resolves.toBe(0);
    expect(p.output()).toBe(`ready\nstopping ${signal}\nstopped\n`);
  });

  it('exits at once on a second signal during a stuck shutdown', async () => {
    const p = (proc = program(-1));
    await waitFor(() => p.output().includes('ready'), () => p.output());
    process.kill(p.pid, 'SIGTERM');
    await waitFor(() => p.output().includes('stopping'), () => p.output());
    process.kill(p.pid, 'SIGINT');
    await expect(p.exited).resolves.toBe(130);
    expect(p.output()).toBe('ready\nstopping SIGTERM\n');
  });
});
