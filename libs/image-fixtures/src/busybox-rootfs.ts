import { chmod, copyFile, mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { notFound } from '@strata/kit';
import { BUSYBOX_APPLETS, BUSYBOX_GROUP, BUSYBOX_PASSWD, DEBIAN_BUSYBOX } from './fixtures.js';

/** Settings of {@link writeBusyboxRootfs}. */
export interface BusyboxRootfsOptions {
  /** The static busybox binary; {@link DEBIAN_BUSYBOX} by default. */
  binary?: string;
  /** Applets linked in /bin besides {@link BUSYBOX_APPLETS} (e.g. `mknod`, `unshare`). */
  extraApplets?: readonly string[];
  /** /etc/passwd content; {@link BUSYBOX_PASSWD} by default. */
  passwd?: string;
  /** /etc/group content; {@link BUSYBOX_GROUP} by default. */
  group?: string;
}

/**
 * Writes the file tree of {@link busyboxImage} straight into dir (which must
 * exist), for tests that hand a root file system to runc without building an
 * image: /bin/busybox with an applet symlink per {@link BUSYBOX_APPLETS} and
 * options.extraApplets, /etc/passwd and /etc/group, and the empty directories
 * /dev, /home, /proc, /root (0700), /sys, /tmp (1777), /var/www. Raises
 * NotFound when the binary is missing (install busybox-static).
 */
export async function writeBusyboxRootfs(dir: string, options: BusyboxRootfsOptions = {}): Promise<void> {
  const binary = options.binary ?? DEBIAN_BUSYBOX;
  await mkdir(join(dir, 'bin'), { recursive: true });
  try {
    await copyFile(binary, join(dir, 'bin/busybox'));
  } catch (cause) {
    throw notFound(`busybox binary ${binary} is missing; install Debian's busybox-static`, { cause });
  }
  await chmod(join(dir, 'bin/busybox'), 0o755);
  const applets = new Set<string>([...BUSYBOX_APPLETS, ...(options.extraApplets ?? [])]);
  for (const applet of applets) await symlink('busybox', join(dir, 'bin', applet));
  for (const sub of ['dev', 'etc', 'home', 'proc', 'sys', 'var/www']) await mkdir(join(dir, sub), { recursive: true });
  await mkdir(join(dir, 'root'), { mode: 0o700 });
  await mkdir(join(dir, 'tmp'));
  await chmod(join(dir, 'tmp'), 0o1777);
  await writeFile(join(dir, 'etc/passwd'), options.passwd ?? BUSYBOX_PASSWD);
  await writeFile(join(dir, 'etc/group'), options.group ?? BUSYBOX_GROUP);
}
