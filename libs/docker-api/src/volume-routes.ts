import { VolumesService } from '@strata/api/containers/v1';
import { dockerError } from './docker-error.js';
import { filterList, queryBool } from './docker-query.js';
import type { DockerRoute } from './docker-router.js';
import type { DockerApiDeps } from './index.js';
import { volumeView } from './volume-views.js';

/** The volume list and prune filters served; others are a 400 `invalid filter`. */
const VOLUME_FILTERS = ['name', 'label', 'driver', 'dangling'];

/**
 * The volume endpoints over the node-agent's Volumes service (on the
 * containers client's socket): `GET /volumes` (filters name, label, driver,
 * dangling), `POST /volumes/create` (Name, Labels, Driver local; DriverOpts
 * refused), `GET /volumes/{name}`, `DELETE /volumes/{name}` (`force`; 409
 * "volume is in use - […]"), `POST /volumes/prune` (anonymous volumes, or
 * every unused one with filter `all=true`).
 */
export function volumeRoutes(deps: DockerApiDeps): DockerRoute[] {
  const client = deps.containers;
  return [
    {
      method: 'GET',
      path: '/volumes',
      async handle(ctx) {
        const { volumes } = await client.unary(VolumesService.list, { filters: filterList(ctx.query, VOLUME_FILTERS) });
        ctx.json(200, { Volumes: volumes.map(volumeView), Warnings: null });
      },
    },
    {
      method: 'POST',
      path: '/volumes/create',
      async handle(ctx) {
        const body = (await ctx.readJson<Record<string, unknown> | null>()) ?? {};
        const name = body['Name'] ?? '';
        const labels = body['Labels'] ?? {};
        const driver = body['Driver'] ?? '';
        if (typeof name !== 'string' || typeof driver !== 'string') throw dockerError(400, 'invalid Name or Driver: expected strings');
        if (typeof labels !== 'object' || labels === null || Object.values(labels).some((v) => typeof v !== 'string')) {
          throw dockerError(400, 'invalid Labels: expected an object of strings');
        }
        const opts = body['DriverOpts'];
        if (opts !== undefined && opts !== null && Object.keys(opts as object).length > 0) {
          throw dockerError(400, 'unsupported option DriverOpts: the local driver of Strata takes no options');
        }
        const { volume } = await client.unary(VolumesService.create, { name, labels: labels as Record<string, string>, driver });
        ctx.json(201, volumeView(volume!));
      },
    },
    {
      method: 'GET',
      path: '/volumes/{name}',
      async handle(ctx) {
        const { volume } = await client.unary(VolumesService.inspect, { name: ctx.params['name'] as string });
        ctx.json(200, volumeView(volume!));
      },
    },
    {
      method: 'DELETE',
      path: '/volumes/{name}',
      async handle(ctx) {
        await client.unary(VolumesService.remove, { name: ctx.params['name'] as string, force: queryBool(ctx.query, 'force') });
        ctx.json(204);
      },
    },
    {
      method: 'POST',
      path: '/volumes/prune',
      async handle(ctx) {
        const filters = filterList(ctx.query, [...VOLUME_FILTERS, 'all']);
        const all = filters.some((f) => f === 'all=true' || f === 'all=1');
        const { volumesDeleted, spaceReclaimed } = await client.unary(VolumesService.prune, { all, filters: filters.filter((f) => !f.startsWith('all=')) });
        ctx.json(200, { VolumesDeleted: volumesDeleted, SpaceReclaimed: spaceReclaimed });
      },
    },
  ];
}
