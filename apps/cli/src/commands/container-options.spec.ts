import { errorKind, internal, invalidArgument, unavailable } from '@strata/kit';
import { describe, expect, it } from 'vitest';
import { parseArgs } from '../framework/flags.js';
import { isUsageError } from '../framework/usage-error.js';
import {
  checkContainerName,
  checkPsFilter,
  commandFailureExitCode,
  containerFlags,
  notATerminal,
  parseCpus,
  parseEnvEntry,
  parseEnvFile,
  parseLabels,
  parsePidsLimit,
  parseSignal,
  parseTail,
} from './container-options.js';

const fails = (fn: () => unknown): { kind: string; message: string } => {
  try {
    fn();
  } catch (err) {
    return { kind: errorKind(err), message: (err as Error).message };
  }
  throw new Error('expected an error');
};

describe('checkContainerName', () => {
  it.each([
    ['web', 'web'],
    ['/web', 'web'],
    ['a.b_c-1', 'a.b_c-1'],
  ])('%s is %s', (text, name) => expect(checkContainerName(text)).toBe(name));

  it.each(['-web', 'we b', '', 'é'])('%j is refused', (text) =>
    expect(fails(() => checkContainerName(text))).toEqual({
      kind: 'InvalidArgument',
      message: `Invalid container name (${text}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`,
    }),
  );
});

describe('parseEnvEntry', () => {
  const env = { HOME: '/root', EMPTY: '' };
  it.each([
    ['A=1', 'A=1'],
    ['A=', 'A='],
    ['A=b=c', 'A=b=c'],
    ['HOME', 'HOME=/root'],
    ['EMPTY', 'EMPTY='],
    ['MISSING', 'MISSING'],
  ])('%s is %s', (entry, result) => expect(parseEnvEntry(entry, env)).toBe(result));

  it.each([
    ['=x', 'invalid environment variable: =x'],
    ['', 'invalid environment variable: '],
    ['A B=1', "variable 'A B' contains whitespaces"],
  ])('%j is refused: %s', (entry, message) =>
    expect(fails(() => parseEnvEntry(entry, env))).toEqual({ kind: 'InvalidArgument', message }),
  );
});

describe('parseEnvFile', () => {
  it('reads entries, skipping comments and empty lines', () => {
    expect(parseEnvFile('# comment\nA=1\n\n  B=2 \r\nHOME\n', 'app.env', { HOME: '/h' })).toEqual(['A=1', 'B=2 ', 'HOME=/h']);
  });

  it('names the file and line of a bad entry', () =>
    expect(fails(() => parseEnvFile('A=1\n=2\n', 'app.env', {}))).toEqual({
      kind: 'InvalidArgument',
      message: 'app.env, line 2: invalid environment variable: =2',
    }));
});

describe('parseSignal', () => {
  it.each([
    ['HUP', 'SIGHUP'],
    ['sigterm', 'SIGTERM'],
    ['SIGKILL', 'SIGKILL'],
    ['9', '9'],
    ['64', '64'],
  ])('%s is %s', (text, signal) => expect(parseSignal(text)).toBe(signal));

  it.each(['FOO', '0', '65', 'SIG', '-1'])('%s is refused', (text) =>
    expect(fails(() => parseSignal(text))).toEqual({ kind: 'InvalidArgument', message: `Invalid signal: ${text}` }),
  );
});

describe('parseCpus', () => {
  it.each([
    ['0.5', 0.5],
    ['2', 2],
    ['.25', 0.25],
  ])('%s is %d', (text, cpus) => expect(parseCpus(text)).toBe(cpus));

  it.each(['-1', 'abc', '1e3', ''])('%j is refused', (text) =>
    expect(fails(() => parseCpus(text))).toEqual({
      kind: 'InvalidArgument',
      message: `invalid cpus ${JSON.stringify(text)}: it must be a number greater than 0, like 0.5`,
    }),
  );
});

describe('parsePidsLimit', () => {
  it.each([
    ['100', 100],
    ['0', -1],
    ['-1', -1],
  ])('%s is %d', (text, limit) => expect(parsePidsLimit(text)).toBe(limit));

  it.each(['-2', 'x', '1.5'])('%s is refused', (text) =>
    expect(fails(() => parsePidsLimit(text))).toEqual({
      kind: 'InvalidArgument',
      message: `invalid pids limit ${JSON.stringify(text)}: it must be a whole number, or -1 for no limit`,
    }),
  );
});

describe('parseTail', () => {
  it.each([
    ['all', -1],
    ['0', 0],
    ['10', 10],
    ['-5', -1],
  ])('%s is %d', (text, tail) => expect(parseTail(text)).toBe(tail));

  it('refuses words', () =>
    expect(fails(() => parseTail('some'))).toEqual({
      kind: 'InvalidArgument',
      message: 'invalid --tail value "some": expected a number of lines or "all"',
    }));
});

