import { readFile } from 'node:fs/promises';
import { arch, cpus, hostname, release, totalmem } from 'node:os';
import { ContainersService, ContainerStatus } from '@strata/api/containers/v1';
import { ImagesService } from '@strata/api/images/v1';
import { DOCKER_API_VERSION, DOCKER_MIN_API_VERSION, type DockerRoute } from './docker-router.js';
import type { DockerApiDeps } from './index.js';

/** The snapshotter driver name `/info` reports as Driver. */
export const STORAGE_DRIVER = 'overlayfs';

/** Go's name for Node's process.arch, as Docker reports Arch. */
export function goArch(nodeArch: string = arch()): string {
  const names: Record<string, string> = { x64: 'amd64', ia32: '386', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x' };
  return names[nodeArch] ?? nodeArch;
}

/** uname's machine name for Node's process.arch, as Docker reports Architecture. */
function unameArch(nodeArch: string = arch()): string {
  const names: Record<string, string> = { x64: 'x86_64', ia32: 'i686', arm64: 'aarch64', arm: 'armv7l' };
  return names[nodeArch] ?? nodeArch;
}

async function operatingSystem(): Promise<{ name: string; version: string }> {
  try {
    const text = await readFile('/etc/os-release', 'utf8');
    const field = (key: string) => (new RegExp(`^${key}=(.*)$`, 'm').exec(text)?.[1] ?? '').replace(/^"|"$/g, '');
    return { name: field('PRETTY_NAME') || 'Linux', version: field('VERSION_ID') };
  } catch {
    return { name: 'Linux', version: '' };
  }
}

function versionBody(deps: DockerApiDeps) {
  const details = {
    ApiVersion: DOCKER_API_VERSION,
    MinAPIVersion: DOCKER_MIN_API_VERSION,
    GitCommit: '',
    GoVersion: `node${process.versions.node}`,
    Os: 'linux',
    Arch: goArch(),
    KernelVersion: release(),
    BuildTime: '',
  };
  return {
    Platform: { Name: 'Strata' },
    Components: [{ Name: 'Engine', Version: deps.version, Details: details }],
    Version: deps.version,
    ...details,
  };
}

/**
 * `/_ping` (GET and HEAD: `OK` with Api-Version, Ostype, Docker-Experimental
 * and `Cache-Control: no-cache, no-store, must-revalidate`), `/version` and
 * `/info` (container counts from the node-agent, the image count from the
 * mirror, host facts, `Swarm.LocalNodeState: inactive`). `/info` raises what
 * the Containers or Images clients raise (Unavailable → 503).
 */
export function systemRoutes(deps: DockerApiDeps): DockerRoute[] {
  const ping = (method: 'GET' | 'HEAD'): DockerRoute => ({
    method,
    path: '/_ping',
    async handle({ res }) {
      res.writeHead(200, {
        'Content-Type': 'text/plain; charset=utf-8',
        'Cache-Control': 'no-cache, no-store, must-revalidate',
        Pragma: 'no-cache',
        'Content-Length': '2',
      });
      res.end(method === 'GET' ? 'OK' : undefined);
    },
  });
  return [
    ping('GET'),
    ping('HEAD'),
    {
      method: 'GET',
      path: '/version',
      async handle(ctx) {
        ctx.json(200, versionBody(deps));
      },
    },
    {
      method: 'GET',
      path: '/info',
      async handle(ctx) {
        const [containers, images, os] = await Promise.all([
          deps.containers.unary(ContainersService.list, { all: true, filters: [] }),
          deps.images.unary(ImagesService.list, { filters: [] }),
          operatingSystem(),
        ]);
        const count = (status: ContainerStatus) => containers.containers.filter((c) => c.state?.status === status).length;
        const running = count(ContainerStatus.CONTAINER_STATUS_RUNNING);
        const paused = count(ContainerStatus.CONTAINER_STATUS_PAUSED);
        ctx.json(200, {
          ID: deps.node,
          Containers: containers.containers.length,
          ContainersRunning: running,
          ContainersPaused: paused,
          ContainersStopped: containers.containers.length - running - paused,
          Images: images.images.length,
          Driver: STORAGE_DRIVER,
          DriverStatus: [['Snapshotter', 'strata-snapshotter']],
          Plugins: { Volume: [], Network: ['bridge', 'host', 'none'], Authorization: null, Log: ['json-file'] },
          MemoryLimit: true,
          SwapLimit: false,
          KernelMemory: false,
          KernelMemoryTCP: false,
          CpuCfsPeriod: true,
          CpuCfsQuota: true,
          CPUShares: true,
          CPUSet: false,
          PidsLimit: true,
          IPv4Forwarding: true,
          BridgeNfIptables: true,
          BridgeNfIp6tables: false,
          Debug: false,
          NFd: 0,
          OomKillDisable: false,
          NGoroutines: 0,
          SystemTime: new Date().toISOString(),
          LoggingDriver: 'json-file',
          CgroupDriver: 'cgroupfs',
          CgroupVersion: String(deps.cgroupVersion),
          NEventsListener: 0,
          KernelVersion: release(),
          OperatingSystem: os.name,
          OSVersion: os.version,
          OSType: 'linux',
          Architecture: unameArch(),
          IndexServerAddress: 'https://index.docker.io/v1/',
          RegistryConfig: { AllowNondistributableArtifactsCIDRs: [], AllowNondistributableArtifactsHostnames: [], InsecureRegistryCIDRs: [], IndexConfigs: {}, Mirrors: [] },
          NCPU: cpus().length,
          MemTotal: totalmem(),
          GenericResources: null,
          DockerRootDir: deps.rootDir,
          HttpProxy: '',
          HttpsProxy: '',
          NoProxy: '',
          Name: deps.node || hostname(),
          Labels: [],
          ExperimentalBuild: false,
          ServerVersion: deps.version,
          Runtimes: { runc: { path: 'runc' } },
          DefaultRuntime: 'runc',
          Swarm: { NodeID: '', NodeAddr: '', LocalNodeState: 'inactive', ControlAvailable: false, Error: '', RemoteManagers: null },
          LiveRestoreEnabled: true,
          Isolation: '',
          InitBinary: '',
          ContainerdCommit: { ID: '', Expected: '' },
          RuncCommit: { ID: '', Expected: '' },
          InitCommit: { ID: '', Expected: '' },
          SecurityOptions: ['name=seccomp,profile=builtin', 'name=cgroupns'].slice(0, deps.cgroupVersion === 2 ? 2 : 1),
          Warnings: [],
        });
      },
    },
  ];
}
