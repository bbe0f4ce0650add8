import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { bool, describeConfig, int, labels, loadConfig, oneOf, optionalStr, str } from './config.js';
import { isInvalidArgument } from './errors.js';

const spec = {
  stateDir: str('where state lives', { default: '/var/lib/strata', env: 'STRATA_STATE_DIR' }),
  port: int('TCP port', { default: 5050, min: 1, max: 65535, env: 'STRATA_PORT' }),
  backend: oneOf('blob backend', ['fs', 's3'] as const, { default: 'fs' }),
  verbose: bool('more logs', { default: false }),
  token: optionalStr('a secret'),
};

const dir = mkdtempSync(join(tmpdir(), 'strata-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('loadConfig', () => {
  it('fills defaults', () => {
    expect(loadConfig(spec)).toEqual({ stateDir: '/var/lib/strata', port: 5050, backend: 'fs', verbose: false, token: undefined });
  });

  it('takes file < env < flags', () => {
    const file = join(dir, 'c.json');
    writeFileSync(file, JSON.stringify({ port: 1, stateDir: '/file', backend: 's3' }));
    const cfg = loadConfig(spec, {
      file,
      env: { STRATA_PORT: '2', STRATA_STATE_DIR: '/env' },
      argv: ['--state-dir', '/flag', '--verbose', '--token=abc'],
    });
    expect(cfg).toEqual({ stateDir: '/flag', port: 2, backend: 's3', verbose: true, token: 'abc' });
  });

  it.each([
    [['--port', 'x'], 'config port: expected a whole number, got "x"'],
    [['--port', '70000'], 'config port: 70000 is out of range 1..65535'],
    [['--backend', 'nfs'], 'config backend: expected one of fs, s3, got "nfs"'],
    [['--verbose=maybe'], 'config verbose: expected true or false, got "maybe"'],
    [['--nope', '1'], 'unknown flag --nope; known: --state-dir, --port, --backend, --verbose, --token, --config'],
    [['stray'], 'unexpected argument "stray"; settings are --name value'],
  ])('refuses %j', (argv, message) => {
    let caught: unknown;
    try {
      loadConfig(spec, { argv });
    } catch (err) {
      caught = err;
    }
    expect(isInvalidArgument(caught)).toBe(true);
    expect((caught as Error).message).toBe(message);
  });

  it('names a required setting that is missing', () => {
    expect(() => loadConfig({ bucket: str('S3 bucket') })).toThrow('config bucket is required (S3 bucket)');
  });

  it('refuses unknown keys and bad JSON in a file', () => {
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{"portt": 1}');
    expect(() => loadConfig(spec, { file: bad })).toThrow(`config file ${bad}: unknown setting "portt"`);
    writeFileSync(bad, '[1]');
    expect(() => loadConfig(spec, { argv: ['--config', bad] })).toThrow(/is not a JSON object/);
  });

  it('describes every setting', () => {
    const text = describeConfig(spec);
    expect(text).toContain('--state-dir (env STRATA_STATE_DIR) [default: /var/lib/strata]');
    expect(text).toContain('--verbose [default: false]');
  });
});

describe('labels', () => {
  const labelSpec = { label: labels('node labels', { env: 'STRATA_LABELS' }) };

  it('reads a repeated flag, a comma-separated variable, or an object in a file', () => {
    expect(loadConfig(labelSpec)).toEqual({ label: {} });
    expect(loadConfig(labelSpec, { argv: ['--label', 'zone=a', '--label=ssd=', '--label', 'tier=x=y'] })).toEqual({
      label: { zone: 'a', ssd: '', tier: 'x=y' },
    });
    expect(loadConfig(labelSpec, { env: { STRATA_LABELS: 'zone=b, rack=r1' } })).toEqual({ label: { zone: 'b', rack: 'r1' } });
    const file = join(dir, 'labels.json');
    writeFileSync(file, JSON.stringify({ label: { 'topology.io/zone': 'c' } }));
    expect(loadConfig(labelSpec, { file })).toEqual({ label: { 'topology.io/zone': 'c' } });
    expect(describeConfig(labelSpec)).toContain('--label (repeatable) (env STRATA_LABELS)\n');
  });

  it.each([
    [['--label', 'zone'], 'config label: expected key=value, got "zone"'],
    [['--label', '=a'], 'config label: label key "" must be 1-64 letters, digits, ".", "_", "/" or "-", starting and ending with a letter or digit'],
    [['--label', 'a b=c'], 'config label: label key "a b" must be 1-64 letters, digits, ".", "_", "/" or "-", starting and ending with a letter or digit'],
  ])('refuses %j', (argv, message) => {
    let caught: unknown;
    try {
      loadConfig(labelSpec, { argv });
    } catch (err) {
      caught = err;
    }
    expect(isInvalidArgument(caught)).toBe(true);
    expect((caught as Error).message).toBe(message);
  });
});