describe('checkPsFilter', () => {
  it.each(['status=running', 'name=web', 'label=a=b', 'exited=0', 'ancestor=busybox', 'id=abc'])('%s is accepted', (f) =>
    expect(checkPsFilter(f)).toBe(f),
  );

  it.each([
    ['status', 'bad format of filter (expected name=value): status'],
    ['colour=red', "invalid filter 'colour': expected one of id, name, label, status, ancestor, exited"],
    ['status=up', "invalid filter 'status=up': expected one of created, restarting, running, paused, exited, dead, removing"],
    ['exited=x', "invalid filter 'exited=x': expected an exit code"],
  ])('%s is refused: %s', (f, message) => expect(fails(() => checkPsFilter(f))).toEqual({ kind: 'InvalidArgument', message }));
});

describe('parseLabels', () => {
  it('makes a map, a bare key an empty value', () => expect(parseLabels(['a=1', 'b', 'c=x=y'])).toEqual({ a: '1', b: '', c: 'x=y' }));
  it('refuses an empty key', () =>
    expect(fails(() => parseLabels(['=1']))).toEqual({ kind: 'InvalidArgument', message: 'invalid label "=1": the key is empty' }));
});

describe('commandFailureExitCode', () => {
  it.each([
    [internal('exec: "nope": executable file not found in $PATH'), 127],
    [invalidArgument('open /bin/x: no such file or directory'), 127],
    [internal('exec /etc: permission denied'), 126],
    [internal('exec /etc: is a directory'), 126],
    [internal('something else'), 125],
    [unavailable('no such file or directory: /run/strata/node-agent.sock'), 125],
    [notATerminal(), 1],
  ])('%s → %d', (err, code) => expect(commandFailureExitCode(err)).toBe(code));

  it('takes the fallback for other errors', () => expect(commandFailureExitCode(internal('x'), 1)).toBe(1));
});

describe('containerFlags', () => {
  const parse = (argv: string[]) => parseArgs(argv, containerFlags, { interspersed: false });

  it('reads Docker-style run flags up to the image', () => {
    const { flags: f, args } = parse([
      ...['-it', '--rm', '--name', 'web', '-e', 'A=1', '-eB=2', '-p', '8080:80', '-p', '53/udp'],
      ...['--cpus', '0.5', '--pids-limit', '-1', '-m', '64m', '-h', 'box', '--entrypoint', '', 'busybox', 'sh', '-c', 'x'],
    ]);
    expect(f).toMatchObject({
      interactive: true,
      tty: true,
      rm: true,
      name: 'web',
      env: ['A=1', 'B=2'],
      publish: ['8080:80', '53/udp'],
      cpus: 0.5,
      pidsLimit: -1,
      memory: '64m',
      hostname: 'box',
      entrypoint: '',
      network: 'bridge',
    });
    expect(args).toEqual(['busybox', 'sh', '-c', 'x']);
  });

  it('reads the placement flags: --node, repeated --constraint (= and !=), --strategy', () => {
    const { flags: f } = parse(['--node', 'host-1', '--constraint', 'zone=a', '--constraint', 'node.labels.disk != hdd', '--strategy', 'spread', 'busybox']);
    expect([f.node, f.constraint, f.strategy]).toEqual([
      'host-1',
      [
        { key: 'zone', value: 'a', op: '==' },
        { key: 'node.labels.disk', value: 'hdd', op: '!=' },
      ],
      'spread',
    ]);
    expect(parse(['busybox'])).toMatchObject({ flags: { node: undefined, constraint: [], strategy: undefined } });
  });

  it.each([
    [['--cpus', '-1'], 'invalid argument "-1" for --cpus: invalid cpus "-1": it must be a number greater than 0, like 0.5'],
    [['--name', 'a b'], 'invalid argument "a b" for --name: Invalid container name (a b), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed'],
    [['--stop-signal', 'NOPE'], 'invalid argument "NOPE" for --stop-signal: Invalid signal: NOPE'],
    [['--network', 'overlay'], 'flag --network must be one of bridge, none, host, got "overlay"'],
    [['--constraint', 'zone'], 'invalid argument "zone" for --constraint: invalid constraint "zone": expected key=value or key!=value'],
    [['--constraint', 'node.zone=a'], 'invalid argument "node.zone=a" for --constraint: invalid constraint key "node.zone": the node attributes are node.name and node.labels.<label>'],
    [['--strategy', 'random'], 'invalid argument "random" for --strategy: unknown placement strategy: use memory, spread, binpack'],
    [['-e', '=x'], 'invalid argument "=x" for -e: invalid environment variable: =x'],
    [['--env', 'A B=1'], "invalid argument \"A B=1\" for --env: variable 'A B' contains whitespaces"],
  ])('%j is a usage error: %s', (argv, message) => {
    let caught: unknown;
    try {
      parse([...argv, 'busybox']);
    } catch (err) {
      caught = err;
    }
    expect(isUsageError(caught)).toBe(true);
    expect((caught as Error).message).toBe(message);
  });
});
