import { flags, type Flag } from '../framework/flags.js';
import { parseInspectFormat, parseListFormat, type InspectFormat, type ListFormat } from '../framework/output-format.js';

export { printJson } from '../framework/output-format.js';

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

/** `--format`: tables for people, JSON for programs (commands that list nothing; listing commands take {@link listFormatFlag}). */
export const formatFlag = flags.oneOf('Output format', ['table', 'json'], { default: 'table' });

/**
 * `--format` of the listing commands, as `docker ps` takes it: `table`,
 * `json`, `table TEMPLATE` or TEMPLATE (see parseListFormat); a template
 * that does not parse is an InvalidArgument (exit 1, as Docker).
 */
export const listFormatFlag: Flag<ListFormat> = {
  description:
    "Output format: table, json, 'table TEMPLATE' (a Go template, with a header row and aligned columns; \\t between them) " +
    "or 'TEMPLATE' (one line per row), e.g. '{{.ID}}\\t{{.Names}}'",
  placeholder: 'FORMAT',
  initial: 'table',
  shownDefault: 'table',
  parse: (raw) => parseListFormat(raw),
};

/**
 * `-f`/`--format` of the inspect commands, as `docker inspect` takes it:
 * `json` (the JSON array, as without the flag) or a Go template run on
 * each object; a template that does not parse is an InvalidArgument.
 */
export const inspectFormatFlag: Flag<InspectFormat | undefined> = {
  description: "Format output: 'json', or a Go template run on each object, e.g. '{{.State.Status}}' or '{{json .Config.Env}}'",
  short: 'f',
  placeholder: 'FORMAT',
  initial: undefined,
  parse: (raw) => parseInspectFormat(raw),
};
