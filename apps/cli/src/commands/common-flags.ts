import { flags } from '../framework/flags.js';

/** `--state-dir`: where services keep their state and logs. */
export const stateDirFlag = flags.string('Directory for state and logs', {
  placeholder: 'DIR',
  env: 'STRATA_STATE_DIR',
  default: '/var/lib/strata',
});

/** `--run-dir`: where services put their sockets, and `strata up` its record. */
export const runDirFlag = flags.string('Directory for sockets and up.json', {
  placeholder: 'DIR',
  env: 'STRATA_RUN_DIR',
  default: '/run/strata',
});

/** `--format`: tables for people, JSON for programs. */
export const formatFlag = flags.oneOf('Output format', ['table', 'json'], { default: 'table' });

/** Writes value as indented JSON and a newline. */
export function printJson(out: { write(text: string): unknown }, value: unknown): void {
  out.write(JSON.stringify(value, null, 2) + '\n');
}
