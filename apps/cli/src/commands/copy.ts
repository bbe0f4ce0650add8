import { once } from 'node:events';
import { lstat, realpath, stat } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import type { CopyToRequest, CopyToResponse, PathStat } from '@strata/api/containers/v1';
import { invalidArgument, isNotFound, notFound } from '@strata/kit';
import { defineCommand } from '../framework/command.js';
import { flags } from '../framework/flags.js';
import { runDirFlag } from './common-flags.js';
import { fleetFlags } from '../fleet/node-clients.js';
import { withFleet } from './containers.js';

/** One side of `cp`: a container's path (`CONTAINER:PATH`), or a local one (`-` for the standard streams). */
export interface CopyEnd {
  container?: string;
  path: string;
}

/**
 * Reads a `cp` argument as the docker CLI does: `NAME:PATH` is a container's
 * path unless the part before the colon holds a `/` or the argument starts
 * with `/` or `.` (a local path with a colon in it).
 */
export function splitCopyArg(arg: string): CopyEnd {
  if (arg.startsWith('/') || arg.startsWith('.')) return { path: arg };
  const colon = arg.indexOf(':');
  if (colon <= 0 || arg.slice(0, colon).includes('/')) return { path: arg };
  return { container: arg.slice(0, colon), path: arg.slice(colon + 1) };
}

/** Whether a path asks for a directory's contents (`DIR/.`), not the directory itself. */
const contentsOf = (path: string) => path === '.' || path.endsWith('/.');
/** The base name Docker gives a path (`/` stays `/`). */
const baseOf = (path: string) => basename(path.replace(/\/+$/, '')) || '/';
const S_IFDIR = 0o040000;
const isDirMode = (mode: number) => (mode & 0o170000) === S_IFDIR;

