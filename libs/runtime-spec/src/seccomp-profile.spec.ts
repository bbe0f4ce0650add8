import { describe, expect, it } from 'vitest';
import { errorKind } from '@strata/kit';
import { capabilityMask, containerCapabilities, DEFAULT_CAPABILITIES, DEFAULT_NOFILE_LIMIT, grantableNofileLimit } from './hardened-defaults.js';
import { CAPABILITY_SYSCALLS, CLONE_NAMESPACE_FLAGS, defaultSeccompProfile, seccompArchitectures } from './seccomp-profile.js';

const REFUSED = [
  'keyctl', 'add_key', 'request_key', 'ptrace', 'mount', 'umount', 'umount2', 'pivot_root', 'kexec_load', 'kexec_file_load',
  'open_by_handle_at', 'name_to_handle_at', 'init_module', 'finit_module', 'delete_module', 'bpf', 'perf_event_open',
  'userfaultfd', 'unshare', 'setns', 'reboot', 'swapon', 'swapoff', 'syslog', 'acct', 'settimeofday', 'clock_settime',
  'clock_adjtime', 'adjtimex', 'io_uring_setup', 'io_uring_enter', 'process_vm_readv', 'process_vm_writev', 'fsopen',
  'move_mount', 'open_tree', 'quotactl', 'iopl', 'ioperm', 'kcmp', 'lookup_dcookie',
];

