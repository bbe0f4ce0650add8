/**
 * Strata's default seccomp profile, as data.
 *
 * Policy: every syscall not listed fails with EPERM (the default action),
 * so a syscall the kernel adds later is refused until someone reviews it.
 * The allow-list below is what ordinary programs (glibc, musl and Go
 * binaries, shells, JVMs, Node.js, web servers, databases) call; it is
 * grouped by purpose so a reviewer can see why each entry is here.
 *
 * Refused on purpose (they are simply absent from the allow-list, unless
 * the container is given the capability they are for: see
 * CAPABILITY_SYSCALLS):
 * - kernel keyring: keyctl, add_key, request_key (keys are not namespaced);
 * - mounting and root switching: mount, umount, umount2, pivot_root,
 *   move_mount, open_tree, fsopen, fsconfig, fsmount, fspick, mount_setattr;
 * - namespaces: unshare, setns, and clone with any CLONE_NEW* flag (an
 *   argument filter below); clone3 answers ENOSYS because its flags sit in
 *   memory a filter cannot read, and libc then falls back to clone;
 * - kernel code and state: kexec_load, kexec_file_load, init_module,
 *   finit_module, delete_module, bpf, perf_event_open, userfaultfd,
 *   io_uring_setup/enter/register (a long record of kernel bugs), reboot,
 *   swapon, swapoff, syslog, acct, quotactl, lookup_dcookie, nfsservctl;
 * - file handles: open_by_handle_at (the "shocker" escape) and
 *   name_to_handle_at;
 * - time: settimeofday, clock_settime, clock_adjtime, adjtimex, stime;
 * - tracing other processes: ptrace, process_vm_readv/writev, kcmp,
 *   pidfd_getfd. ptrace is safe from seccomp bypass on kernels ≥ 4.8, but
 *   strace and debuggers are not what a production container runs; a
 *   container that needs them gets a profile of its own;
 * - NUMA and I/O privilege: mbind, set_mempolicy, migrate_pages,
 *   move_pages, iopl, ioperm, vm86, modify_ldt;
 * - personality other than the plain Linux domains (an argument filter);
 * - the 32-bit ABIs of a 64-bit host (x86 and x32 on x86_64, arm on
 *   aarch64) for an image that is not built for them: only the image's own
 *   ABI is listed among the architectures (as systemd's
 *   SystemCallArchitectures=native), so libseccomp kills a process making
 *   a syscall of another one (tried: exit 159, SIGSYS) instead of running
 *   it. The compat entry points are a kernel surface of their own (the
 *   netfilter escape CVE-2021-22555 went through 32-bit setsockopt), and
 *   each architecture listed makes runc compile the filter again for every
 *   container start and exec: with x86 listed, `runc run` of busybox took
 *   43.6 ms against 39.0 (34.9 without a filter), libseccomp's CPU 5.1 ms
 *   against 1.6. A linux/386 image (or linux/arm on aarch64) gets its ABI
 *   besides the native one; a 64-bit image that runs 32-bit programs gets a
 *   profile of its own (`--security-opt seccomp=FILE`, Docker's format,
 *   whose default lists them all). x32 is never listed: Debian's kernels
 *   turn it off.
 */
import type { SeccompProfile, SeccompRule } from './runtime-spec.js';

/** The errno the profile answers for a refused syscall (EPERM). */
export const SECCOMP_ERRNO = 1;
/** ENOSYS: what clone3 answers, so callers fall back to clone. */
const ENOSYS = 38;

/** Every CLONE_NEW* flag that clone may not carry: NS, CGROUP, UTS, IPC, USER, PID, NET. */
export const CLONE_NAMESPACE_FLAGS = 0x7e020000;

/** Reading and writing through file descriptors. */
const FILE_IO = [
  'read', 'write', 'readv', 'writev', 'pread64', 'pwrite64', 'preadv', 'pwritev', 'preadv2', 'pwritev2',
  'lseek', '_llseek', 'open', 'openat', 'openat2', 'creat', 'close', 'close_range', 'dup', 'dup2', 'dup3',
  'fcntl', 'fcntl64', 'ioctl', 'flock', 'fsync', 'fdatasync', 'sync', 'syncfs', 'sync_file_range',
  'sync_file_range2', 'arm_sync_file_range', 'truncate', 'truncate64', 'ftruncate', 'ftruncate64', 'fallocate',
  'fadvise64', 'fadvise64_64', 'arm_fadvise64_64', 'readahead', 'sendfile', 'sendfile64', 'copy_file_range',
  'splice', 'tee', 'vmsplice', 'pipe', 'pipe2', 'cachestat',
];

