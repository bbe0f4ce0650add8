import type { Image } from '@strata/api/images/v1';
import { describe, expect, it } from 'vitest';
import { dockerImageInspect } from './image-views.js';

const ID = `sha256:${'c'.repeat(64)}`;
const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;

describe('dockerImageInspect', () => {
  const image: Image = {
    id: ID,
    repoTags: ['docker.io/library/nginx:1'],
    repoDigests: [`docker.io/library/nginx@${D1}`],
    created: new Date('2024-01-01T00:00:00Z'),
    size: 1234,
    architecture: 'arm',
    os: 'linux',
    variant: 'v7',
    osVersion: '',
    author: 'Strata',
    comment: 'built',
    config: {
      user: 'nobody',
      exposedPorts: ['80/tcp', '53/udp'],
      env: ['PATH=/bin'],
      entrypoint: ['/entrypoint.sh'],
      cmd: ['nginx', '-g', 'daemon off;'],
      volumes: ['/data'],
      workingDir: '/srv',
      labels: { 'org.example': 'yes' },
      stopSignal: 'SIGQUIT',
      argsEscaped: false,
      healthcheck: { test: ['CMD', 'true'], intervalNanos: 30_000_000_000, timeoutNanos: 0, startPeriodNanos: 0, startIntervalNanos: 0, retries: 3 },
      onBuild: [],
      shell: [],
    },
    rootfs: { type: 'layers', layers: [D1, D2] },
    history: [],
    target: { mediaType: 'application/vnd.oci.image.index.v1+json', digest: D1, size: 500, annotations: {} },
    manifest: undefined,
    configDescriptor: undefined,
    layers: [],
  };

  it('is shaped like docker image inspect', () => {
    const config = {
      User: 'nobody',
      ExposedPorts: { '80/tcp': {}, '53/udp': {} },
      Env: ['PATH=/bin'],
      Cmd: ['nginx', '-g', 'daemon off;'],
      Healthcheck: { Test: ['CMD', 'true'], Interval: 30_000_000_000, Retries: 3 },
      Volumes: { '/data': {} },
      WorkingDir: '/srv',
      Entrypoint: ['/entrypoint.sh'],
      OnBuild: null,
      Labels: { 'org.example': 'yes' },
      StopSignal: 'SIGQUIT',
    };
    expect(dockerImageInspect(image)).toEqual({
      Id: ID,
      RepoTags: ['nginx:1'],
      RepoDigests: [`nginx@${D1}`],
      Parent: '',
      Comment: 'built',
      Created: '2024-01-01T00:00:00Z',
      Container: '',
      ContainerConfig: config,
      DockerVersion: '',
      Author: 'Strata',
      Config: config,
      Architecture: 'arm',
      Variant: 'v7',
      Os: 'linux',
      Size: 1234,
      VirtualSize: 1234,
      GraphDriver: { Name: 'overlay2', Data: null },
      RootFS: { Type: 'layers', Layers: [D1, D2] },
      Metadata: { LastTagTime: '0001-01-01T00:00:00Z' },
      Descriptor: { mediaType: 'application/vnd.oci.image.index.v1+json', digest: D1, size: 500 },
    });
  });

  it('shows what is empty as docker does: null lists, no ports, no Created when unknown', () => {
    const bare = dockerImageInspect({ ...image, created: undefined, variant: '', config: undefined, rootfs: undefined, target: undefined });
    expect(bare).not.toHaveProperty('Created');
    expect(bare).not.toHaveProperty('Variant');
    expect(bare).not.toHaveProperty('Descriptor');
    expect(bare.Config).toEqual({ User: '', Env: null, Cmd: null, Volumes: null, WorkingDir: '', Entrypoint: null, OnBuild: null, Labels: null });
    expect(bare.RootFS).toEqual({ Type: 'layers', Layers: [] });
  });
});
