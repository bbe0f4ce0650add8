import { readFileSync } from 'node:fs';
import { invalidArgument } from './errors.js';

/** How one configuration setting is read and checked. */
export type Setting<T> = {
  /** What it is for; shown by `--help`. */
  description: string;
  /** Value when nothing sets it. Settings without a default are required. */
  default?: T;
  /** Environment variable that sets it, e.g. STRATA_STATE_DIR. */
  env?: string;
  /** A flag that may be given more than once; parse then gets every value, in order, as a string array. */
  repeat?: boolean;
  /** A flag that needs no value (`--tls` means true). */
  switch?: boolean;
  /** Converts the raw text (from a flag or env) or JSON value (from a file). */
  parse: (raw: unknown, name: string) => T;
};

export type ConfigSpec = Record<string, Setting<unknown>>;

/** The typed configuration a spec describes. */
export type ConfigOf<S extends ConfigSpec> = { [K in keyof S]: S[K] extends Setting<infer T> ? T : never };

export interface ConfigSources {
  /** Command-line arguments, `--name value` or `--name=value` (kebab-case of the key). */
  argv?: readonly string[];
  /** Environment variables. */
  env?: Readonly<Record<string, string | undefined>>;
  /** A JSON file with keys of the spec; `--config FILE` in argv also names one. */
  file?: string;
}

/** Reads a setting as a string. */
export function str(description: string, options: { default?: string; env?: string } = {}): Setting<string> {
  return {
    description,
    ...options,
    parse: (raw, name) => {
      if (typeof raw !== 'string') throw invalidArgument(`config ${name}: expected a string, got ${typeof raw}`);
      return raw;
    },
  };
}

/** Reads an optional string setting (undefined when unset). */
export function optionalStr(description: string, options: { env?: string } = {}): Setting<string | undefined> {
  return { ...str(description, options), default: undefined } as Setting<string | undefined>;
}

/** Reads a whole number within [min, max]. */
export function int(
  description: string,
  options: { default?: number; env?: string; min?: number; max?: number } = {},
): Setting<number> {
  const { min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER, ...rest } = options;
  return {
    description,
    ...rest,
    parse: (raw, name) => {
      const n = typeof raw === 'number' ? raw : typeof raw === 'string' && /^-?\d+$/.test(raw.trim()) ? Number(raw) : NaN;
      if (!Number.isSafeInteger(n)) throw invalidArgument(`config ${name}: expected a whole number, got ${JSON.stringify(raw)}`);
      if (n < min || n > max) throw invalidArgument(`config ${name}: ${n} is out of range ${min}..${max}`);
      return n;
    },
  };
}

/** Reads true/false (also 1/0, yes/no). */
export function bool(description: string, options: { default?: boolean; env?: string } = {}): Setting<boolean> {
  return {
    description,
    ...options,
    switch: true,
    parse: (raw, name) => {
      if (typeof raw === 'boolean') return raw;
      const s = String(raw).toLowerCase();
      if (['true', '1', 'yes', ''].includes(s)) return true;
      if (['false', '0', 'no'].includes(s)) return false;
      throw invalidArgument(`config ${name}: expected true or false, got ${JSON.stringify(raw)}`);
    },
  };
}

const LABEL_KEY = /^[A-Za-z0-9]([A-Za-z0-9._/-]{0,62}[A-Za-z0-9])?$/;

/**
 * Reads `key=value` labels: a repeatable flag (`--label zone=a --label
 * ssd=true`), a comma-separated list in the environment (`zone=a,ssd=true`),
 * or a JSON object in a file. Keys are letters, digits, `.`, `_`, `/`, `-`
 * (at most 64, starting and ending with a letter or digit); values are any
 * text. The default is no labels.
 */
export function labels(description: string, options: { env?: string } = {}): Setting<Record<string, string>> {
  return {
    description,
    ...options,
    default: {},
    repeat: true,
    parse: (raw, name) => {
      const pairs: Array<[string, unknown]> = [];
      if (typeof raw === 'string') pairs.push(...raw.split(',').filter((p) => p.trim() !== '').map((p) => split(p)));
      else if (Array.isArray(raw)) pairs.push(...raw.map((p) => split(p)));
      else if (typeof raw === 'object' && raw !== null) pairs.push(...Object.entries(raw));
      else throw invalidArgument(`config ${name}: expected key=value labels, got ${JSON.stringify(raw)}`);
      const out: Record<string, string> = {};
      for (const [key, value] of pairs) {
        if (!LABEL_KEY.test(key)) {
          throw invalidArgument(`config ${name}: label key ${JSON.stringify(key)} must be 1-64 letters, digits, ".", "_", "/" or "-", starting and ending with a letter or digit`);
        }
        if (typeof value !== 'string') throw invalidArgument(`config ${name}: the value of label ${key} must be a string`);
        out[key] = value;
      }
      return out;

      function split(pair: unknown): [string, string] {
        const text = String(pair).trim();
        const eq = text.indexOf('=');
        if (eq === -1) throw invalidArgument(`config ${name}: expected key=value, got ${JSON.stringify(pair)}`);
        return [text.slice(0, eq), text.slice(eq + 1)];
      }
    },
  };
}