/** Names, metadata and directories. */
const FILE_SYSTEM = [
  'stat', 'stat64', 'lstat', 'lstat64', 'fstat', 'fstat64', 'newfstatat', 'fstatat64', 'statx', 'statfs',
  'statfs64', 'fstatfs', 'fstatfs64', 'access', 'faccessat', 'faccessat2', 'readlink', 'readlinkat', 'getdents',
  'getdents64', 'getcwd', 'chdir', 'fchdir', 'chroot', 'chmod', 'fchmod', 'fchmodat', 'fchmodat2', 'chown',
  'chown32', 'fchown', 'fchown32', 'fchownat', 'lchown', 'lchown32', 'utime', 'utimes', 'futimesat', 'utimensat',
  'utimensat_time64', 'mkdir', 'mkdirat', 'rmdir', 'mknod', 'mknodat', 'link', 'linkat', 'unlink', 'unlinkat',
  'symlink', 'symlinkat', 'rename', 'renameat', 'renameat2', 'umask', 'getxattr', 'lgetxattr', 'fgetxattr',
  'setxattr', 'lsetxattr', 'fsetxattr', 'listxattr', 'llistxattr', 'flistxattr', 'removexattr', 'lremovexattr',
  'fremovexattr', 'inotify_init', 'inotify_init1', 'inotify_add_watch', 'inotify_rm_watch',
];

/** Address space management. */
const MEMORY = [
  'brk', 'mmap', 'mmap2', 'munmap', 'mremap', 'mprotect', 'madvise', 'mlock', 'mlock2', 'munlock', 'mlockall',
  'munlockall', 'mincore', 'msync', 'membarrier', 'memfd_create', 'pkey_alloc', 'pkey_free', 'pkey_mprotect',
  'get_mempolicy', 'mseal', 'map_shadow_stack', 'remap_file_pages',
];

/** Processes, threads, credentials and scheduling. */
const PROCESSES = [
  'fork', 'vfork', 'execve', 'execveat', 'exit', 'exit_group', 'wait4', 'waitid', 'waitpid', 'kill', 'tkill',
  'tgkill', 'rt_sigqueueinfo', 'rt_tgsigqueueinfo', 'pidfd_open', 'pidfd_send_signal', 'getpid', 'getppid',
  'gettid', 'getpgid', 'setpgid', 'getpgrp', 'getsid', 'setsid', 'getuid', 'getuid32', 'geteuid', 'geteuid32',
  'getgid', 'getgid32', 'getegid', 'getegid32', 'setuid', 'setuid32', 'setgid', 'setgid32', 'setreuid',
  'setreuid32', 'setregid', 'setregid32', 'setresuid', 'setresuid32', 'setresgid', 'setresgid32', 'getresuid',
  'getresuid32', 'getresgid', 'getresgid32', 'setfsuid', 'setfsuid32', 'setfsgid', 'setfsgid32', 'getgroups',
  'getgroups32', 'setgroups', 'setgroups32', 'capget', 'capset', 'prctl', 'arch_prctl', 'set_tid_address',
  'set_robust_list', 'get_robust_list', 'rseq', 'futex', 'futex_time64', 'futex_waitv', 'futex_wake',
  'futex_wait', 'futex_requeue', 'set_thread_area', 'get_thread_area', 'set_tls', 'get_tls', 'sched_yield',
  'sched_getaffinity', 'sched_setaffinity', 'sched_getparam', 'sched_setparam', 'sched_getscheduler',
  'sched_setscheduler', 'sched_get_priority_max', 'sched_get_priority_min', 'sched_rr_get_interval',
  'sched_rr_get_interval_time64', 'sched_getattr', 'sched_setattr', 'getpriority', 'setpriority', 'ioprio_get',
  'ioprio_set', 'getrlimit', 'setrlimit', 'ugetrlimit', 'prlimit64', 'getrusage', 'times', 'uname', 'olduname',
  'sysinfo', 'getrandom', 'getcpu', 'restart_syscall', 'seccomp', 'landlock_create_ruleset',
  'landlock_add_rule', 'landlock_restrict_self', 'breakpoint', 'cacheflush',
];