/** `strata cp`, as `docker cp`. */
export const cpCommand = defineCommand({
  name: 'cp',
  summary: 'Copy files/folders between a container and the local filesystem',
  description:
    'Copies CONTAINER:SRC_PATH to DEST_PATH or SRC_PATH to CONTAINER:DEST_PATH, with the docker CLI\'s rules: a ' +
    'directory destination gets the source under its base name, a missing one becomes the copy (its parent must ' +
    'exist), SRC_PATH/. copies a directory\'s contents. Container paths are resolved inside the container (its links ' +
    'never lead to the node); a running container is frozen while its files are read or written. `-` as DEST_PATH ' +
    'writes a tar to STDOUT, as SRC_PATH reads one from STDIN. Files copied in belong to the container\'s root ' +
    'unless -a; files copied out to you unless -a (and you are root).',
  usage: 'CONTAINER:SRC_PATH DEST_PATH|-  |  SRC_PATH|- CONTAINER:DEST_PATH',
  minArgs: 2,
  maxArgs: 2,
  exitCodes: { usage: 125 },
  flags: {
    archive: flags.switch('Archive mode (copy all uid/gid information)', { short: 'a' }),
    followLink: flags.switch('Always follow symbol link in SRC_PATH', { short: 'L' }),
    runDir: runDirFlag,
    ...fleetFlags,
  },
  async run({ flags: f, args, io }) {
    const src = splitCopyArg(args[0]!);
    const dst = splitCopyArg(args[1]!);
    if (src.container !== undefined && dst.container !== undefined) throw invalidArgument('copying between containers is not supported');
    if (src.container === undefined && dst.container === undefined) throw invalidArgument('must specify at least one container source');
    for (const end of [src, dst]) if (end.path === '') throw invalidArgument(`${end.container ?? ''}: the path is empty`);
    const { extractIntoRoot, tarRootedPath } = await import('@strata/layer-diff');
    await withFleet(f, io, async (on, api) => {
      if (src.container !== undefined) {
        const container = src.container;
        await on(container, async (client) => {
          let path = src.path;
          let rename: string | undefined;
          if (f.followLink) {
            const { stat: linkStat } = await client.unary(api.statPath, { id: container, path });
            if (linkStat !== undefined && linkStat.linkTarget !== '') {
              rename = baseOf(path);
              path = linkStat.linkTarget;
            }
          }
          const call = client.serverStream(api.copyFrom, { id: container, path });
          const iterator = call[Symbol.asyncIterator]();
          const first = await iterator.next();
          const pathStat: PathStat | undefined = first.done === true || first.value.part?.$case !== 'stat' ? undefined : first.value.part.value;
          if (pathStat === undefined) throw notFound(`the node sent no stat of ${container}:${path}`);
          const tar = (async function* (): AsyncGenerator<Uint8Array> {
            for (let next = await iterator.next(); next.done !== true; next = await iterator.next()) {
              if (next.value.part?.$case === 'data') yield next.value.part.value;
            }
          })();
          if (dst.path === '-') {
            const { archiveOutput } = await import('../framework/archive-output.js');
            const out = archiveOutput(io, undefined);
            for await (const chunk of tar) await out.write(chunk);
            return;
          }
          const top = contentsOf(path) ? '.' : pathStat.name === '/' ? '.' : pathStat.name;
          const target = resolve(dst.path);
          const existing = await stat(target).catch((err: unknown) => (isMissing(err) ? undefined : Promise.reject(err)));
          let dir: string;
          let rebase: { from: string; to: string } | undefined;
          if (existing?.isDirectory()) {
            dir = target;
            if (rename !== undefined && top !== '.') rebase = { from: top, to: rename };
          } else {
            if (existing !== undefined && isDirMode(pathStat.mode)) throw invalidArgument(`cannot copy a directory onto the file ${dst.path}`);
            if (existing === undefined && dst.path.endsWith('/')) throw notFound(`destination directory ${dst.path} does not exist`);
            dir = dirname(target);
            const parent = await stat(dir).catch(() => undefined);
            if (parent?.isDirectory() !== true) throw notFound(`the parent of ${dst.path} is no directory`);
            rebase = { from: top, to: basename(target) };
          }
          const owner = f.archive ? undefined : { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
          await extractIntoRoot(dir, '/', tar, { noOverwriteDirNonDir: true, ...(owner === undefined ? {} : { owner }), ...(rebase === undefined ? {} : { rebase }) });
        });
        return;
      }
      const container = dst.container!;
      await on(container, async (client) => {
        let source: AsyncIterable<Uint8Array>;
        let dir = dst.path;
        if (src.path === '-') {
          if (io.stdin === undefined || io.stdin.isTTY === true) throw invalidArgument('cp - needs a tar on STDIN, not a terminal');
          source = io.stdin;
        } else {
          const local = resolve(src.path);
          const found = await lstat(local).catch((err: unknown) => (isMissing(err) ? undefined : Promise.reject(err)));
          if (found === undefined) throw notFound(`could not find the file ${src.path}`);
          const path = f.followLink && found.isSymbolicLink() ? await realpath(local) : local;
          const srcIsDir = (await lstat(path)).isDirectory();
          const existing = await client.unary(api.statPath, { id: container, path: dst.path }).then(
            ({ stat: s }) => s,
            (err: unknown) => (isNotFound(err) ? undefined : Promise.reject(err)),
          );
          let rootName: string;
          if (existing !== undefined && isDirMode(existing.mode)) {
            rootName = contentsOf(src.path) ? '.' : baseOf(src.path);
          } else {
            if (existing !== undefined && srcIsDir) throw invalidArgument(`cannot copy a directory onto the file ${container}:${dst.path}`);
            if (existing === undefined && dst.path.endsWith('/')) throw notFound(`destination directory ${container}:${dst.path} does not exist`);
            dir = dirname(dst.path.startsWith('/') ? dst.path : `/${dst.path}`);
            rootName = baseOf(dst.path);
          }
          source = tarRootedPath((p) => p, path, rootName);
        }
        const call = client.bidiStream(api.copyTo);
        const answered = (async () => {
          try {
            for await (const response of call) return response as CopyToResponse;
            return undefined;
          } catch (err) {
            throw client.translate(err);
          }
        })();
        answered.catch(() => undefined);
        call.write({ part: { $case: 'header', value: { id: container, path: dir, noOverwriteDirNonDir: true, copyUidGid: f.archive } } } satisfies CopyToRequest);
        let failed = false;
        answered.catch(() => (failed = true));
        for await (const chunk of source) {
          if (failed) break;
          if (!call.write({ part: { $case: 'data', value: Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength) } } satisfies CopyToRequest)) {
            await Promise.race([once(call, 'drain'), answered.then(() => undefined, () => undefined)]);
          }
        }
        call.end();
        await answered;
      });
    });
  },
});

const isMissing = (err: unknown) => (err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR';
