import { constants } from 'node:os';
import { failedPrecondition, invalidArgument, isStrataError, isUnavailable, type StrataError } from '@strata/kit';
import { parseConstraint, STRATEGIES, type Constraint, type Strategy } from '@strata/placement';
import { flags, type Flag } from '../framework/flags.js';
import { UsageError } from '../framework/usage-error.js';

/** Docker's exit code for an error of the CLI or the daemon (`docker run` and the container commands' usage). */
export const EXIT_CLI_ERROR = 125;
/** Docker's exit code when the container's command cannot be run (permission denied, a directory). */
export const EXIT_CANNOT_RUN = 126;
/** Docker's exit code when the container's command is not found. */
export const EXIT_NOT_FOUND = 127;

/**
 * The error of `run -it` and `exec -it` when stdin is not a terminal, with
 * Docker's sentence; {@link commandFailureExitCode} gives it exit code 1,
 * as Docker's CLI does (not run's 125).
 */
export function notATerminal(): StrataError {
  return failedPrecondition('the input device is not a TTY; run without -t, or from a terminal', { fields: { stdin: 'not a terminal' } });
}

/**
 * The exit code for an error of `run`, `create` or `exec`, as Docker picks
 * it from the daemon's message: 127 when the command is not found, 126
 * when it cannot be run (permission denied, a directory), 1 for
 * {@link notATerminal}, otherwise fallback (125 for run and create). An
 * unreachable agent is always fallback.
 */
export function commandFailureExitCode(err: unknown, fallback = EXIT_CLI_ERROR): number {
  if (isUnavailable(err)) return fallback;
  if (isStrataError(err) && err.fields['stdin'] === 'not a terminal') return 1;
  const message = err instanceof Error ? err.message : String(err);
  if (/executable file not found|no such file or directory/i.test(message)) return EXIT_NOT_FOUND;
  if (/permission denied|is a directory/i.test(message)) return EXIT_CANNOT_RUN;
  return fallback;
}

