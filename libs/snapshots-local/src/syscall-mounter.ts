import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';

// mount(2) and umount2(2) numbers per architecture (Linux syscall tables).
const SYSCALLS: Partial<Record<NodeJS.Architecture, [mount: number, umount2: number]>> = {
  x64: [165, 166],
  arm64: [40, 39],
  riscv64: [40, 39],
  arm: [21, 52],
  ia32: [21, 52],
  ppc64: [21, 52],
  s390x: [21, 52],
};

// A long-lived root helper: one request per line (hex-encoded fields), one
// answer per line ("0" or "<errno> <message>"). perl-base is part of every
// Debian system and calls syscall(2) directly, so a mount costs no process
// start. It chdirs to the request's cwd for relative overlay paths.
const HELPER = String.raw`
$| = 1;
my ($SYS_mount, $SYS_umount2) = map { $_ + 0 } @ARGV;
while (my $line = <STDIN>) {
  chomp $line;
  my ($op, @f) = map { pack('H*', $_) } split / /, $line, -1;
  my $r = -1;
  if ($op eq 'mount' && @f == 6) {
    my ($cwd, $src, $tgt, $type, $flags, $data) = @f;
    if ($cwd ne '' && !chdir("$cwd")) { print((0 + $!), " $!\n"); next; }
    $r = syscall($SYS_mount, "$src", "$tgt", "$type", 0 + $flags, $data eq '' ? undef : "$data");
    my $errno = 0 + $!;
    my $text = "$!";
    chdir('/');
    if ($r == -1) { print "$errno $text\n"; next; }
  } elsif ($op eq 'umount' && @f == 2) {
    $r = syscall($SYS_umount2, "$f[0]", 0 + $f[1]);
    if ($r == -1) { print((0 + $!), " $!\n"); next; }
  } else {
    print "22 malformed request\n";
    next;
  }
  print "0\n";
}`;

/** A failed system call: errno and its text. */
export interface SyscallFailure {
  errno: number;
  message: string;
}

type Helper = ChildProcessByStdio<Writable, Readable, null>;

/** Lets the helper's pipes keep the event loop alive only while a request is out. */
function holdLoop(helper: Helper, hold: boolean): void {
  for (const pipe of [helper.stdin, helper.stdout] as unknown as Socket[]) {
    if (hold) pipe.ref();
    else pipe.unref();
  }
}

/**
 * Calls mount(2) and umount2(2) through one long-lived perl child per
 * process (started on first use, restarted if it dies, never keeping the
 * process alive when idle). Requests are answered in order.
 */
export class SyscallMounter {
  private helper: Helper | undefined;
  private readonly waiting: Array<(answer: SyscallFailure | undefined) => void> = [];

  private constructor(private readonly numbers: [number, number]) {}

  /** A mounter for this machine, or undefined when its architecture or perl is missing. */
  static create(): SyscallMounter | undefined {
    const numbers = SYSCALLS[process.arch];
    return numbers === undefined ? undefined : new SyscallMounter(numbers);
  }

  /** mount(2) from directory cwd ('' for none). Resolves undefined on success, the failure otherwise. */
  mount(cwd: string, source: string, target: string, fstype: string, flags: number, data: string): Promise<SyscallFailure | undefined> {
    return this.request(['mount', cwd, source, target, fstype, String(flags), data]);
  }

  /** umount2(2) with flags (2 = MNT_DETACH). */
  unmount(target: string, flags: number): Promise<SyscallFailure | undefined> {
    return this.request(['umount', target, String(flags)]);
  }

  private request(fields: string[]): Promise<SyscallFailure | undefined> {
    const helper = this.start();
    return new Promise((resolve) => {
      if (this.waiting.length === 0) holdLoop(helper, true);
      this.waiting.push(resolve);
      helper.stdin.write(`${fields.map((f) => Buffer.from(f).toString('hex')).join(' ')}\n`);
    });
  }

  private start(): Helper {
    if (this.helper !== undefined) return this.helper;
    const helper = spawn('perl', ['-e', HELPER, String(this.numbers[0]), String(this.numbers[1])], {
      stdio: ['pipe', 'pipe', 'ignore'],
    });
    this.helper = helper;
    const gone = (why: string) => {
      if (this.helper === helper) this.helper = undefined;
      for (const resolve of this.waiting.splice(0)) resolve({ errno: -1, message: `the mount helper ended: ${why}` });
    };
    helper.on('error', (err) => gone(err.message));
    helper.on('exit', (code, signal) => gone(`exit ${code ?? signal}`));
    helper.stdin.on('error', () => undefined);
    createInterface({ input: helper.stdout }).on('line', (line) => {
      const resolve = this.waiting.shift();
      if (this.waiting.length === 0) holdLoop(helper, false);
      if (resolve === undefined) return;
      const space = line.indexOf(' ');
      if (line === '0') resolve(undefined);
      else resolve({ errno: Number(space === -1 ? line : line.slice(0, space)), message: space === -1 ? line : line.slice(space + 1) });
    });
    helper.unref();
    holdLoop(helper, false);
    return helper;
  }
}

const MS_RDONLY = 1;
const MS_REMOUNT = 32;
const MS_BIND = 4096;
const MS_REC = 16384;

// mount(8) option words that are flags: [set, clear].
const FLAGS: Record<string, [number, number]> = {
  ro: [MS_RDONLY, 0],
  rw: [0, MS_RDONLY],
  nosuid: [2, 0],
  suid: [0, 2],
  nodev: [4, 0],
  dev: [0, 4],
  noexec: [8, 0],
  exec: [0, 8],
  sync: [16, 0],
  async: [0, 16],
  dirsync: [128, 0],
  noatime: [1024, 0],
  atime: [0, 1024],
  nodiratime: [2048, 0],
  diratime: [0, 2048],
  relatime: [1 << 21, 0],
  norelatime: [0, 1 << 21],
  strictatime: [1 << 24, 0],
  bind: [MS_BIND, 0],
  rbind: [MS_BIND | MS_REC, 0],
};

/** One mount(2) call. */
export interface MountCall {
  source: string;
  fstype: string;
  flags: number;
  data: string;
}

/**
 * The mount(2) calls mount(8) would make for a mount: option words that are
 * flags become flags, the rest the data string. A read-only (or nosuid…)
 * bind mount is a bind followed by a remount, as the kernel requires.
 */
export function mountCalls(type: string, source: string, options: readonly string[]): MountCall[] {
  let flags = 0;
  const data: string[] = [];
  for (const option of options) {
    const flag = FLAGS[option];
    if (flag === undefined) data.push(option);
    else flags = (flags | flag[0]) & ~flag[1];
  }
  if (type === 'bind') flags |= MS_BIND;
  if ((flags & MS_BIND) === 0) return [{ source, fstype: type, flags, data: data.join(',') }];
  const bind: MountCall = { source, fstype: 'none', flags: flags & (MS_BIND | MS_REC), data: '' };
  const rest = flags & ~(MS_BIND | MS_REC);
  if (rest === 0) return [bind];
  return [bind, { source: 'none', fstype: 'none', flags: MS_REMOUNT | MS_BIND | rest, data: '' }];
}
