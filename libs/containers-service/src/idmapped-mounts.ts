import { spawn } from 'node:child_process';
import { failedPrecondition, invalidArgument } from '@strata/kit';

/** A user namespace mapping of container ids 0..size-1 to host ids hostId..hostId+size-1 (uids and gids alike). */
export interface IdRange {
  hostId: number;
  size: number;
}

/** The subordinate range user-namespaced containers get when the agent is given none: Docker's default 100000:65536. */
export const DEFAULT_ID_RANGE: IdRange = { hostId: 100000, size: 65536 };

// syscall(2) numbers: open_tree, move_mount and mount_setattr have the same
// number on every architecture (added after the tables were unified);
// unshare differs.
const UNSHARE: Partial<Record<NodeJS.Architecture, number>> = { x64: 272, arm64: 97, riscv64: 97, ppc64: 282, s390x: 303 };

// Forks a child into a new user namespace with the mapping, then for each
// (source, target) pair clones source's mount tree (open_tree), marks it
// idmapped by the child's namespace (mount_setattr MOUNT_ATTR_IDMAP) and
// attaches it on target (move_mount). perl-base calls syscall(2) directly
// (no compiler, no util-linux 2.39 X-mount.idmap).
const HELPER = String.raw`
use strict; use POSIX ();
my ($sys_unshare, $map, @pairs) = @ARGV;
pipe(my $ready_r, my $ready_w) or die "pipe: $!\n";
pipe(my $done_r, my $done_w) or die "pipe: $!\n";
my $pid = fork(); die "fork: $!\n" unless defined $pid;
if ($pid == 0) {
  close $ready_r; close $done_w;
  my $rc = syscall(0 + $sys_unshare, 0x10000000);
  syswrite($ready_w, $rc == 0 ? "0" : "$!");
  close $ready_w;
  sysread($done_r, my $x, 1);
  POSIX::_exit(0);
}
close $ready_w; close $done_r;
sysread($ready_r, my $ok, 256);
die "unshare(CLONE_NEWUSER): $ok\n" unless $ok eq "0";
for my $file ("uid_map", "gid_map") {
  open(my $f, '>', "/proc/$pid/$file") or die "open $file: $!\n";
  syswrite($f, "$map\n") or die "write $file: $!\n";
  close($f) or die "write $file: $!\n";
}
open(my $ns, '<', "/proc/$pid/ns/user") or die "open user namespace: $!\n";
my $nsfd = fileno($ns);
while (@pairs) {
  my ($src, $dst) = splice(@pairs, 0, 2);
  my ($empty, $from, $to) = ("", "$src", "$dst");
  my $fd = syscall(428, -100, $from, 0x80001);
  die "open_tree $src: $!\n" if $fd < 0;
  my $attr = pack('QQQQ', 0x00100000, 0, 0, $nsfd);
  syscall(442, 0 + $fd, $empty, 0x1000, $attr, 32) == 0 or die "mount_setattr MOUNT_ATTR_IDMAP $src: $!\n";
  syscall(429, 0 + $fd, $empty, -100, $to, 4) == 0 or die "move_mount $dst: $!\n";
  POSIX::close($fd);
}
syswrite($done_w, "x"); close $done_w; waitpid($pid, 0);
`;

/** Checks a range: host ids above 0, within 32 bits, at least 65536 ids (a whole uid_t space for images' users). */
export function checkIdRange(range: IdRange): IdRange {
  const { hostId, size } = range;
  if (!Number.isSafeInteger(hostId) || !Number.isSafeInteger(size) || hostId < 1 || size < 1 || hostId + size > 2 ** 32 - 1) {
    throw invalidArgument(`invalid user namespace range ${hostId}:${size}: host ids must be 1 to 4294967294`);
  }
  return range;
}

/**
 * Attaches an idmapped copy of each source mount tree on its target (an
 * existing directory): files owned by id n show as owned by hostId+n
 * through it. Needs Linux 5.12 with a file system that allows idmapped
 * mounts (ext4, xfs, btrfs…), 5.19 for overlayfs to take them as layers.
 * Raises FailedPrecondition naming what the host lacks (the syscall and
 * errno) when the kernel or the file system refuses.
 */
export async function mountIdmapped(pairs: ReadonlyArray<{ source: string; target: string }>, range: IdRange): Promise<void> {
  checkIdRange(range);
  const unshare = UNSHARE[process.arch];
  if (unshare === undefined) throw failedPrecondition(`user namespaces: no idmapped mount helper for architecture ${process.arch}`);
  const args = ['-e', HELPER, String(unshare), `0 ${range.hostId} ${range.size}`, ...pairs.flatMap((p) => [p.source, p.target])];
  const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
    const child = spawn('perl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
    child.once('error', reject);
    child.once('close', (c) => resolve({ code: c, stderr: err }));
  }).catch((cause: unknown) => {
    throw failedPrecondition('user namespaces need perl (perl-base) for idmapped mounts', { cause });
  });
  if (code !== 0) {
    throw failedPrecondition(
      `user namespaces need idmapped mounts, which this host refused (${stderr.trim() || `exit code ${code}`}): ` +
        'use Linux 5.19 or later with the layers on ext4, xfs or btrfs',
    );
  }
}