/** Signals, clocks, timers and event waiting. */
const SIGNALS_AND_TIME = [
  'rt_sigaction', 'rt_sigprocmask', 'rt_sigreturn', 'rt_sigpending', 'rt_sigsuspend', 'rt_sigtimedwait',
  'rt_sigtimedwait_time64', 'sigaction', 'sigprocmask', 'sigreturn', 'sigpending', 'sigsuspend', 'sigaltstack',
  'signalfd', 'signalfd4', 'alarm', 'pause', 'nanosleep', 'clock_nanosleep', 'clock_nanosleep_time64',
  'clock_gettime', 'clock_gettime64', 'clock_getres', 'clock_getres_time64', 'gettimeofday', 'time',
  'getitimer', 'setitimer', 'timer_create', 'timer_delete', 'timer_settime', 'timer_settime64', 'timer_gettime',
  'timer_gettime64', 'timer_getoverrun', 'timerfd_create', 'timerfd_settime', 'timerfd_settime64',
  'timerfd_gettime', 'timerfd_gettime64', 'eventfd', 'eventfd2', 'poll', 'ppoll', 'ppoll_time64', 'select',
  '_newselect', 'pselect6', 'pselect6_time64', 'epoll_create', 'epoll_create1', 'epoll_ctl', 'epoll_ctl_old',
  'epoll_wait', 'epoll_wait_old', 'epoll_pwait', 'epoll_pwait2', 'io_setup', 'io_destroy', 'io_getevents',
  'io_pgetevents', 'io_pgetevents_time64', 'io_submit', 'io_cancel',
];

/** Sockets (socketcall is the 32-bit x86 multiplexer for them). */
const NETWORK = [
  'socket', 'socketpair', 'bind', 'listen', 'accept', 'accept4', 'connect', 'getsockname', 'getpeername',
  'getsockopt', 'setsockopt', 'sendto', 'recvfrom', 'send', 'recv', 'sendmsg', 'recvmsg', 'sendmmsg', 'recvmmsg',
  'recvmmsg_time64', 'shutdown', 'socketcall',
];

/** System V and POSIX IPC (the container has its own IPC namespace; ipc is the 32-bit x86 multiplexer). */
const IPC = [
  'shmget', 'shmat', 'shmdt', 'shmctl', 'semget', 'semop', 'semtimedop', 'semtimedop_time64', 'semctl', 'msgget',
  'msgsnd', 'msgrcv', 'msgctl', 'ipc', 'mq_open', 'mq_unlink', 'mq_timedsend', 'mq_timedsend_time64',
  'mq_timedreceive', 'mq_timedreceive_time64', 'mq_notify', 'mq_getsetattr',
];

/** Plain Linux execution domains personality may select: PER_LINUX, PER_LINUX32, UNAME26 variants, and the query value. */
const PERSONALITIES = [0x0, 0x8, 0x20000, 0x20008, 0xffffffff];

/** The host's native syscall architecture, by Node.js `process.arch`. */
const NATIVE_ARCHITECTURE: Readonly<Record<string, string>> = { x64: 'SCMP_ARCH_X86_64', arm64: 'SCMP_ARCH_AARCH64' };

/** The 32-bit ABI a 64-bit host also runs, and the image architecture (OCI's names) that asks for it. */
const COMPAT_ARCHITECTURE: Readonly<Record<string, { image: string; seccomp: string }>> = {
  x64: { image: '386', seccomp: 'SCMP_ARCH_X86' },
  arm64: { image: 'arm', seccomp: 'SCMP_ARCH_ARM' },
};

/**
 * The syscall architectures a container's filter lists on a host of
 * hostArch (Node.js names): the native one, and the host's 32-bit ABI when
 * the image is built for it (imageArchitecture `386` on x86_64, `arm` on
 * aarch64). Empty on another host, which libseccomp reads as the native
 * architecture only.
 */
export function seccompArchitectures(hostArch: string, imageArchitecture?: string): string[] {
  const native = NATIVE_ARCHITECTURE[hostArch];
  if (native === undefined) return [];
  const compat = COMPAT_ARCHITECTURE[hostArch];
  return compat !== undefined && imageArchitecture === compat.image ? [native, compat.seccomp] : [native];
}

/**
 * Syscalls allowed only to a container that has the capability
 * (`--cap-add`), which the kernel checks for them anyway: a capability
 * given without its syscalls would be no use (Docker's profile opens the
 * same doors by capability). CAP_SYS_ADMIN also lets clone and clone3
 * create namespaces.
 */
