import { UsageError } from './usage-error.js';

/** How one flag of a command is written and read. */
export interface Flag<T> {
  /** One-line description shown by `--help`. */
  description: string;
  /** A one-letter alias: `-d` for `--detach`. */
  short?: string;
  /** Name of the value in help (`DIR`); absent for switches, which take no value. */
  placeholder?: string;
  /** Environment variable read when the flag is not given. */
  env?: string;
  /** A value flag that may be given several times, collecting every value. */
  repeatable?: boolean;
  /** The value when neither the flag nor its env variable is given. */
  initial: T;
  /** Default shown by help, when there is one worth showing. */
  shownDefault?: string;
  /** Converts one raw value; raises UsageError naming the flag. */
  parse(raw: string, name: string, previous: T): T;
}

/** The flags of a command, keyed by camelCase name (`stateDir` is `--state-dir`). */
export type FlagSpecs = Record<string, Flag<unknown>>;

/** The typed values of {@link FlagSpecs}. */
export type FlagValues<F extends FlagSpecs> = { [K in keyof F]: F[K] extends Flag<infer T> ? T : never };

/** `stateDir` → `state-dir`. */
export const kebab = (key: string): string => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

interface Common {
  short?: string;
  env?: string;
}

/** Builders of the flags commands share one parser for. */
export const flags = {
  /** A switch: `--detach` (or `--detach=false`). */
  switch(description: string, options: { short?: string } = {}): Flag<boolean> {
    return {
      description,
      ...options,
      initial: false,
      parse(raw, name) {
        if (raw === 'true' || raw === '') return true;
        if (raw === 'false') return false;
        throw new UsageError(`flag ${name} takes no value other than true or false, got ${JSON.stringify(raw)}`);
      },
    };
  },

  /** A text value; undefined when not given and there is no default. */
  string<D extends string | undefined = undefined>(
    description: string,
    options: Common & { placeholder?: string; default?: D } = {},
  ): Flag<D extends string ? string : string | undefined> {
    const { placeholder = 'VALUE', default: initial, ...rest } = options;
    return {
      description,
      ...rest,
      placeholder,
      initial: initial as D extends string ? string : string | undefined,
      ...(initial === undefined ? {} : { shownDefault: initial }),
      parse(raw, name) {
        if (raw === '') throw new UsageError(`flag ${name} needs a non-empty ${placeholder}`);
        return raw;
      },
    };
  },

  /** A whole number within [min, max]. */
  int(
    description: string,
    options: Common & { placeholder?: string; default: number; min?: number; max?: number },
  ): Flag<number> {
    const { placeholder = 'N', default: initial, min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER, ...rest } = options;
    return {
      description,
      ...rest,
      placeholder,
      initial,
      shownDefault: String(initial),
      parse(raw, name) {
        const n = /^-?\d+$/.test(raw.trim()) ? Number(raw) : NaN;
        if (!Number.isSafeInteger(n)) throw new UsageError(`flag ${name} needs a whole number, got ${JSON.stringify(raw)}`);
        if (n < min || n > max) throw new UsageError(`flag ${name} must be between ${min} and ${max}, got ${n}`);
        return n;
      },
    };
  },

  /** One of a fixed set of words. */
  oneOf<const T extends string>(
    description: string,
    values: readonly T[],
    options: Common & { placeholder?: string; default: T },
  ): Flag<T> {
    const { placeholder = values.join('|'), default: initial, ...rest } = options;
    return {
      description,
      ...rest,
      placeholder,
      initial,
      shownDefault: initial,
      parse(raw, name) {
        if (!(values as readonly string[]).includes(raw)) {
          throw new UsageError(`flag ${name} must be one of ${values.join(', ')}, got ${JSON.stringify(raw)}`);
        }
        return raw as T;
      },
    };
  },

  /** A value that may be repeated: `-e A=1 -e B=2`. */
  list(description: string, options: { short?: string; placeholder?: string } = {}): Flag<string[]> {
    const { placeholder = 'VALUE', ...rest } = options;
    return {
      description,
      ...rest,
      placeholder,
      repeatable: true,
      initial: [],
      parse: (raw, _name, previous) => [...previous, raw],
    };
  },
};

/** What {@link parseArgs} found. */
export interface ParsedArgs<F extends FlagSpecs> {
  flags: FlagValues<F>;
  args: string[];
  /** `--help` or `-h` was given. */
  help: boolean;
}

