import { runCli } from './framework/run-cli.js';
import { strata } from './program.js';

let interrupts: AbortController | undefined;

// No top-level await: tools/scripts/build-cli.mjs bundles this module into a CommonJS file.
void runCli(strata, process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
  stdoutBytes: process.stdout,
  env: process.env,
  onSignal(signal, handler) {
    process.on(signal, handler);
    return () => process.off(signal, handler);
  },
  interrupts() {
    if (!interrupts) {
      const controller = new AbortController();
      interrupts = controller;
      const onSignal = (signal: NodeJS.Signals) => {
        // A second signal ends the process at once.
        if (controller.signal.aborted) process.exit(signal === 'SIGINT' ? 130 : 143);
        controller.abort();
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
    }
    return interrupts.signal;
  },
}).then((code) => {
  process.exitCode = code;
});
