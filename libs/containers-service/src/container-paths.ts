/**
 * Where a container's files are, seen from its node, for `docker cp`
 * (resolved and read with @strata/layer-diff's rooted files): a running
 * container's through `/proc/<pid>/root` (its mount namespace: the image
 * with its changes, volumes, binds, tmpfs); a stopped one's in its mounted
 * root file system, with the runtime spec's binds (volumes, binds,
 * /etc/hosts…) laid over it. The caller freezes a running container while
 * it reads or writes: a directory swapped for a symlink to `/` would
 * otherwise lead the node's own path lookup out of the container.
 */
import { posix } from 'node:path';

/** The node's path of a container path whose components are real directories (see Root of @strata/layer-diff). */
export type HostPathOf = (containerPath: string) => string;

/** A running container's files: through its mount namespace, `/proc/<pid>/root` (its root with a trailing `/`: lstat of the bare magic link would see a link). */
export function runningContainerFiles(pid: number): HostPathOf {
  return (path) => `/proc/${pid}/root${path === '/' ? '/' : path}`;
}

/**
 * A stopped container's files: its root file system, with binds (host
 * source → container destination, as the runtime spec lists them) laid
 * over it; the deepest bind that holds a path wins.
 */
export function stoppedContainerFiles(rootfs: string, binds: ReadonlyArray<{ source: string; destination: string }>): HostPathOf {
  const byDepth = [...binds].map((b) => ({ source: b.source, destination: posix.resolve('/', b.destination) })).sort((a, b) => b.destination.length - a.destination.length);
  return (path) => {
    const bind = byDepth.find((b) => path === b.destination || path.startsWith(`${b.destination}/`));
    if (bind === undefined) return path === '/' ? rootfs : `${rootfs}${path}`;
    return `${bind.source}${path.slice(bind.destination.length)}`;
  };
}
