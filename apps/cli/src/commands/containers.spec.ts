import { unavailable } from '@strata/kit';
import { describe, expect, it, vi } from 'vitest';
import type { CliIo } from '../framework/command.js';
import { parseArgs } from '../framework/flags.js';
import { runCli } from '../framework/run-cli.js';
import { strata } from '../program.js';
import { runCommand } from './containers.js';

/** What the command did, in order, and how the test ends the pending Create. */
const agent = vi.hoisted(() => ({ events: [] as string[], failCreate: (_err: Error): void => undefined }));

vi.mock('./container-session.js', async (importOriginal) => {
  agent.events.push('session module loaded');
  return importOriginal();
});

/** A Containers client whose Create stays pending until the test fails it. */
vi.mock('../framework/rpc-client.js', () => ({
  createClient: () => ({
    unary: () => {
      agent.events.push('Create called');
      return new Promise((_resolve, reject) => {
        agent.failCreate = reject;
      });
    },
    close: () => undefined,
  }),
}));

describe('strata run', () => {
  it('loads the module of the session it opens next while the agent creates the container', async () => {
    const env = { STRATA_CA_DIR: '/nonexistent/strata-containers-spec' };
    const io: CliIo = { stdout: { write: () => true }, stderr: { write: () => true }, env, interrupts: () => new AbortController().signal };
    const { flags, args } = parseArgs(['--rm', 'busybox', 'true'], runCommand.flags, { env });
    const running = runCommand.run({ flags, args, io });

    await vi.waitFor(() => expect(agent.events).toEqual(['Create called', 'session module loaded']));
    agent.failCreate(unavailable('the agent went away'));
    await expect(running).rejects.toThrow('the agent went away');
  });

  it.each([
    ['run', ['run', '-it', 'busybox', 'sh']],
    ['exec', ['exec', '-it', 'box', 'sh']],
  ])("%s -it exits 1 before any call when stdin is not a terminal, as Docker's does", async (_command, argv) => {
    const env = { STRATA_CA_DIR: '/nonexistent/strata-containers-spec' };
    let err = '';
    const stdin = Object.assign((async function* () {})(), { isTTY: false });
    const io: CliIo = { stdin, stdout: { write: () => true }, stderr: { write: (t) => (err += t.toString()) }, env, interrupts: () => new AbortController().signal };
    const calls = agent.events.length;
    expect(await runCli(strata, argv, io)).toBe(1);
    expect(err).toBe('strata: the input device is not a TTY; run without -t, or from a terminal\n');
    expect(agent.events.slice(calls)).toEqual([]);
  });

  it('exec -e with a malformed variable is a usage error: 125 before any call, as Docker\'s flag error', async () => {
    const env = { STRATA_CA_DIR: '/nonexistent/strata-containers-spec' };
    let err = '';
    const io: CliIo = { stdout: { write: () => true }, stderr: { write: (t) => (err += t.toString()) }, env, interrupts: () => new AbortController().signal };
    const calls = agent.events.length;
    expect(await runCli(strata, ['exec', '-e', '=x', 'box', 'true'], io)).toBe(125);
    expect(err).toBe("strata: invalid argument \"=x\" for -e: invalid environment variable: =x; see 'strata exec --help'\n");
    expect(agent.events.slice(calls)).toEqual([]);
  });
});
