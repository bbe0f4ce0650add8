import type { Logger } from '@strata/kit';
import type { RpcClient } from '@strata/grpc-kit';
import type { DockerRoute } from './docker-router.js';
import { archiveRoutes } from './archive-routes.js';
import { containerRoutes } from './container-routes.js';
import { execRoutes } from './exec-routes.js';
import { systemRoutes } from './system-routes.js';
import { commitRoute } from './commit-route.js';
import { eventRoutes } from './event-routes.js';
import { imageRoutes } from './image-routes.js';
import { networkRoutes, type DockerBridgeNetwork } from './network-routes.js';
import { volumeRoutes } from './volume-routes.js';

export * from './docker-error.js';
export * from './docker-query.js';
export * from './docker-router.js';
export * from './docker-server.js';
export * from './views.js';
export * from './pull-messages.js';
export * from './docker-events.js';
export * from './image-routes.js';
export * from './commit-route.js';
export * from './event-routes.js';
export * from './network-routes.js';

/** What the Docker Engine API routes translate onto. */
export interface DockerApiDeps {
  /** A client of the node-agent's own `Containers` service. */
  containers: RpcClient;
  /** A client of the registry-mirror's `Images` service. */
  images: RpcClient;
  /** NATS URL(s) of the event stream STRATA_EVENTS; '' = no events. */
  natsUrl: string;
  /** This node's name (`/info` Name, container lists). */
  node: string;
  logger: Logger;
  /** Strata's version, reported as the engine version. */
  version: string;
  /** The host's cgroup version, as `/info` CgroupVersion. */
  cgroupVersion: 1 | 2;
  /** The node-agent's state directory, as `/info` DockerRootDir. */
  rootDir: string;
  /** The node-agent's bridge network, served as Docker's `bridge` network; without it no network is served. */
  bridge?: DockerBridgeNetwork;
}

/** Every Docker Engine API route, translated onto deps' services. */
export function dockerRoutes(deps: DockerApiDeps): DockerRoute[] {
  return [...systemRoutes(deps), ...containerRoutes(deps), ...archiveRoutes(deps), ...execRoutes(deps), ...imageRoutes(deps), commitRoute(deps), ...eventRoutes(deps), ...networkRoutes(deps), ...volumeRoutes(deps)];
}
