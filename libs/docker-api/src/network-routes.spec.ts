import { ContainerStatus, NetworkMode, type Container } from '@strata/api/containers/v1';
import { createClient, type RpcClient } from '@strata/grpc-kit';
import { silentLogger } from '@strata/kit';
import { tempDir } from '@strata/kit/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDockerApiServer, type DockerApiServer } from './docker-server.js';
import { bridgeNetworkView, networkRoutes, type DockerBridgeNetwork } from './network-routes.js';
import { dockerRequest } from './testing/docker-request.js';
import type { DockerApiDeps } from './index.js';

const BRIDGE: DockerBridgeNetwork = { device: 'strata0', subnet: '10.88.0.0/16', gateway: '10.88.0.1' };

function container(id: string, name: string, mode: NetworkMode, ipAddress: string): Container {
  return {
    id,
    name,
    image: 'busybox',
    imageId: '',
    command: [],
    state: { status: ContainerStatus.CONTAINER_STATUS_RUNNING, pid: 1, exitCode: 0, oomKilled: false, error: '' },
    network: { mode, ipAddress, gateway: '10.88.0.1', prefixLength: 16, ports: [] },
    node: 'n1',
    logPath: '',
    snapshotKey: '',
    restartCount: 0,
  };
}

describe('bridgeNetworkView', () => {
  it("shows the bridge as Docker's default bridge network, with the containers on it", () => {
    const view = bridgeNetworkView(BRIDGE, [
      container('a'.repeat(64), 'web', NetworkMode.NETWORK_MODE_BRIDGE, '10.88.0.2'),
      container('b'.repeat(64), 'host-net', NetworkMode.NETWORK_MODE_HOST, ''),
    ]);
    expect(view).toMatchObject({
      Name: 'bridge',
      Id: 'bridge',
      Scope: 'local',
      Driver: 'bridge',
      IPAM: { Driver: 'default', Options: null, Config: [{ Subnet: '10.88.0.0/16', Gateway: '10.88.0.1' }] },
      Options: { 'com.docker.network.bridge.default_bridge': 'true', 'com.docker.network.bridge.name': 'strata0' },
      Containers: { ['a'.repeat(64)]: { Name: 'web', EndpointID: '', MacAddress: '', IPv4Address: '10.88.0.2/16', IPv6Address: '' } },
    });
    expect(Object.keys(view['Containers'] as object)).toHaveLength(1);
  });
});

describe('the network endpoints', () => {
  const dir = tempDir('docker-networks-');
  const socketPath = `${dir.path}/docker.sock`;
  // Never dialled: the list and the refusals below ask the node-agent nothing.
  let containers: RpcClient;
  let server: DockerApiServer;
  let bare: DockerApiServer;

  beforeAll(async () => {
    containers = createClient({ unixSocket: `${dir.path}/node-agent.sock` });
    const deps = { containers, images: containers, natsUrl: '', node: 'n1', logger: silentLogger(), version: '0', cgroupVersion: 2, rootDir: dir.path } satisfies DockerApiDeps;
    server = await startDockerApiServer({ socketPath, routes: networkRoutes({ ...deps, bridge: BRIDGE }), logger: silentLogger() });
    bare = await startDockerApiServer({ socketPath: `${dir.path}/bare.sock`, routes: networkRoutes(deps), logger: silentLogger() });
  });

  afterAll(async () => {
    await server?.close();
    await bare?.close();
    containers?.close();
    dir.remove();
  });

  const filters = (f: Record<string, string[]>) => `/networks?filters=${encodeURIComponent(JSON.stringify(f))}`;

  it.each([
    ['/networks', ['bridge']],
    [filters({ name: ['brid'] }), ['bridge']],
    [filters({ driver: ['bridge'], scope: ['local'], type: ['builtin'] }), ['bridge']],
    [filters({ name: ['mynet'] }), []],
    [filters({ type: ['custom'] }), []],
    [filters({ id: ['bridge'], driver: ['overlay'] }), []],
  ])('GET %s lists %j', async (path, names) => {
    const res = await dockerRequest(socketPath, 'GET', path);
    expect(res.status).toBe(200);
    expect((res.json() as Array<{ Name: string; Containers: object }>).map((n) => n.Name)).toEqual(names);
  });

  it.each([
    [filters({ dangling: ['true'] }), 400, "invalid filter 'dangling'", 'docker.sock'],
    [filters({ type: ['odd'] }), 400, "invalid filter: 'type'='odd'", 'docker.sock'],
    ['/networks/host', 404, 'network host not found', 'docker.sock'],
    ['/networks/bridge', 404, 'network bridge not found', 'bare.sock'],
  ])('refuses GET %s with %i %s (on %s)', async (path, status, message, socket) => {
    const res = await dockerRequest(`${dir.path}/${socket}`, 'GET', path);
    expect([res.status, res.json()]).toEqual([status, { message }]);
  });

  it('serves no network on an agent without a bridge', async () => {
    expect((await dockerRequest(`${dir.path}/bare.sock`, 'GET', '/networks')).json()).toEqual([]);
  });
});