describe('defaultSeccompProfile', () => {
  const profile = defaultSeccompProfile({ arch: 'x64' });
  const allowedUnconditionally = new Set(profile.syscalls.filter((r) => r.action === 'SCMP_ACT_ALLOW' && r.args === undefined).flatMap((r) => r.names));

  it('refuses everything not listed with EPERM', () => {
    expect(profile.defaultAction).toBe('SCMP_ACT_ERRNO');
    expect(profile.defaultErrnoRet).toBe(1);
  });

  it.each(REFUSED)('does not allow %s', (name) => {
    expect(profile.syscalls.some((r) => r.names.includes(name) && r.action === 'SCMP_ACT_ALLOW')).toBe(false);
  });

  it.each(['read', 'write', 'openat', 'execve', 'mmap', 'futex', 'epoll_wait', 'socket', 'accept4', 'exit_group', 'rt_sigreturn', 'getrandom', 'wait4'])(
    'allows %s',
    (name) => {
      expect(allowedUnconditionally.has(name)).toBe(true);
    },
  );

  it('lists each syscall once in the allow-list', () => {
    const names = profile.syscalls.filter((r) => r.args === undefined).flatMap((r) => r.names);
    expect(names.length).toBe(new Set(names).size);
  });

  it('allows clone only without namespace flags, and clone3 answers ENOSYS', () => {
    expect(allowedUnconditionally.has('clone')).toBe(false);
    expect(profile.syscalls.find((r) => r.names.includes('clone'))).toEqual({
      names: ['clone'],
      action: 'SCMP_ACT_ALLOW',
      args: [{ index: 0, value: CLONE_NAMESPACE_FLAGS, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }],
    });
    // CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET
    expect(CLONE_NAMESPACE_FLAGS).toBe(0x20000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000);
    expect(profile.syscalls.find((r) => r.names.includes('clone3'))).toEqual({ names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 });
  });

  it('restricts personality to the Linux domains', () => {
    const rules = profile.syscalls.filter((r) => r.names.includes('personality'));
    expect(rules.every((r) => r.args?.length === 1 && r.args[0]!.op === 'SCMP_CMP_EQ')).toBe(true);
    expect(rules.map((r) => r.args![0]!.value)).toEqual([0, 8, 0x20000, 0x20008, 0xffffffff]);
  });

  it.each([
    ['x64', undefined, ['SCMP_ARCH_X86_64']],
    ['x64', 'amd64', ['SCMP_ARCH_X86_64']],
    ['x64', '386', ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86']],
    ['x64', 'arm', ['SCMP_ARCH_X86_64']],
    ['arm64', 'arm64', ['SCMP_ARCH_AARCH64']],
    ['arm64', 'arm', ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM']],
    ['riscv64', 'riscv64', []],
  ])("admits on a %s host, for an image of %s, only the image's ABI: %j", (arch, imageArchitecture, expected) => {
    expect(defaultSeccompProfile({ arch, ...(imageArchitecture ? { imageArchitecture } : {}) }).architectures).toEqual(expected);
    expect(seccompArchitectures(arch, imageArchitecture)).toEqual(expected);
  });

  it('returns a fresh copy each time', () => {
    const a = defaultSeccompProfile();
    a.syscalls[0]!.names.push('keyctl');
    expect(defaultSeccompProfile().syscalls[0]!.names).not.toContain('keyctl');
  });
});

describe('capabilities', () => {
  it("masks Docker's 14 default capabilities as /proc shows them", () => {
    expect(DEFAULT_CAPABILITIES).toHaveLength(14);
    expect(capabilityMask(DEFAULT_CAPABILITIES).toString(16)).toBe('a80425fb');
    expect(capabilityMask(['sys_admin', 'CAP_NET_ADMIN'])).toBe((1n << 21n) | (1n << 12n));
  });

  it('refuses an unknown capability', () => {
    let caught: unknown;
    try {
      capabilityMask(['CAP_NOPE']);
    } catch (err) {
      caught = err;
    }
    expect(errorKind(caught)).toBe('InvalidArgument');
    expect((caught as Error).message).toBe('unknown capability CAP_NOPE');
  });

  it("computes --cap-add and --cap-drop as Docker does", () => {
    expect(containerCapabilities()).toEqual([...DEFAULT_CAPABILITIES]);
    const added = containerCapabilities(['net_admin', 'CAP_SYS_PTRACE'], ['MKNOD']);
    expect(added).toEqual([...DEFAULT_CAPABILITIES.filter((c) => c !== 'CAP_MKNOD'), 'CAP_NET_ADMIN', 'CAP_SYS_PTRACE']);
    expect(containerCapabilities(['NET_BIND_SERVICE'], ['ALL'])).toEqual(['CAP_NET_BIND_SERVICE']);
    const all = containerCapabilities(['ALL'], ['SYS_ADMIN']);
    expect(all).toContain('CAP_SYS_MODULE');
    expect(all).not.toContain('CAP_SYS_ADMIN');
    // An add wins over a drop of the same capability.
    expect(containerCapabilities(['CHOWN'], ['CHOWN'])).toContain('CAP_CHOWN');
    expect(() => containerCapabilities([], ['CAP_NOPE'])).toThrow('unknown capability: "CAP_NOPE" (--cap-drop)');
  });

  it('opens the syscalls of the capabilities added, and namespaces with SYS_ADMIN', () => {
    const allowed = (caps: string[]) =>
      new Set(defaultSeccompProfile({ arch: 'x64', capabilities: caps }).syscalls.filter((r) => r.action === 'SCMP_ACT_ALLOW' && r.args === undefined).flatMap((r) => r.names));
    const ptrace = allowed(containerCapabilities(['SYS_PTRACE']));
    for (const name of CAPABILITY_SYSCALLS['CAP_SYS_PTRACE']!) expect(ptrace.has(name), name).toBe(true);
    expect(ptrace.has('mount')).toBe(false);
    const admin = defaultSeccompProfile({ arch: 'x64', capabilities: containerCapabilities(['SYS_ADMIN']) });
    expect(admin.syscalls.find((r) => r.names.includes('clone'))).toEqual({ names: ['clone', 'clone3'], action: 'SCMP_ACT_ALLOW' });
    expect(admin.syscalls.some((r) => r.names.includes('clone3') && r.action === 'SCMP_ACT_ERRNO')).toBe(false);
    // Each syscall in one rule only (libseccomp refuses a second).
    const names = admin.syscalls.filter((r) => r.args === undefined).flatMap((r) => r.names);
    expect(names.length).toBe(new Set(names).size);
  });

  it('finds an open-files limit this process can grant', async () => {
    const limit = await grantableNofileLimit();
    expect(limit).toBeGreaterThanOrEqual(1024);
    expect(limit).toBeLessThanOrEqual(DEFAULT_NOFILE_LIMIT);
  });
});
