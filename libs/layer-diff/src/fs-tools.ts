import { spawn, spawnSync } from 'node:child_process';
import { internal, unavailable } from '@strata/kit';

/*
 * Node has no mknod, mkfifo or xattr calls: these run the Debian tools
 * (coreutils mknod/mkfifo, the attr package's setfattr/getfattr). Callers
 * pass paths whose parents they resolved inside the root; none of the tools
 * follows a symlink in the last component (-h, or creation refusing an
 * existing name).
 */

function run(command: string, args: readonly string[]): void {
  const result = spawnSync(command, args, { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  if (result.error !== undefined) {
    if ((result.error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw unavailable(`${command} is not installed (Debian packages coreutils and attr provide it)`, { cause: result.error });
    }
    throw internal(`${command} failed to start: ${result.error.message}`, { cause: result.error });
  }
  if (result.status !== 0) throw internal(`${command} ${args.join(' ')} failed: ${(result.stderr ?? '').trim()}`);
}

/** Creates an overlay whiteout (character device 0:0, mode 0) at path, which must not exist. Raises Internal or Unavailable. */
export function makeWhiteoutDevice(path: string): void {
  run('mknod', ['-m', '0', '--', path, 'c', '0', '0']);
}

/** Creates a FIFO at path, which must not exist. Raises Internal or Unavailable. */
export function makeFifo(path: string, mode: number): void {
  run('mkfifo', ['-m', (mode & 0o7777).toString(8), '--', path]);
}

/** Sets one extended attribute on path itself (never on a symlink's target). Raises Internal or Unavailable. */
export function setXattr(path: string, name: string, value: Uint8Array): void {
  run('setfattr', ['-h', '-n', name, '-v', `0x${Buffer.from(value).toString('hex')}`, '--', path]);
}

/** The extended attributes {@link readTreeXattrs} reads. */
export const XATTR_PATTERN = '^(user\\.|security\\.capability$|trusted\\.overlay\\.opaque$)';

function unescapePath(escaped: Buffer): string {
  const out: number[] = [];
  for (let i = 0; i < escaped.length; i++) {
    const b = escaped[i]!;
    if (b === 0x5c && i + 3 < escaped.length + 1 && /^[0-7]{3}$/.test(escaped.toString('latin1', i + 1, i + 4))) {
      out.push(parseInt(escaped.toString('latin1', i + 1, i + 4), 8));
      i += 3;
    } else {
      out.push(b);
    }
  }
  return Buffer.from(out).toString('utf8');
}

/**
 * The kept extended attributes (user.*, security.capability,
 * trusted.overlay.opaque) of every path under root, root included, without
 * following symlinks: one getfattr run for the whole tree. Keys are paths
 * relative to root ('' for root). Raises Internal or Unavailable.
 */
export function readTreeXattrs(root: string): Promise<Map<string, Record<string, Buffer>>> {
  return new Promise((resolve, reject) => {
    const child = spawn('getfattr', ['-R', '-P', '-h', '-d', '-m', XATTR_PATTERN, '-e', 'hex', '--absolute-names', '--', root], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => {
      if (err.length < 4096) err += b.toString('utf8');
    });
    child.once('error', (e: NodeJS.ErrnoException) => {
      reject(e.code === 'ENOENT' ? unavailable('getfattr is not installed (Debian package attr)', { cause: e }) : internal(`getfattr: ${e.message}`, { cause: e }));
    });
    child.once('close', (code) => {
      if (code !== 0) {
        reject(internal(`getfattr of ${root} failed: ${err.trim()}`));
        return;
      }
      const result = new Map<string, Record<string, Buffer>>();
      const rootPrefix = root.endsWith('/') ? root : `${root}/`;
      let current: Record<string, Buffer> | undefined;
      for (const line of Buffer.concat(out).toString('latin1').split('\n')) {
        if (line.startsWith('# file: ')) {
          const path = unescapePath(Buffer.from(line.slice('# file: '.length), 'latin1'));
          const rel = path === root || `${path}/` === rootPrefix ? '' : path.startsWith(rootPrefix) ? path.slice(rootPrefix.length) : path;
          current = {};
          result.set(rel, current);
        } else if (current !== undefined && line.includes('=')) {
          const eq = line.indexOf('=');
          const value = line.slice(eq + 1);
          current[Buffer.from(line.slice(0, eq), 'latin1').toString('utf8')] = value.startsWith('0x') ? Buffer.from(value.slice(2), 'hex') : Buffer.from(value.replace(/^"|"$/g, ''), 'latin1');
        }
      }
      resolve(result);
    });
  });
}