export const CAPABILITY_SYSCALLS: Readonly<Record<string, readonly string[]>> = {
  CAP_SYS_ADMIN: [
    'mount', 'umount', 'umount2', 'pivot_root', 'move_mount', 'open_tree', 'fsopen', 'fsconfig', 'fsmount', 'fspick',
    'mount_setattr', 'unshare', 'setns', 'sethostname', 'setdomainname', 'quotactl', 'quotactl_fd', 'fanotify_init',
    'lookup_dcookie', 'name_to_handle_at', 'bpf', 'perf_event_open', 'syslog',
  ],
  CAP_SYS_PTRACE: ['ptrace', 'process_vm_readv', 'process_vm_writev', 'kcmp', 'pidfd_getfd'],
  CAP_SYS_BOOT: ['reboot'],
  CAP_SYS_MODULE: ['init_module', 'finit_module', 'delete_module'],
  CAP_SYS_PACCT: ['acct'],
  CAP_SYS_RAWIO: ['iopl', 'ioperm'],
  CAP_SYS_TIME: ['settimeofday', 'stime', 'clock_settime', 'clock_settime64', 'clock_adjtime', 'clock_adjtime64', 'adjtimex'],
  CAP_SYS_NICE: ['mbind', 'set_mempolicy', 'set_mempolicy_home_node', 'migrate_pages', 'move_pages'],
  CAP_SYSLOG: ['syslog'],
  CAP_BPF: ['bpf'],
  CAP_PERFMON: ['perf_event_open'],
  CAP_DAC_READ_SEARCH: ['open_by_handle_at', 'name_to_handle_at'],
};

/** Settings of {@link defaultSeccompProfile}. */
export interface SeccompProfileOptions {
  /** The host architecture as Node.js names it (`x64`, `arm64`); the running one by default. */
  arch?: string;
  /** The image's architecture (its config's, OCI names: `amd64`, `386`, `arm64`, `arm`): see {@link seccompArchitectures}. */
  imageArchitecture?: string;
  /** The container's capabilities (`CAP_` names): each in CAPABILITY_SYSCALLS opens its syscalls. Docker's defaults open none. */
  capabilities?: readonly string[];
}

/**
 * A fresh copy of Strata's default seccomp profile (see this module's
 * comment for what it allows and refuses): default action ERRNO(EPERM),
 * the allow-list, clone without namespace flags, clone3 answering ENOSYS,
 * personality limited to Linux domains; for the host's native syscall
 * architecture, and its 32-bit one for an image built for that
 * ({@link seccompArchitectures}).
 */
export function defaultSeccompProfile(options: SeccompProfileOptions = {}): SeccompProfile {
  const arch = options.arch ?? process.arch;
  const capabilities = new Set(options.capabilities ?? []);
  const sysAdmin = capabilities.has('CAP_SYS_ADMIN');
  const base = [...FILE_IO, ...FILE_SYSTEM, ...MEMORY, ...PROCESSES, ...SIGNALS_AND_TIME, ...NETWORK, ...IPC];
  // Each syscall in one rule only: libseccomp refuses a second rule of the same syscall.
  const byCapability = [...new Set([...capabilities].flatMap((c) => CAPABILITY_SYSCALLS[c] ?? []))].filter((n) => !base.includes(n));
  const syscalls: SeccompRule[] = [
    { names: base, action: 'SCMP_ACT_ALLOW' },
    ...(byCapability.length === 0 ? [] : [{ names: byCapability, action: 'SCMP_ACT_ALLOW' } satisfies SeccompRule]),
    sysAdmin
      ? { names: ['clone', 'clone3'], action: 'SCMP_ACT_ALLOW' }
      : { names: ['clone'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: CLONE_NAMESPACE_FLAGS, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }] },
    ...(sysAdmin ? [] : [{ names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: ENOSYS } satisfies SeccompRule]),
    ...PERSONALITIES.map(
      (value): SeccompRule => ({ names: ['personality'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value, op: 'SCMP_CMP_EQ' }] }),
    ),
  ];
  return {
    defaultAction: 'SCMP_ACT_ERRNO',
    defaultErrnoRet: SECCOMP_ERRNO,
    architectures: seccompArchitectures(arch, options.imageArchitecture),
    syscalls,
  };
}
