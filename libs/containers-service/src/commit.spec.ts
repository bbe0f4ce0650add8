import type { ContainerSpec } from '@strata/containers';
import { recordFixture } from '@strata/containers/testing';
import { errorKind, type ErrorKind } from '@strata/kit';
import type { ContainerConfig } from '@strata/oci';
import { describe, expect, it } from 'vitest';
import { commitReference, effectiveRunConfig } from './commit.js';

const baseSpec = recordFixture().spec;
const image: ContainerConfig = {
  Env: ['PATH=/bin', 'A=image'],
  Entrypoint: ['/entry'],
  Cmd: ['serve'],
  WorkingDir: '/srv',
  User: 'app',
  ExposedPorts: { '80/tcp': {} },
  Labels: { from: 'image' },
  StopSignal: 'SIGQUIT',
};

describe('effectiveRunConfig', () => {
  it.each<[string, Partial<ContainerSpec>, ContainerConfig]>([
    ['keeps the image config when the container asked for nothing', {}, image],
    [
      'merges env by name, takes cmd, workdir and user',
      { env: ['A=run', 'B=new'], cmd: ['other', 'arg'], workingDir: '/tmp', user: 'nobody' },
      { ...image, Env: ['PATH=/bin', 'A=run', 'B=new'], Cmd: ['other', 'arg'], WorkingDir: '/tmp', User: 'nobody' },
    ],
    ['drops the image cmd with a new entrypoint', { entrypoint: ['/other'] }, { ...image, Entrypoint: ['/other'], Cmd: undefined }],
    ['clears the entrypoint with an empty one, keeping a given cmd', { entrypoint: [], cmd: ['sh'] }, { ...image, Entrypoint: undefined, Cmd: ['sh'] }],
    [
      'adds published container ports and labels',
      { ports: [{ hostIp: '', hostPort: 0, containerPort: 53, protocol: 'udp' }], labels: { from: 'run', extra: '1' } },
      { ...image, ExposedPorts: { '80/tcp': {}, '53/udp': {} }, Labels: { from: 'run', extra: '1' } },
    ],
  ])('%s', (_name, over, expected) => {
    const out = effectiveRunConfig(image, { ...baseSpec, ...over });
    expect(JSON.parse(JSON.stringify(out))).toEqual(JSON.parse(JSON.stringify(expected)));
    expect(image.Env).toEqual(['PATH=/bin', 'A=image']);
  });
});

describe('commitReference', () => {
  it('normalizes a short name', () => {
    expect(commitReference('web02:1.1').toString()).toBe('docker.io/library/web02:1.1');
    expect(commitReference('localhost:5000/team/app').toString()).toBe('localhost:5000/team/app:latest');
  });

  it.each<[string, ErrorKind, string]>([
    ['Web02:1.1', 'InvalidArgument', 'invalid reference format: repository name must be lowercase'],
    ['', 'InvalidArgument', 'a repository[:tag] to commit the container as is required, e.g. web02:1.1'],
    [`web02@sha256:${'a'.repeat(64)}`, 'InvalidArgument', 'refusing to create a tag with a digest reference'],
    ['web02:a b', 'InvalidArgument', 'invalid reference format'],
  ])('refuses %j', (text, kind, message) => {
    let caught: unknown;
    try {
      commitReference(text);
    } catch (err) {
      caught = err;
    }
    expect({ kind: errorKind(caught), message: (caught as Error | undefined)?.message }).toEqual({ kind, message });
  });
});
