import { once } from 'node:events';
import { ContainersService, type CopyToRequest, type CopyToResponse, type PathStat } from '@strata/api/containers/v1';
import { dockerError } from './docker-error.js';
import { queryBool } from './docker-query.js';
import type { DockerContext, DockerRoute } from './docker-router.js';
import { rfc3339Nano } from './human-time.js';
import { cancellableCall } from './rpc-call.js';
import type { DockerApiDeps } from './index.js';

/** The header in which Docker's archive endpoints describe the path. */
export const PATH_STAT_HEADER = 'X-Docker-Container-Path-Stat';

/** Go's os.FileMode bits of a file type (what the docker CLI decodes), by the S_IFMT value of st_mode. */
const GO_FILE_TYPES: Readonly<Record<number, number>> = {
  0o040000: 2 ** 31, // ModeDir
  0o120000: 2 ** 27, // ModeSymlink
  0o060000: 2 ** 26, // ModeDevice
  0o020000: 2 ** 26 + 2 ** 21, // ModeDevice | ModeCharDevice
  0o010000: 2 ** 25, // ModeNamedPipe
  0o140000: 2 ** 24, // ModeSocket
};

/** st_mode as Go's os.FileMode: permission bits, setuid/setgid/sticky and the type bits. */
export function goFileMode(mode: number): number {
  const special = (mode & 0o4000 ? 2 ** 23 : 0) + (mode & 0o2000 ? 2 ** 22 : 0) + (mode & 0o1000 ? 2 ** 20 : 0);
  return (mode & 0o777) + special + (GO_FILE_TYPES[mode & 0o170000] ?? 0);
}

/** The header's value: the stat as Docker's JSON (`name`, `size`, `mode`, `mtime`, `linkTarget`), base64. */
export function pathStatHeader(stat: PathStat): string {
  const json = { name: stat.name, size: stat.size, mode: goFileMode(stat.mode), mtime: rfc3339Nano(stat.mtime ?? new Date(0)), linkTarget: stat.linkTarget };
  return Buffer.from(JSON.stringify(json)).toString('base64');
}

function pathOf(ctx: DockerContext): string {
  const path = ctx.query.get('path') ?? '';
  if (path === '') throw dockerError(400, 'bad parameter: path cannot be empty');
  return path;
}

/**
 * Docker's archive endpoints of a container, as `docker cp CONTAINER:PATH
 * DEST` uses them: HEAD (the path's stat in `X-Docker-Container-Path-Stat`)
 * and GET (the stat, and the path as a tar named by its base name), and as
 * `docker cp SRC CONTAINER:PATH` uses them: PUT (a tar extracted into a
 * directory; `noOverwriteDirNonDir`, `copyUIDGID`), each the node-agent's
 * StatPath, CopyFrom or CopyTo.
 */
export function archiveRoutes(deps: DockerApiDeps): DockerRoute[] {
  const { containers } = deps;
  return [
    {
      method: 'HEAD',
      path: '/containers/{id}/archive',
      async handle(ctx) {
        const { stat } = await containers.unary(ContainersService.statPath, { id: ctx.params['id'] as string, path: pathOf(ctx) });
        ctx.res.writeHead(200, { [PATH_STAT_HEADER]: pathStatHeader(stat!), 'Content-Type': 'application/json' });
        ctx.res.end();
      },
    },
    {
      method: 'GET',
      path: '/containers/{id}/archive',
      async handle(ctx) {
        const call = cancellableCall(containers, ContainersService.copyFrom, { id: ctx.params['id'] as string, path: pathOf(ctx) });
        ctx.res.once('close', () => call.cancel());
        let started = false;
        try {
          // The head goes with the stat, the first message: a refusal before it is still a Docker error.
          for await (const { part } of call.responses) {
            if (part?.$case === 'stat') {
              ctx.res.writeHead(200, { [PATH_STAT_HEADER]: pathStatHeader(part.value), 'Content-Type': 'application/x-tar' });
              started = true;
            } else if (part?.$case === 'data' && started) {
              if (!ctx.res.write(part.value)) await once(ctx.res, 'drain');
            }
          }
        } finally {
          call.cancel();
        }
        if (!started) throw dockerError(500, 'the node-agent sent no stat of the path');
        ctx.res.end();
      },
    },
    {
      method: 'PUT',
      path: '/containers/{id}/archive',
      async handle(ctx) {
        const header = {
          id: ctx.params['id'] as string,
          path: pathOf(ctx),
          noOverwriteDirNonDir: queryBool(ctx.query, 'noOverwriteDirNonDir'),
          copyUidGid: queryBool(ctx.query, 'copyUIDGID'),
        };
        const call = containers.bidiStream(ContainersService.copyTo);
        let failure: unknown;
        const answered = (async () => {
          try {
            for await (const response of call) return response as CopyToResponse;
          } catch (err) {
            failure = containers.translate(err);
            throw failure;
          }
          return undefined;
        })();
        answered.catch(() => undefined);
        call.write({ part: { $case: 'header', value: header } } satisfies CopyToRequest);
        // The body goes on as the node takes it; a refusal ends the upload.
        for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
          if (failure !== undefined) break;
          if (!call.write({ part: { $case: 'data', value: chunk } } satisfies CopyToRequest)) {
            await Promise.race([once(call, 'drain'), answered.then(() => undefined, () => undefined)]);
          }
        }
        call.end();
        await answered;
        ctx.res.writeHead(200, { 'Content-Length': '0' });
        ctx.res.end();
      },
    },
  ];
}
