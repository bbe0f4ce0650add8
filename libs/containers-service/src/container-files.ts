import { lstat } from 'node:fs/promises';
import type { Cgroup } from '@strata/cgroups';
import { isRunning, type ContainerRecord } from '@strata/containers';
import { errnoOf, failedPrecondition, invalidArgument, isNotFound, notFound, type Logger } from '@strata/kit';
import { diffLayer, extractIntoRoot, overlayChanges, resolveRootedPath, statRootedPath, tarRootedPath } from '@strata/layer-diff';
import type { RuntimeSpec } from '@strata/runtime-spec';
import type { Snapshotter } from '@strata/snapshots';
import type { ContainerManager } from './container-manager.js';
import { runningContainerFiles, stoppedContainerFiles, type HostPathOf } from './container-paths.js';
import { overlayLayers } from './overlay-layers.js';

/** What {@link createContainerFiles} needs of the container manager. */
export interface ContainerFilesContext {
  logger: Logger;
  snapshotter: Snapshotter;
  /** The container that ref (an id, a unique prefix of one, or a name) names; NotFound otherwise. */
  find(ref: string): ContainerRecord;
  /** The container's record as it is now; undefined once it is removed. */
  record(id: string): ContainerRecord | undefined;
  cgroupOf(id: string): Promise<Cgroup>;
  /** Mounts a stopped container's root file system again when it is not (after a reboot). */
  ensureMounted(record: ContainerRecord): Promise<void>;
  /** The container's runtime spec (config.json of its bundle). */
  readSpec(id: string): Promise<RuntimeSpec>;
  /** Where the container's root file system is mounted on the node. */
  rootfsOf(id: string): string;
}

/**
 * What reads and writes a container's files from the node: export, diff
 * and docker cp (stat, copy out, copy in; see the ContainerManager methods
 * of the same names), and what a commit needs of them.
 */
export type ContainerFiles = Pick<ContainerManager, 'exportFiles' | 'statPath' | 'copyFrom' | 'copyTo' | 'changes'> & {
  /**
   * Freezes a running container for a while (a commit's diff, an export);
   * resolves with what thaws it. A paused container is frozen already and
   * stays so, also when it was paused meanwhile; one that is not running
   * (its cgroup gone) needs nothing. FailedPrecondition once it is removed.
   */
  freezeAWhile(id: string): Promise<() => Promise<void>>;
  /** Where the container's runtime spec mounts things (none when its spec cannot be read). */
  mountPointsOf(id: string): Promise<string[]>;
};