/** Reads one of a fixed set of words. */
export function oneOf<const T extends string>(
  description: string,
  values: readonly T[],
  options: { default?: T; env?: string } = {},
): Setting<T> {
  return {
    description,
    ...options,
    parse: (raw, name) => {
      if (typeof raw !== 'string' || !(values as readonly string[]).includes(raw)) {
        throw invalidArgument(`config ${name}: expected one of ${values.join(', ')}, got ${JSON.stringify(raw)}`);
      }
      return raw as T;
    },
  };
}

const kebab = (key: string): string => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

function parseArgv(argv: readonly string[], spec: ConfigSpec): { values: Record<string, string | string[]>; file?: string } {
  const byFlag = new Map(Object.keys(spec).map((k) => [kebab(k), k]));
  const values: Record<string, string | string[]> = {};
  let file: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (!arg.startsWith('--')) throw invalidArgument(`unexpected argument ${JSON.stringify(arg)}; settings are --name value`);
    const eq = arg.indexOf('=');
    const flag = arg.slice(2, eq === -1 ? undefined : eq);
    let value: string | undefined = eq === -1 ? undefined : arg.slice(eq + 1);
    const key = byFlag.get(flag);
    if (flag !== 'config' && key === undefined) {
      throw invalidArgument(`unknown flag --${flag}; known: ${[...byFlag.keys(), 'config'].map((f) => `--${f}`).join(', ')}`);
    }
    if (value === undefined) {
      const next = argv[i + 1];
      const isSwitch = key !== undefined && spec[key]?.switch === true;
      if (next === undefined || next.startsWith('--') || isSwitch) value = 'true';
      else value = argv[++i] ?? '';
    }
    if (flag === 'config') file = value;
    else if (key !== undefined && spec[key]?.repeat === true) values[key] = [...((values[key] as string[] | undefined) ?? []), value];
    else if (key !== undefined) values[key] = value;
  }
  return file === undefined ? { values } : { values, file };
}

/**
 * Builds the validated configuration of a program from, in rising priority,
 * defaults, a JSON file, environment variables and flags. Raises
 * InvalidArgument naming the setting for anything unknown, malformed or
 * missing, so a program can print it and exit before doing anything.
 */
export function loadConfig<S extends ConfigSpec>(spec: S, sources: ConfigSources = {}): ConfigOf<S> {
  const { values: flags, file: flagFile } = parseArgv(sources.argv ?? [], spec);
  const fileName = flagFile ?? sources.file;
  let fromFile: Record<string, unknown> = {};
  if (fileName !== undefined) {
    let text: string;
    try {
      text = readFileSync(fileName, 'utf8');
    } catch (cause) {
      throw invalidArgument(`config file ${fileName} cannot be read: ${(cause as Error).message}`, { cause });
    }
    try {
      const parsed: unknown = JSON.parse(text);
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not a JSON object');
      fromFile = parsed as Record<string, unknown>;
    } catch (cause) {
      throw invalidArgument(`config file ${fileName} is not a JSON object: ${(cause as Error).message}`, { cause });
    }
    for (const key of Object.keys(fromFile)) {
      if (!(key in spec)) throw invalidArgument(`config file ${fileName}: unknown setting ${JSON.stringify(key)}`);
    }
  }
  const out: Record<string, unknown> = {};
  for (const [key, setting] of Object.entries(spec)) {
    const envValue = setting.env === undefined ? undefined : sources.env?.[setting.env];
    const raw = flags[key] ?? (envValue !== undefined && envValue !== '' ? envValue : undefined) ?? fromFile[key];
    if (raw !== undefined) out[key] = setting.parse(raw, kebab(key));
    else if ('default' in setting) out[key] = setting.default;
    else throw invalidArgument(`config ${kebab(key)} is required (${setting.description})`);
  }
  return out as ConfigOf<S>;
}

/** One line per setting: flag, env variable, default and description. */
export function describeConfig(spec: ConfigSpec): string {
  return Object.entries(spec)
    .map(([key, s]) => {
      const env = s.env ? ` (env ${s.env})` : '';
      const def = s.default === undefined || typeof s.default === 'object' ? '' : ` [default: ${String(s.default)}]`;
      const repeat = s.repeat === true ? ' (repeatable)' : '';
      return `  --${kebab(key)}${repeat}${env}${def}\n      ${s.description}`;
    })
    .join('\n');
}
