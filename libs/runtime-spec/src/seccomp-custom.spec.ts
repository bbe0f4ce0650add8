import { describe, expect, it } from 'vitest';
import { errorKind } from '@strata/kit';
import { DEFAULT_CAPABILITIES } from './hardened-defaults.js';
import { MAX_SECCOMP_PROFILE_BYTES, parseSeccompProfile, resolveSeccompProfile } from './seccomp-custom.js';

/** A profile shaped as Docker's default one: archMap, rules by capability, architecture and kernel. */
const DOCKER_LIKE = {
  defaultAction: 'SCMP_ACT_ERRNO',
  defaultErrnoRet: 1,
  archMap: [
    { architecture: 'SCMP_ARCH_X86_64', subArchitectures: ['SCMP_ARCH_X86', 'SCMP_ARCH_X32'] },
    { architecture: 'SCMP_ARCH_AARCH64', subArchitectures: ['SCMP_ARCH_ARM'] },
  ],
  syscalls: [
    { names: ['read', 'write', 'exit_group'], action: 'SCMP_ACT_ALLOW' },
    { names: ['personality'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 8, valueTwo: 0, op: 'SCMP_CMP_EQ' }], comment: 'PER_LINUX32' },
    { names: ['ptrace'], action: 'SCMP_ACT_ALLOW', includes: { minKernel: '4.8' } },
    { names: ['arch_prctl'], action: 'SCMP_ACT_ALLOW', includes: { arches: ['amd64', 'x32'] } },
    { names: ['mount'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYS_ADMIN'] } },
    { names: ['clone'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 2114060288, op: 'SCMP_CMP_MASKED_EQ' }], excludes: { caps: ['CAP_SYS_ADMIN'] } },
    { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38, excludes: { caps: ['CAP_SYS_ADMIN'] } },
    { names: ['keyctl'], action: 'SCMP_ACT_ERRNO' },
  ],
};

const host = { capabilities: DEFAULT_CAPABILITIES, arch: 'x64', kernel: '6.1.0-18-amd64' };

function refusal(text: string): string {
  try {
    parseSeccompProfile(text);
  } catch (err) {
    expect(errorKind(err)).toBe('InvalidArgument');
    return (err as Error).message;
  }
  throw new Error('accepted');
}