/** The file operations of the container manager over ctx. */
export function createContainerFiles(ctx: ContainerFilesContext): ContainerFiles {
  async function freezeAWhile(id: string): Promise<() => Promise<void>> {
    const record = ctx.record(id);
    if (record === undefined) throw failedPrecondition(`container ${id} was removed`);
    if (record.state.status === 'paused' || !isRunning(record)) return async () => undefined;
    const cg = await ctx.cgroupOf(id);
    try {
      await cg.freeze();
    } catch (err) {
      if (isNotFound(err)) return async () => undefined;
      throw err;
    }
    return async () => {
      if (ctx.record(id)?.state.status !== 'paused') await cg.thaw();
    };
  }

  /**
   * The container's files for a copy, with path resolved in them (see
   * container-paths.ts): a running (or paused) one's through its mount
   * namespace, frozen until release; a stopped one's root file system
   * with the binds of its runtime spec (volumes, binds, /etc files).
   */
  async function containerFiles(
    record: ContainerRecord,
    path: string,
    followLast = false,
  ): Promise<{ files: HostPathOf; resolved: string; release: () => Promise<void>; writable?: (path: string) => boolean }> {
    const fields = { containerId: record.id, path };
    if (record.state.status === 'removing' || record.state.status === 'dead') throw failedPrecondition(`container ${record.id} is ${record.state.status}`, { fields });
    if (record.spec.userNamespace) {
      throw failedPrecondition(`container ${record.id} has a user namespace: its files are owned by the node's mapped ids, which a copy would carry`, { fields });
    }
    let files: HostPathOf;
    let release = async () => undefined as void;
    let writable: ((path: string) => boolean) | undefined;
    if (isRunning(record) && record.state.pid > 0) {
      release = await freezeAWhile(record.id);
      files = runningContainerFiles(record.state.pid);
    } else {
      await ctx.ensureMounted(record);
      const spec = await ctx.readSpec(record.id);
      const binds = spec.mounts
        .filter((m) => m.type === 'bind' || (m.options ?? []).includes('bind') || (m.options ?? []).includes('rbind'))
        .map((m) => ({ source: m.source ?? '', destination: m.destination, readOnly: (m.options ?? []).includes('ro') }));
      files = stoppedContainerFiles(ctx.rootfsOf(record.id), binds);
      // Nothing enforces a read-only mount on the node's side of a stopped container: say it here, as the kernel would inside.
      writable = (p) => !(binds.filter((b) => p === b.destination || p.startsWith(`${b.destination}/`)).sort((a, b) => b.destination.length - a.destination.length)[0]?.readOnly ?? spec.root.readonly);
    }
    try {
      return { files, resolved: await resolveRootedPath(files, path, { followLast }), release, ...(writable === undefined ? {} : { writable }) };
    } catch (err) {
      await release();
      if (isNotFound(err)) throw notFound(`Could not find the file ${path} in container ${record.name || record.id}`, { fields, cause: err });
      throw err;
    }
  }

  async function mountPointsOf(id: string): Promise<string[]> {
    const spec = await ctx.readSpec(id).catch(() => undefined);
    return (spec?.mounts ?? []).map((m) => m.destination);
  }

  return {
    freezeAWhile,
    mountPointsOf,

    async exportFiles(ref) {
      const record = ctx.find(ref);
      const fields = { containerId: record.id };
      if (record.state.status === 'removing' || record.state.status === 'dead') {
        throw failedPrecondition(`container ${record.id} is ${record.state.status}`, { fields });
      }
      if (record.spec.userNamespace) {
        throw failedPrecondition(`container ${record.id} has a user namespace: its files are owned by the node's mapped ids, which an export would carry`, { fields });
      }
      await ctx.ensureMounted(record);
      // A running container is frozen while its files are read, as Docker's cp pauses one: it cannot swap a
      // directory for a symbolic link between the walk and a read, which would lead the read out of its files.
      const thaw = await freezeAWhile(record.id);
      const { stream, result } = diffLayer({ mode: 'native', upper: ctx.rootfsOf(record.id), compress: false });
      result.catch((err: unknown) => ctx.logger.warn({ err, containerId: record.id }, 'export failed'));
      stream.once('close', () => void thaw().catch((err: unknown) => ctx.logger.error({ err, containerId: record.id }, 'cannot thaw the container after its export')));
      return stream;
    },

    async statPath(ref, path) {
      const { files, resolved, release } = await containerFiles(ctx.find(ref), path);
      try {
        return await statRootedPath(files, resolved);
      } finally {
        await release();
      }
    },

    async copyFrom(ref, path) {
      const record = ctx.find(ref);
      const { files, resolved, release } = await containerFiles(record, path);
      try {
        const stat = await statRootedPath(files, resolved);
        // Docker names the top entry by the base name of the path asked ("." for "DIR/.").
        const tar = tarRootedPath(files, resolved, path.endsWith('/.') ? '.' : stat.name === '/' ? '.' : stat.name);
        tar.once('close', () => void release().catch((err: unknown) => ctx.logger.error({ err, containerId: record.id }, 'cannot thaw the container after a copy')));
        return { stat, tar };
      } catch (err) {
        await release();
        throw err;
      }
    },

    async copyTo(ref, path, source, options) {
      const record = ctx.find(ref);
      const { files, resolved, release, writable } = await containerFiles(record, path, true);
      try {
        if (!(await lstat(files(resolved))).isDirectory()) throw invalidArgument('extraction point is not a directory', { fields: { containerId: record.id, path } });
        return await extractIntoRoot(files, resolved, source, {
          noOverwriteDirNonDir: options.noOverwriteDirNonDir,
          // Docker's default: what is copied in belongs to the container's root; -a keeps the archive's owners.
          ...(options.copyUidGid ? {} : { owner: { uid: 0, gid: 0 } }),
          ...(writable === undefined ? {} : { writable }),
        });
      } catch (err) {
        if (errnoOf(err) === 'EROFS') throw failedPrecondition('container rootfs is marked read-only', { fields: { containerId: record.id, path }, cause: err });
        throw err;
      } finally {
        await release();
      }
    },

    async changes(ref) {
      const record = ctx.find(ref);
      const fields = { containerId: record.id };
      if (record.state.status === 'removing' || record.state.status === 'dead') {
        throw failedPrecondition(`container ${record.id} is ${record.state.status}`, { fields });
      }
      const mounts = await ctx.snapshotter.mounts(record.snapshotKey);
      const layers = overlayLayers(mounts);
      if (layers === undefined) {
        throw failedPrecondition(
          `the snapshotter keeps the files of container ${record.id} as a whole tree (${mounts.map((m) => m.type).join(', ') || 'no mount'}), not as changes over its image: diff needs its overlay driver`,
          { fields },
        );
      }
      // The mount points runc makes in the container's layer are no changes of its own (Docker keeps them in an init layer).
      return overlayChanges(layers.upper, layers.lowers, { mountPoints: await mountPointsOf(record.id) });
    },
  };
}
