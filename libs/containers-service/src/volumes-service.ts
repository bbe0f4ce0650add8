import { VolumesService, type Volume } from '@strata/api/containers/v1';
import type { VolumeUse } from '@strata/containers';
import { unary, type ServiceRegistration } from '@strata/grpc-kit';
import type { Logger } from '@strata/kit';
import type { Volumes } from './volumes.js';

/** The wire form of a volume. */
function volumeToProto(use: VolumeUse, mountpoint: string): Volume {
  const v = use.volume;
  return { name: v.name, driver: v.driver, mountpoint, createdAt: new Date(v.createdAt), labels: { ...v.labels }, usedBy: [...use.usedBy] };
}

/**
 * The `strata.containers.v1.Volumes` gRPC service over volumes. Errors are
 * the volumes' (Docker's texts), translated to gRPC statuses by grpc-kit.
 */
export function createVolumesService(volumes: Volumes, options: { logger: Logger }): ServiceRegistration {
  const { logger } = options;
  const wire = (use: VolumeUse) => volumeToProto(use, volumes.pathOf(use.volume.name));
  return {
    definition: VolumesService,
    implementation: {
      create: unary(logger, async (req: { name: string; labels: Record<string, string>; driver: string }) => ({
        volume: wire(await volumes.create(req.name, { labels: req.labels, driver: req.driver })),
      })),
      list: unary(logger, async (req: { filters: string[] }) => ({ volumes: (await volumes.list(req.filters)).map(wire) })),
      inspect: unary(logger, async (req: { name: string }) => ({ volume: wire(await volumes.inspect(req.name)) })),
      remove: unary(logger, async (req: { name: string; force: boolean }) => {
        await volumes.remove(req.name, req.force);
        return {};
      }),
      prune: unary(logger, async (req: { all: boolean; filters: string[] }) => {
        const result = await volumes.prune({ all: req.all, filters: req.filters });
        return { volumesDeleted: result.deleted, spaceReclaimed: result.spaceReclaimed };
      }),
    },
  };
}
