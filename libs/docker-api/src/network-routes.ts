import { ContainersService, NetworkMode, type Container } from '@strata/api/containers/v1';
import { dockerError } from './docker-error.js';
import { checkFilterNames, queryFilters } from './docker-query.js';
import type { DockerRoute } from './docker-router.js';
import type { DockerApiDeps } from './index.js';

/** The one network Strata serves: Docker's default `bridge`, the node-agent's bridge. */
export const BRIDGE_NETWORK = 'bridge';

/** The node-agent's bridge network, as `GET /networks/bridge` shows it. */
export interface DockerBridgeNetwork {
  /** The host's bridge device (`strata0`), shown as `com.docker.network.bridge.name`. */
  device: string;
  /** The containers' IPv4 subnet, e.g. `10.88.0.0/16`. */
  subnet: string;
  /** The bridge's address, the containers' default route, e.g. `10.88.0.1`. */
  gateway: string;
}

/** The network list filters served; others are a 400 `invalid filter`. */
const NETWORK_FILTERS = ['name', 'id', 'driver', 'scope', 'type'] as const;

/** A container on the bridge as a network's `Containers` entry. */
function endpointOf(container: Container): Record<string, string> {
  const network = container.network;
  return {
    Name: container.name,
    EndpointID: '',
    MacAddress: '',
    IPv4Address: network === undefined || network.ipAddress === '' ? '' : `${network.ipAddress}/${network.prefixLength}`,
    IPv6Address: '',
  };
}

/**
 * The bridge network as Docker's NetworkResource (`GET /networks/{id}` and
 * an entry of `GET /networks`): Name and Id `bridge`, Driver `bridge`,
 * Scope `local`, IPAM Config with bridge's subnet and gateway, and, when
 * containers is given, the containers attached to it (name and address).
 */
export function bridgeNetworkView(bridge: DockerBridgeNetwork, containers?: readonly Container[]): Record<string, unknown> {
  const attached: Record<string, Record<string, string>> = {};
  for (const c of containers ?? []) {
    if (c.network?.mode === NetworkMode.NETWORK_MODE_BRIDGE && c.network.ipAddress !== '') attached[c.id] = endpointOf(c);
  }
  return {
    Name: BRIDGE_NETWORK,
    Id: BRIDGE_NETWORK,
    Created: '0001-01-01T00:00:00Z',
    Scope: 'local',
    Driver: 'bridge',
    EnableIPv6: false,
    IPAM: { Driver: 'default', Options: null, Config: [{ Subnet: bridge.subnet, Gateway: bridge.gateway }] },
    Internal: false,
    Attachable: false,
    Ingress: false,
    ConfigFrom: { Network: '' },
    ConfigOnly: false,
    Containers: attached,
    Options: { 'com.docker.network.bridge.default_bridge': 'true', 'com.docker.network.bridge.name': bridge.device },
    Labels: {},
  };
}

/** True when the bridge network passes every filter (values of one filter ORed, filters ANDed). */
function matches(filters: Map<string, string[]>): boolean {
  const tests: Record<(typeof NETWORK_FILTERS)[number], (v: string) => boolean> = {
    name: (v) => BRIDGE_NETWORK.includes(v),
    id: (v) => BRIDGE_NETWORK.startsWith(v),
    driver: (v) => v === 'bridge',
    scope: (v) => v === 'local',
    type: (v) => {
      if (v !== 'builtin' && v !== 'custom') throw dockerError(400, `invalid filter: 'type'='${v}'`);
      return v === 'builtin';
    },
  };
  return [...filters].every(([name, values]) => values.length === 0 || values.some(tests[name as (typeof NETWORK_FILTERS)[number]]));
}

/**
 * The read-only network endpoints: `GET /networks` (the bridge, filtered by
 * name, id, driver, scope, type) and `GET /networks/{id}` for `bridge`
 * (with its containers, from the node-agent's list of running ones). 404
 * `network … not found` for any other network, or for every network when
 * deps.bridge is not set; DockerError 400 for an unknown filter. Creating,
 * connecting and removing networks are not served (404 page not found).
 */
export function networkRoutes(deps: DockerApiDeps): DockerRoute[] {
  return [
    {
      method: 'GET',
      path: '/networks',
      async handle(ctx) {
        const filters = queryFilters(ctx.query);
        checkFilterNames(filters, NETWORK_FILTERS);
        const show = deps.bridge !== undefined && matches(filters);
        ctx.json(200, show && deps.bridge !== undefined ? [bridgeNetworkView(deps.bridge)] : []);
      },
    },
    {
      method: 'GET',
      path: '/networks/{id}',
      async handle(ctx) {
        const id = ctx.params['id'] as string;
        if (deps.bridge === undefined || id !== BRIDGE_NETWORK) throw dockerError(404, `network ${id} not found`);
        const { containers } = await deps.containers.unary(ContainersService.list, { all: false, filters: [] });
        ctx.json(200, bridgeNetworkView(deps.bridge, containers));
      },
    },
  ];
}
