import { describe, expect, it } from 'vitest';
import { describeFlags, flags, parseArgs, type FlagValues, type ParseOptions } from './flags.js';
import { isUsageError } from './usage-error.js';

const specs = {
  detach: flags.switch('Run in the background', { short: 'd' }),
  interactive: flags.switch('Keep stdin open', { short: 'i' }),
  tty: flags.switch('Allocate a terminal', { short: 't' }),
  stateDir: flags.string('State', { placeholder: 'DIR', env: 'STRATA_STATE_DIR', default: '/var/lib/strata' }),
  name: flags.string('Name', { placeholder: 'NAME' }),
  natsPort: flags.int('Port', { default: 4222, min: 1, max: 65535, env: 'STRATA_NATS_PORT' }),
  publish: flags.list('Publish a port', { short: 'p', placeholder: 'HOST:CTR' }),
  format: flags.oneOf('Format', ['table', 'json'], { default: 'table' }),
};

const defaults: FlagValues<typeof specs> = {
  detach: false,
  interactive: false,
  tty: false,
  stateDir: '/var/lib/strata',
  name: undefined,
  natsPort: 4222,
  publish: [],
  format: 'table',
};

describe('parseArgs', () => {
  it.each<[string, string[], Partial<typeof defaults>, string[]]>([
    ['nothing', [], {}, []],
    ['a long switch', ['--detach'], { detach: true }, []],
    ['a switch set false', ['--detach=false'], { detach: false }, []],
    ['a short switch', ['-d'], { detach: true }, []],
    ['grouped switches', ['-dit'], { detach: true, interactive: true, tty: true }, []],
    ['a value after a space', ['--state-dir', '/s'], { stateDir: '/s' }, []],
    ['a value after =', ['--state-dir=/s'], { stateDir: '/s' }, []],
    ['an int', ['--nats-port', '14222'], { natsPort: 14222 }, []],
    ['a short value glued', ['-p8080:80'], { publish: ['8080:80'] }, []],
    ['a short value after switches', ['-dp', '8080:80', '-p', '53:53/udp'], { detach: true, publish: ['8080:80', '53:53/udp'] }, []],
    ['one of', ['--format', 'json'], { format: 'json' }, []],
    ['arguments among flags', ['a', '-d', 'b'], { detach: true }, ['a', 'b']],
    ['arguments after --', ['-d', '--', '--name', 'x'], { detach: true }, ['--name', 'x']],
  ])('reads %s', (_name, argv, expected, args) => {
    const parsed = parseArgs(argv, specs);
    expect(parsed.flags).toEqual({ ...defaults, ...expected });
    expect(parsed.args).toEqual(args);
    expect(parsed.help).toBe(false);
  });

  it('stops at the first argument when not interspersed', () => {
    const parsed = parseArgs(['-d', 'busybox', 'ls', '-d', '--name', 'x'], specs, { interspersed: false });
    expect(parsed.flags.detach).toBe(true);
    expect(parsed.flags.name).toBeUndefined();
    expect(parsed.args).toEqual(['busybox', 'ls', '-d', '--name', 'x']);
  });

  it('falls back to env variables, and flags win over them', () => {
    const env = { STRATA_STATE_DIR: '/from-env', STRATA_NATS_PORT: '5222' };
    expect(parseArgs([], specs, { env }).flags).toMatchObject({ stateDir: '/from-env', natsPort: 5222 });
    expect(parseArgs(['--state-dir', '/flag'], specs, { env }).flags.stateDir).toBe('/flag');
    expect(parseArgs([], specs, { env: { STRATA_STATE_DIR: '' } }).flags.stateDir).toBe('/var/lib/strata');
  });

  it.each([['--help'], ['-h'], ['-dh']])('sees %s as a request for help', (arg) => {
    expect(parseArgs([arg], specs).help).toBe(true);
  });

  it('leaves -h to a command that defines it', () => {
    const parsed = parseArgs(['-h', 'box'], { hostname: flags.string('Host name', { short: 'h', placeholder: 'NAME' }) });
    expect(parsed).toEqual({ flags: { hostname: 'box' }, args: [], help: false });
  });

  it.each<[string, string[], string, ParseOptions?]>([
    ['an unknown long flag', ['--bogus'], 'unknown flag --bogus'],
    ['an unknown short flag', ['-x'], 'unknown flag -x'],
    ['a missing value', ['--state-dir'], 'flag --state-dir needs a value (DIR)'],
    ['a missing short value', ['-p'], 'flag -p needs a value (HOST:CTR)'],
    ['an empty value', ['--name='], 'flag --name needs a non-empty NAME'],
    ['a word for a number', ['--nats-port', 'four'], 'flag --nats-port needs a whole number, got "four"'],
    ['a number out of range', ['--nats-port', '70000'], 'flag --nats-port must be between 1 and 65535, got 70000'],
    ['a word not in the set', ['--format', 'yaml'], 'flag --format must be one of table, json, got "yaml"'],
    ['a switch with a value', ['--detach=yes'], 'flag --detach takes no value other than true or false, got "yes"'],
    ['a single-use flag twice', ['--name', 'a', '--name', 'b'], 'flag --name is given more than once'],
    ['a bad env value', [], 'flag STRATA_NATS_PORT needs a whole number, got "x"', { env: { STRATA_NATS_PORT: 'x' } }],
  ])('refuses %s', (_name, argv, message, options) => {
    let caught: unknown;
    try {
      parseArgs(argv, specs, options);
    } catch (err) {
      caught = err;
    }
    expect(isUsageError(caught)).toBe(true);
    expect((caught as Error).message).toBe(message);
  });
});

describe('describeFlags', () => {
  it('lists every flag with its value, env variable and default, aligned', () => {
    expect(describeFlags({ detach: specs.detach, stateDir: specs.stateDir, publish: specs.publish })).toBe(
      [
        '  -d, --detach            Run in the background',
        '      --state-dir DIR     State (env STRATA_STATE_DIR; default /var/lib/strata)',
        '  -p, --publish HOST:CTR  Publish a port (repeatable)',
        '  -h, --help              Show this help',
      ].join('\n'),
    );
  });
});