const NAME = /^\/?[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/**
 * Checks a container name as `--name` takes it; returns it without a
 * leading `/`. Raises InvalidArgument with Docker's sentence otherwise.
 */
export function checkContainerName(text: string): string {
  if (!NAME.test(text)) throw invalidArgument(`Invalid container name (${text}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
  return text.replace(/^\//, '');
}

/**
 * One `-e` value as Docker reads it: `KEY=value` unchanged, a bare `KEY`
 * takes the value it has in env (`KEY=value`) or stays `KEY` when env has
 * none. Raises InvalidArgument for an empty name or a name with whitespace.
 */
export function parseEnvEntry(entry: string, env: Readonly<Record<string, string | undefined>>): string {
  const eq = entry.indexOf('=');
  const name = eq === -1 ? entry : entry.slice(0, eq);
  if (name === '') throw invalidArgument(`invalid environment variable: ${entry}`);
  if (/\s/.test(name)) throw invalidArgument(`variable '${name}' contains whitespaces`);
  if (eq !== -1) return entry;
  const value = env[name];
  return value === undefined ? name : `${name}=${value}`;
}

/**
 * `-e` of `run`, `create` and `exec`: repeatable, each value checked as
 * {@link parseEnvEntry} checks it when parsed, so a malformed one is a
 * usage error (exit 125, as Docker's flag error); a bare `KEY` takes its
 * value when the command runs.
 */
export function envFlag(description: string): Flag<string[]> {
  return {
    description,
    short: 'e',
    placeholder: 'KEY=VALUE',
    repeatable: true,
    initial: [],
    parse(raw, name, previous) {
      try {
        parseEnvEntry(raw, {});
      } catch (err) {
        throw new UsageError(`invalid argument ${JSON.stringify(raw)} for ${name}: ${(err as Error).message}`);
      }
      return [...previous, raw];
    },
  };
}

/**
 * The entries of an `--env-file` as Docker reads it: one `KEY=value` or
 * `KEY` per line (see {@link parseEnvEntry}), leading whitespace ignored,
 * empty lines and lines starting with `#` skipped. Raises InvalidArgument
 * naming the file and line for a bad entry.
 */
export function parseEnvFile(text: string, file: string, env: Readonly<Record<string, string | undefined>>): string[] {
  const entries: string[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.replace(/^\s+/, '');
    if (line === '' || line.startsWith('#')) return;
    try {
      entries.push(parseEnvEntry(line, env));
    } catch (err) {
      throw invalidArgument(`${file}, line ${i + 1}: ${(err as Error).message}`);
    }
  });
  return entries;
}

const SIGNAL_NUMBERS = constants.signals as Readonly<Record<string, number>>;

/**
 * A signal as `kill -s` and `--stop-signal` take it: a name with or
 * without `SIG` in any case (`hup`, `SIGKILL`) → `SIGHUP`, or a number
 * 1–64 → its decimal text. Raises InvalidArgument (`Invalid signal: X`).
 */
export function parseSignal(text: string): string {
  if (/^\d+$/.test(text)) {
    const n = Number(text);
    if (n >= 1 && n <= 64) return String(n);
  } else {
    const upper = text.toUpperCase();
    const name = upper.startsWith('SIG') ? upper : `SIG${upper}`;
    if (SIGNAL_NUMBERS[name] !== undefined) return name;
  }
  throw invalidArgument(`Invalid signal: ${text}`);
}

/**
 * The number of CPUs `--cpus` takes: a decimal number (`0.5`, `2`, `.25`).
 * Raises InvalidArgument for anything else, negative numbers included; the
 * range (0.01 to the node's CPUs) is checked with the cgroup rules.
 */
export function parseCpus(text: string): number {
  if (!/^(?:\d+(?:\.\d*)?|\.\d+)$/.test(text)) {
    throw invalidArgument(`invalid cpus ${JSON.stringify(text)}: it must be a number greater than 0, like 0.5`);
  }
  return Number(text);
}

/**
 * `--pids-limit` as Docker takes it, in the API's terms: a positive limit
 * as is, 0 or -1 for no limit (-1). Raises InvalidArgument below -1.
 */
export function parsePidsLimit(text: string): number {
  const n = /^-?\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(n) || n < -1) {
    throw invalidArgument(`invalid pids limit ${JSON.stringify(text)}: it must be a whole number, or -1 for no limit`);
  }
  return n <= 0 ? -1 : n;
}

/** `--tail`: `all` (or a negative number) → -1, else a whole number of lines. Raises InvalidArgument otherwise. */
export function parseTail(text: string): number {
  if (text === 'all') return -1;
  if (!/^-?\d+$/.test(text)) throw invalidArgument(`invalid --tail value ${JSON.stringify(text)}: expected a number of lines or "all"`);
  return Math.max(-1, Number(text));
}

const FILTER_KEYS = ['id', 'name', 'label', 'status', 'ancestor', 'exited'];
const STATUSES = ['created', 'restarting', 'running', 'paused', 'exited', 'dead', 'removing'];

/**
 * Checks a `ps --filter` value: `key=value` with a key the agent knows
 * (id, name, label, status, ancestor, exited), a known status and a whole
 * exit code. Returns it unchanged; InvalidArgument naming what is wrong.
 */
export function checkPsFilter(text: string): string {
  const eq = text.indexOf('=');
  if (eq <= 0) throw invalidArgument(`bad format of filter (expected name=value): ${text}`);
  const key = text.slice(0, eq);
  const value = text.slice(eq + 1);
  if (!FILTER_KEYS.includes(key)) throw invalidArgument(`invalid filter '${key}': expected one of ${FILTER_KEYS.join(', ')}`);
  if (key === 'status' && !STATUSES.includes(value)) {
    throw invalidArgument(`invalid filter 'status=${value}': expected one of ${STATUSES.join(', ')}`);
  }
  if (key === 'exited' && !/^-?\d+$/.test(value)) throw invalidArgument(`invalid filter 'exited=${value}': expected an exit code`);
  return text;
}

/**
 * A value flag whose raw text goes through check at parse time; an error
 * check raises becomes a UsageError naming the flag and the value. The
 * value is undefined when the flag is not given.
 */
export function checkedFlag<T>(
  description: string,
  check: (raw: string) => T,
  options: { short?: string; placeholder: string; repeatable?: boolean; shownDefault?: string },
): Flag<T | undefined> {
  return {
    description,
    ...options,
    initial: undefined,
    parse(raw, name) {
      try {
        return check(raw);
      } catch (err) {
        throw new UsageError(`invalid argument ${JSON.stringify(raw)} for ${name}: ${(err as Error).message}`);
      }
    },
  };
}

/** `--memory`: kept as written; parsed with the cgroup rules when the command runs (they load only then). */
const memoryFlag = flags.string('Memory limit (e.g. 64m, 1.5g; at least 6m, 0 for none)', { short: 'm', placeholder: 'BYTES' });
const cpusFlag = checkedFlag('Number of CPUs (e.g. 0.5)', parseCpus, { placeholder: 'DECIMAL' });
const pidsLimitFlag = checkedFlag('Tune container pids limit (-1 for unlimited)', parsePidsLimit, { placeholder: 'N' });

const cpuSharesFlag = flags.int('CPU shares (relative weight, 2 to 262144; 1024 is the default)', { short: 'c', default: 0, min: 0, max: 262144 });
const cpusetCpusFlag = flags.string('CPUs in which to allow execution (0-3, 0,1)', { placeholder: 'LIST' });
const cpusetMemsFlag = flags.string('Memory nodes in which to allow execution (0-3, 0,1)', { placeholder: 'LIST' });

/** The resource flags of `run`, `create` and `update`. */
export const resourceFlags = {
  memory: memoryFlag,
  cpus: cpusFlag,
  pidsLimit: pidsLimitFlag,
  cpuShares: cpuSharesFlag,
  cpusetCpus: cpusetCpusFlag,
  cpusetMems: cpusetMemsFlag,
};

/**
 * `--strategy`: one of placement's strategies (`memory`, the default,
 * `spread`, `binpack`); undefined when not given.
 */
export function parseStrategy(text: string): Strategy {
  const found = STRATEGIES.find((s) => s === text);
  if (found === undefined) throw invalidArgument(`unknown placement strategy: use ${STRATEGIES.join(', ')}`);
  return found;
}

/**
 * The placement flags of `run` and `create`: `--node`, `--constraint`
 * (repeatable, parsed when given) and `--strategy`. Any of them sends the
 * container through the fleet's Placement (docs/placement.md).
 */
export const placementFlags = {
  node: flags.string('Run the container on this node of the fleet (`strata nodes` lists them)', { placeholder: 'NAME' }),
  constraint: {
    description: 'Placement constraint on the nodes: LABEL=VALUE, LABEL!=VALUE, node.name=NAME; all must hold',
    placeholder: 'KEY=VALUE',
    repeatable: true,
    initial: [] as Constraint[],
    parse(raw: string, name: string, previous: Constraint[]) {
      try {
        return [...previous, parseConstraint(raw)];
      } catch (err) {
        throw new UsageError(`invalid argument ${JSON.stringify(raw)} for ${name}: ${(err as Error).message}`);
      }
    },
  } satisfies Flag<Constraint[]>,
  strategy: checkedFlag(`How placement chooses among the nodes that fit: ${STRATEGIES.join(', ')} (memory: most free memory, by default)`, parseStrategy, {
    placeholder: 'STRATEGY',
  }),
};

/**
 * `--restart`: kept as written and read by buildContainerSpec with the docker
 * CLI's rules (parseRestartPolicy), so that its errors read as Docker's.
 */
export const restartFlag = flags.string(
  'Restart policy to apply when a container exits: no (the default), always, unless-stopped, on-failure[:max-retries]',
  { placeholder: 'POLICY' },
);

/** The flags of `strata run` and `strata create` (run adds --detach), with Docker's names. */
export const containerFlags = {
  interactive: flags.switch('Keep STDIN open even if not attached', { short: 'i' }),
  tty: flags.switch('Allocate a pseudo-TTY', { short: 't' }),
  rm: flags.switch('Automatically remove the container when it exits'),
  restart: restartFlag,
  name: checkedFlag('Assign a name to the container', checkContainerName, { placeholder: 'NAME' }),
  env: envFlag('Set environment variables (KEY=VALUE, or KEY to take its value here)'),
  envFile: flags.list('Read in a file of environment variables', { placeholder: 'FILE' }),
  workdir: flags.string('Working directory inside the container', { short: 'w', placeholder: 'DIR' }),
  user: flags.string('Username or UID (format: <name|uid>[:<group|gid>])', { short: 'u', placeholder: 'USER' }),
  publish: flags.list("Publish a container's port to the host ([IP:][HOST:]CONTAINER[/tcp|udp]; HOST 0 picks one)", {
    short: 'p',
    placeholder: 'PORTS',
  }),
  ...resourceFlags,
  network: flags.oneOf('Connect the container to a network', ['bridge', 'none', 'host'], { default: 'bridge' }),
  hostname: flags.string('Container host name (the short id by default)', { short: 'h', placeholder: 'NAME' }),
  userns: flags.oneOf(
    "User namespace (podman's names; Docker's --userns=host): host shares the host's ids, private maps the container's root to the node's subordinate ids (100000:65536 by default)",
    ['host', 'private'],
    { default: 'host' },
  ),
  entrypoint: {
    description: 'Overwrite the default ENTRYPOINT of the image ("" clears it)',
    placeholder: 'COMMAND',
    initial: undefined,
    parse: (raw: string) => raw,
  } satisfies Flag<string | undefined>,
  label: flags.list('Set metadata on the container', { short: 'l', placeholder: 'KEY=VALUE' }),
  stopSignal: checkedFlag('Signal to stop the container', parseSignal, { placeholder: 'SIGNAL' }),
  stopTimeout: checkedFlag(
    'Seconds to wait before killing the container on stop',
    (raw) => {
      if (!/^\d+$/.test(raw) || Number(raw) > 2 ** 31 - 1) throw invalidArgument('expected a whole number of seconds');
      return Number(raw);
    },
    { placeholder: 'SECONDS' },
  ),
  platform: flags.string('Platform of the image os/arch[/variant] (the node\'s by default)', { placeholder: 'OS/ARCH[/VARIANT]' }),
  volume: flags.list('Bind mount a volume: /host/path:/ctr/path[:ro] (a missing host directory is created)', { short: 'v', placeholder: 'LIST' }),
  mount: flags.list('Attach a filesystem mount: type=bind,source=/host,target=/ctr[,readonly] or type=tmpfs,target=/ctr[,tmpfs-size=64m]', {
    placeholder: 'MOUNT',
  }),
  tmpfs: flags.list('Mount a tmpfs directory: /ctr/path[:options] (noexec, nosuid, nodev unless the options say otherwise)', { placeholder: 'PATH' }),
  readOnly: flags.switch("Mount the container's root filesystem as read only"),
  addHost: flags.list('Add a custom host-to-IP mapping (host:ip; ip host-gateway is the bridge address)', { placeholder: 'HOST:IP' }),
  dns: flags.list('Set custom DNS servers', { placeholder: 'IP' }),
  dnsSearch: flags.list('Set custom DNS search domains', { placeholder: 'DOMAIN' }),
  dnsOption: flags.list('Set DNS options', { placeholder: 'OPTION' }),
  ulimit: flags.list('Ulimit options (e.g. nofile=1024:2048)', { placeholder: 'NAME=SOFT[:HARD]' }),
  shmSize: flags.string('Size of /dev/shm (e.g. 128m; 64m by default)', { placeholder: 'BYTES' }),
  pull: flags.oneOf('Pull image before running', ['missing', 'always', 'never'], { default: 'missing' }),
  capAdd: flags.list('Add Linux capabilities (e.g. NET_ADMIN; ALL)', { placeholder: 'CAP' }),
  capDrop: flags.list('Drop Linux capabilities (e.g. NET_RAW; ALL)', { placeholder: 'CAP' }),
  securityOpt: flags.list('Security options: seccomp=unconfined, seccomp=PROFILE.json (Docker format), no-new-privileges', { placeholder: 'OPT' }),
  healthCmd: flags.string('Command to run to check health', { placeholder: 'CMD' }),
  healthInterval: flags.string('Time between running the check (ms|s|m|h)', { placeholder: 'DURATION' }),
  healthTimeout: flags.string('Maximum time to allow one check to run (ms|s|m|h)', { placeholder: 'DURATION' }),
  healthStartPeriod: flags.string('Start period for the container to initialize before starting health-retries countdown (ms|s|m|h)', { placeholder: 'DURATION' }),
  healthStartInterval: flags.string('Time between running the check during the start period (ms|s|m|h)', { placeholder: 'DURATION' }),
  healthRetries: flags.int('Consecutive failures needed to report unhealthy', { default: 0, min: 0 }),
  noHealthcheck: flags.switch('Disable any container-specified HEALTHCHECK'),
  ...placementFlags,
};

/** Labels `KEY=VALUE` (or `KEY` for an empty value) as a map; InvalidArgument for an empty key. */
export function parseLabels(entries: readonly string[]): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const entry of entries) {
    const eq = entry.indexOf('=');
    const key = eq === -1 ? entry : entry.slice(0, eq);
    if (key === '') throw invalidArgument(`invalid label ${JSON.stringify(entry)}: the key is empty`);
    labels[key] = eq === -1 ? '' : entry.slice(eq + 1);
  }
  return labels;
}
