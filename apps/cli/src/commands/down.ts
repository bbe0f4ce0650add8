import { resolve } from 'node:path';
import { defineCommand } from '../framework/command.js';
import { downStack } from '../stack/stack.js';
import { formatFlag, printJson, runDirFlag } from './common-flags.js';

const said = { stopped: 'stopped', killed: 'killed (it did not stop on SIGTERM)', 'not-running': 'was not running' } as const;

/** `strata down`: stops the stack `strata up` recorded. */
export const downCommand = defineCommand({
  name: 'down',
  summary: 'Stop the local stack that strata up started',
  description: [
    'Stop the services listed in <run-dir>/up.json in reverse start order, each by',
    'its pid (SIGTERM, then SIGKILL after 10 s), and remove up.json.',
  ].join('\n'),
  flags: { runDir: runDirFlag, format: formatFlag },
  async run({ flags: f, io }) {
    const runDir = resolve(f.runDir);
    const result = await downStack(runDir, (m) => io.stderr.write(`${m}\n`));
    if (f.format === 'json') {
      printJson(io.stdout, result);
      return 0;
    }
    if (!result.found) {
      io.stdout.write(`Strata is not running (no ${runDir}/up.json).\n`);
      return 0;
    }
    for (const s of result.stopped) io.stdout.write(`${s.name} (pid ${s.pid}) ${said[s.result]}\n`);
    return 0;
  },
});
