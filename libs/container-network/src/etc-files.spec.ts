import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { errorKind } from '@strata/kit';
import { tempDir } from '@strata/kit/testing';
import { containerHosts, containerResolvConf, validateHostname, withDnsSettings, writeEtcFiles } from './etc-files.js';

describe('etc files', () => {
  const dirs: { remove: () => void }[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) d.remove();
  });

  it('drops loopback nameservers and keeps the rest of resolv.conf', () => {
    const host = '# generated\nsearch example.org\nnameserver 127.0.0.53\nnameserver 10.1.2.3\nnameserver ::1\noptions edns0\n';
    expect(containerResolvConf(host, ['9.9.9.9'])).toBe('# generated\nsearch example.org\nnameserver 10.1.2.3\noptions edns0\n');
  });

  it('falls back to the default nameservers when only loopback ones are left', () => {
    expect(containerResolvConf('nameserver 127.0.0.53\nsearch lan\n', ['9.9.9.9', '1.1.1.1'])).toBe(
      'search lan\nnameserver 9.9.9.9\nnameserver 1.1.1.1\n',
    );
    expect(containerResolvConf('')).toBe('nameserver 8.8.8.8\nnameserver 8.8.4.4\n');
  });

  it('maps the hostname to the container address in hosts', () => {
    expect(containerHosts('web', '10.88.0.2')).toContain('\n10.88.0.2\tweb\n');
    expect(containerHosts('web', undefined)).toContain('\n127.0.1.1\tweb\n');
  });

  it('writes the three files, keeping loopback nameservers only for the host network', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const hostResolv = join(dir.path, 'host-resolv.conf');
    await writeFile(hostResolv, 'nameserver 127.0.0.53\n');
    const files = await writeEtcFiles({
      dir: dir.path,
      hostname: 'box',
      address: '10.88.0.9',
      hostResolvConf: hostResolv,
      keepLoopbackNameservers: false,
      fallbackNameservers: ['9.9.9.9'],
    });
    expect(await readFile(files.hostname, 'utf8')).toBe('box\n');
    expect(await readFile(files.hosts, 'utf8')).toContain('10.88.0.9\tbox');
    expect(await readFile(files.resolvConf, 'utf8')).toBe('nameserver 9.9.9.9\n');
    await writeEtcFiles({
      dir: dir.path,
      hostname: 'box',
      hostResolvConf: hostResolv,
      keepLoopbackNameservers: true,
      fallbackNameservers: ['9.9.9.9'],
    });
    expect(await readFile(files.resolvConf, 'utf8')).toBe('nameserver 127.0.0.53\n');
  });

  it.each([
    ['-box', 'invalid hostname "-box": use letters, digits, \'-\' and \'.\' (labels of at most 63 characters)'],
    ['a_b', 'invalid hostname "a_b": use letters, digits, \'-\' and \'.\' (labels of at most 63 characters)'],
    ['a'.repeat(64), `invalid hostname "${'a'.repeat(64)}": use letters, digits, '-' and '.' (labels of at most 63 characters)`],
  ])('refuses hostname %j', (name, message) => {
    let err: unknown;
    try {
      validateHostname(name);
    } catch (e) {
      err = e;
    }
    expect(errorKind(err)).toBe('InvalidArgument');
    expect((err as Error).message).toBe(message);
  });
});

describe('--add-host and --dns settings', () => {
  it('adds the extra hosts before the container\'s own line', () => {
    const hosts = containerHosts('box', '10.88.0.2', [{ name: 'db', ip: '10.1.2.3' }]).split('\n');
    expect(hosts.slice(-3)).toEqual(['10.1.2.3\tdb', '10.88.0.2\tbox', '']);
  });

  it("replaces only the resolv.conf lines of the kinds given, keeping the host's others", () => {
    const host = 'nameserver 10.0.0.1\nsearch lan\noptions edns0\nsortlist 10.0.0.0/8\n';
    expect(withDnsSettings(host, { servers: ['9.9.9.9', '1.1.1.1'], search: [], options: [] })).toBe(
      'search lan\noptions edns0\nsortlist 10.0.0.0/8\nnameserver 9.9.9.9\nnameserver 1.1.1.1\n',
    );
    expect(withDnsSettings(host, { servers: [], search: ['corp.example', 'example'], options: ['ndots:2'] })).toBe(
      'nameserver 10.0.0.1\nsortlist 10.0.0.0/8\nsearch corp.example example\noptions ndots:2\n',
    );
    // `--dns-search .` clears the search domains.
    expect(withDnsSettings('domain lan\nnameserver 10.0.0.1\n', { servers: [], search: ['.'], options: [] })).toBe('nameserver 10.0.0.1\n');
  });
});
