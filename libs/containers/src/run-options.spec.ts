import { errorKind } from '@strata/kit';
import { describe, expect, it } from 'vitest';
import { checkDnsOption, checkDnsSearch, checkDnsServer, checkExtraHost, parseSecurityOptions, parseUlimit } from './run-options.js';

const refusal = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    return { kind: errorKind(err), message: (err as Error).message };
  }
  return undefined;
};

describe('checkExtraHost', () => {
  it('reads NAME:IP and NAME=IP, v6 (bracketed or not) and host-gateway', () => {
    expect(checkExtraHost('db:10.0.0.5')).toBe('db:10.0.0.5');
    expect(checkExtraHost('db.local=10.0.0.5')).toBe('db.local:10.0.0.5');
    expect(checkExtraHost('v6:2001:db8::33')).toBe('v6:2001:db8::33');
    expect(checkExtraHost('v6:[2001:db8::33]')).toBe('v6:2001:db8::33');
    expect(checkExtraHost('gw:host-gateway')).toBe('gw:host-gateway');
  });

  it.each([
    ['db', 'invalid argument "db" for --add-host: expected HOST:IP'],
    ['db:', 'invalid argument "db:" for --add-host: expected HOST:IP'],
    ['db:10.0.0.999', 'invalid argument "db:10.0.0.999" for --add-host: invalid IP address "10.0.0.999"'],
    ['bad host:1.2.3.4', 'invalid argument "bad host:1.2.3.4" for --add-host: invalid host name "bad host"'],
    ['x\n1.2.3.4 evil:1.2.3.4', 'invalid argument "x\n1.2.3.4 evil:1.2.3.4" for --add-host: invalid host name "x\n1.2.3.4 evil"'],
  ])('refuses %j', (entry, message) => {
    expect(refusal(() => checkExtraHost(entry))).toEqual({ kind: 'InvalidArgument', message });
  });
});

describe('DNS settings', () => {
  it('takes IP servers, domain names and option words', () => {
    expect(checkDnsServer('1.1.1.1')).toBe('1.1.1.1');
    expect(checkDnsSearch('corp.example')).toBe('corp.example');
    expect(checkDnsSearch('.')).toBe('.');
    expect(checkDnsOption('ndots:2')).toBe('ndots:2');
  });

  it('refuses anything that could add a line of its own', () => {
    expect(refusal(() => checkDnsServer('dns.example'))?.message).toBe('invalid argument "dns.example" for --dns: not an IP address');
    expect(refusal(() => checkDnsSearch('a\nnameserver 6.6.6.6'))?.kind).toBe('InvalidArgument');
    expect(refusal(() => checkDnsOption('ndots:2\nnameserver 6.6.6.6'))?.kind).toBe('InvalidArgument');
  });
});

describe('parseUlimit', () => {
  it('reads NAME=SOFT[:HARD], -1 for unlimited', () => {
    expect(parseUlimit('nofile=1024:2048')).toEqual({ name: 'nofile', soft: 1024, hard: 2048 });
    expect(parseUlimit('core=0')).toEqual({ name: 'core', soft: 0, hard: 0 });
    expect(parseUlimit('memlock=-1:-1')).toEqual({ name: 'memlock', soft: -1, hard: -1 });
  });

  it.each([
    ['nofile', 'invalid ulimit "nofile": expected NAME=SOFT[:HARD], e.g. nofile=1024:2048'],
    ['files=1', 'invalid ulimit type "files": use one of as, core, cpu, data, fsize, locks, memlock, msgqueue, nice, nofile, nproc, rss, rtprio, rttime, sigpending, stack'],
    ['nofile=2048:1024', 'invalid ulimit nofile: soft limit 2048 is above hard limit 1024'],
    ['nofile=-1:1024', 'invalid ulimit nofile: soft limit -1 is above hard limit 1024'],
    ['nofile=-2', 'invalid ulimit nofile: -2 is not a whole number from -1 (unlimited)'],
  ])('refuses %j', (text, message) => {
    expect(refusal(() => parseUlimit(text))).toEqual({ kind: 'InvalidArgument', message });
  });
});

describe('parseSecurityOptions', () => {
  it("reads Docker's seccomp and no-new-privileges entries", () => {
    expect(parseSecurityOptions([])).toEqual({});
    expect(parseSecurityOptions(['seccomp=unconfined'])).toEqual({ seccomp: 'unconfined' });
    expect(parseSecurityOptions(['seccomp:unconfined', 'no-new-privileges'])).toEqual({ seccomp: 'unconfined' });
    expect(parseSecurityOptions(['seccomp=builtin', 'no-new-privileges=true', 'no-new-privileges:1'])).toEqual({});
    expect(parseSecurityOptions(['seccomp={"defaultAction":"SCMP_ACT_ALLOW"}'])).toEqual({ seccomp: { json: '{"defaultAction":"SCMP_ACT_ALLOW"}' } });
  });

  it.each([
    ['no-new-privileges=false', 'invalid --security-opt "no-new-privileges=false": every container runs with no-new-privileges'],
    ['seccomp=/etc/profile.json', 'invalid --security-opt "seccomp=/etc/profile.json": use seccomp=unconfined, seccomp=builtin or seccomp=PROFILE (a JSON profile; the CLI reads a file)'],
    ['apparmor=unconfined', 'invalid --security-opt "apparmor=unconfined": this node has no AppArmor'],
    ['label=disable', 'invalid --security-opt "label=disable": this node has no SELinux'],
    ['systempaths=unconfined', 'invalid --security-opt "systempaths=unconfined": use seccomp=… or no-new-privileges'],
  ])('refuses %s', (entry, message) => {
    expect(refusal(() => parseSecurityOptions([entry]))).toEqual({ kind: 'InvalidArgument', message });
  });

  it('refuses two seccomp entries', () => {
    expect(refusal(() => parseSecurityOptions(['seccomp=unconfined', 'seccomp=builtin']))?.message).toBe('--security-opt seccomp is given twice');
  });
});