describe('a profile in Docker format', () => {
  it("resolves Docker's archMap, includes and excludes for the container and the host", () => {
    const profile = resolveSeccompProfile(parseSeccompProfile(JSON.stringify(DOCKER_LIKE)), host);
    expect(profile.architectures).toEqual(['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
    expect(profile.defaultAction).toBe('SCMP_ACT_ERRNO');
    expect(profile.defaultErrnoRet).toBe(1);
    const names = profile.syscalls.flatMap((r) => r.names);
    // mount needs CAP_SYS_ADMIN; keyctl's ERRNO is the default action, which libseccomp would refuse as a rule.
    expect(names).toEqual(['read', 'write', 'exit_group', 'personality', 'ptrace', 'arch_prctl', 'clone', 'clone3']);
    expect(profile.syscalls.find((r) => r.names[0] === 'clone3')).toEqual({ names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 });
    expect(profile.syscalls.find((r) => r.names[0] === 'personality')).toEqual({ names: ['personality'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 8, valueTwo: 0, op: 'SCMP_CMP_EQ' }] });
    expect(JSON.stringify(profile)).not.toMatch(/includes|excludes|comment/);
  });

  it('follows the capabilities, the architecture and the kernel', () => {
    const doc = parseSeccompProfile(JSON.stringify(DOCKER_LIKE));
    const admin = resolveSeccompProfile(doc, { ...host, capabilities: [...DEFAULT_CAPABILITIES, 'CAP_SYS_ADMIN'] });
    expect(admin.syscalls.flatMap((r) => r.names)).toEqual(['read', 'write', 'exit_group', 'personality', 'ptrace', 'arch_prctl', 'mount']);
    const arm = resolveSeccompProfile(doc, { ...host, arch: 'arm64', kernel: '4.4.0' });
    expect(arm.architectures).toEqual(['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM']);
    expect(arm.syscalls.flatMap((r) => r.names)).toEqual(['read', 'write', 'exit_group', 'personality', 'clone', 'clone3']);
  });

  it('takes an OCI-shaped profile with architectures and the old single "name"', () => {
    const profile = resolveSeccompProfile(
      parseSeccompProfile(JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_X86_64'], flags: ['SECCOMP_FILTER_FLAG_LOG'], syscalls: [{ name: 'chmod', action: 'SCMP_ACT_ERRNO' }] })),
      host,
    );
    expect(profile).toEqual({ defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_X86_64'], flags: ['SECCOMP_FILTER_FLAG_LOG'], syscalls: [{ names: ['chmod'], action: 'SCMP_ACT_ERRNO' }] });
    // Without architectures or archMap: the host's native one only.
    expect(resolveSeccompProfile(parseSeccompProfile('{"defaultAction":"SCMP_ACT_ALLOW"}'), host)).toEqual({ defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_X86_64'], syscalls: [] });
  });

  it.each([
    ['not json', /decoding seccomp profile failed: .*JSON/],
    ['[]', /the profile must be a JSON object/],
    ['{"syscalls":[]}', /defaultAction: unknown action undefined/],
    ['{"defaultAction":"SCMP_ACT_ALOW"}', /defaultAction: unknown action "SCMP_ACT_ALOW"/],
    ['{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["x"],"action":"SCMP_ACT_NOTIFY"}]}', /syscalls\[0\]\.action: SCMP_ACT_NOTIFY needs a seccomp agent/],
    ['{"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"/run/agent.sock"}', /listenerPath needs a seccomp agent/],
    ['{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64"],"archMap":[]}', /either 'architectures' or 'archMap'/],
    ['{"defaultAction":"SCMP_ACT_ALLOW","architectures":["x86_64"]}', /architectures: unknown value "x86_64"/],
    ['{"defaultAction":"SCMP_ACT_ALLOW","flags":["SECCOMP_FILTER_FLAG_NEW_LISTENER"]}', /flags: unknown value/],
    ['{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"action":"SCMP_ACT_ERRNO"}]}', /syscalls\[0\] names no syscall/],
    ['{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["Open"],"action":"SCMP_ACT_ERRNO"}]}', /syscalls\[0\]\.names: invalid name "Open"/],
    ['{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["open"],"action":"SCMP_ACT_ERRNO","args":[{"index":6,"value":1,"op":"SCMP_CMP_EQ"}]}]}', /args\[0\]\.index must be a whole number from 0 to 5/],
    ['{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["open"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":18446744073709551615,"op":"SCMP_CMP_EQ"}]}]}', /args\[0\]\.value must be a whole number/],
    ['{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["open"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":1,"op":"EQ"}]}]}', /unknown comparison "EQ"/],
    ['{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["open"],"action":"SCMP_ACT_ERRNO","includes":{"minKernel":"new"}}]}', /includes\.minKernel must be a kernel version/],
    ['{"defaultAction":"SCMP_ACT_ALLOW","defaultErrno":1}', /unknown field "defaultErrno"/],
  ])('refuses %s', (text, message) => {
    expect(refusal(text)).toMatch(message);
  });

  it('refuses a profile over the size limit', () => {
    const names = Array.from({ length: 4000 }, (_, i) => `syscall_number_${i}_with_a_long_name_to_fill_space_${'x'.repeat(200)}`.slice(0, 64));
    const big = JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: Array.from({ length: 5 }, () => ({ names, action: 'SCMP_ACT_ERRNO' })) });
    expect(Buffer.byteLength(big)).toBeGreaterThan(MAX_SECCOMP_PROFILE_BYTES);
    expect(refusal(big)).toMatch(/larger than 1024 KiB/);
  });
});