/** Settings of {@link parseArgs}. */
export interface ParseOptions {
  /** Environment that flags with `env` fall back to. */
  env?: Readonly<Record<string, string | undefined>>;
  /**
   * False: everything from the first argument on is an argument, as for
   * `run IMAGE CMD --flag-of-cmd`. True (the default): flags and arguments mix.
   */
  interspersed?: boolean;
}

/**
 * Parses a command's argv: `--name value`, `--name=value`, `-d`, grouped
 * switches `-it`, `-p80` or `-p 80`, `--` ending the flags, and `-h`/`--help`.
 * Raises UsageError for an unknown flag, a missing or malformed value, or a
 * single-use flag given twice.
 */
export function parseArgs<F extends FlagSpecs>(argv: readonly string[], specs: F, options: ParseOptions = {}): ParsedArgs<F> {
  const byLong = new Map<string, string>();
  const byShort = new Map<string, string>();
  for (const [key, spec] of Object.entries(specs)) {
    byLong.set(kebab(key), key);
    if (spec.short !== undefined) byShort.set(spec.short, key);
  }
  const values: Record<string, unknown> = {};
  const given = new Set<string>();
  const args: string[] = [];
  let help = false;

  const set = (key: string, raw: string, shownAs: string) => {
    const spec = specs[key]!;
    if (given.has(key) && !spec.repeatable) throw new UsageError(`flag ${shownAs} is given more than once`);
    given.add(key);
    values[key] = spec.parse(raw, shownAs, (values[key] ?? spec.initial) as never);
  };
  const takesValue = (key: string) => specs[key]!.placeholder !== undefined;

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      args.push(...argv.slice(i + 1));
      break;
    }
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = arg.slice(2, eq === -1 ? undefined : eq);
      if (name === 'help') {
        help = true;
        continue;
      }
      const key = byLong.get(name);
      if (key === undefined) throw new UsageError(`unknown flag --${name}`);
      let raw = eq === -1 ? undefined : arg.slice(eq + 1);
      if (raw === undefined && takesValue(key)) {
        raw = argv[++i];
        if (raw === undefined) throw new UsageError(`flag --${name} needs a value (${specs[key]!.placeholder})`);
      }
      set(key, raw ?? '', `--${name}`);
      continue;
    }
    if (arg.startsWith('-') && arg.length > 1) {
      for (let j = 1; j < arg.length; j++) {
        const letter = arg[j]!;
        const key = byShort.get(letter);
        if (key === undefined && letter === 'h') {
          help = true;
          continue;
        }
        if (key === undefined) throw new UsageError(`unknown flag -${letter}`);
        if (!takesValue(key)) {
          set(key, '', `-${letter}`);
          continue;
        }
        let raw: string | undefined = arg.slice(j + 1);
        if (raw === '') {
          raw = argv[++i];
          if (raw === undefined) throw new UsageError(`flag -${letter} needs a value (${specs[key]!.placeholder})`);
        }
        set(key, raw, `-${letter}`);
        break;
      }
      continue;
    }
    if (options.interspersed === false) {
      args.push(...argv.slice(i));
      break;
    }
    args.push(arg);
  }

  for (const [key, spec] of Object.entries(specs)) {
    if (given.has(key)) continue;
    const fromEnv = spec.env === undefined ? undefined : options.env?.[spec.env];
    values[key] = fromEnv !== undefined && fromEnv !== '' ? spec.parse(fromEnv, spec.env!, spec.initial) : spec.initial;
  }
  return { flags: values as FlagValues<F>, args, help };
}

/** Help lines for flags, aligned: `  -d, --detach           Run in the background`. */
export function describeFlags(specs: FlagSpecs): string {
  const rows = Object.entries(specs).map(([key, spec]) => {
    const short = spec.short === undefined ? '    ' : `-${spec.short}, `;
    const value = spec.placeholder === undefined ? '' : ` ${spec.placeholder}`;
    const notes = [
      spec.repeatable ? 'repeatable' : undefined,
      spec.env === undefined ? undefined : `env ${spec.env}`,
      spec.shownDefault === undefined ? undefined : `default ${spec.shownDefault}`,
    ].filter((n) => n !== undefined);
    return [`${short}--${kebab(key)}${value}`, `${spec.description}${notes.length ? ` (${notes.join('; ')})` : ''}`] as const;
  });
  const shortHelp = !Object.values(specs).some((spec) => spec.short === 'h');
  rows.push([shortHelp ? '-h, --help' : '    --help', 'Show this help'] as const);
  const width = Math.max(...rows.map(([left]) => left.length)) + 2;
  return rows.map(([left, right]) => `  ${left.padEnd(width)}${right}`).join('\n');
}
