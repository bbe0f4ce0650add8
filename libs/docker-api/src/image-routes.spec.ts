import { LayerStatus, type PullResponse } from '@strata/api/images/v1';
import { errorKind } from '@strata/kit';
import { describe, expect, it } from 'vitest';
import { dockerStatusOf } from './docker-error.js';
import { checkImageName, imageListFilters, pullReference, tagTarget } from './image-routes.js';
import { dockerHistory, dockerImageSummary } from './image-views.js';
import { createPullMessages } from './pull-messages.js';

const DIGEST = `sha256:${'ab'.repeat(32)}`;
const q = (params: Record<string, string>) => new URLSearchParams(params);

function failure(fn: () => unknown): { status: number; kind: string; message: string } {
  try {
    fn();
  } catch (err) {
    return { status: dockerStatusOf(err), kind: errorKind(err), message: (err as Error).message };
  }
  throw new Error('expected an error');
}

describe('pullReference', () => {
  it.each([
    [{ fromImage: 'busybox' }, 'docker.io/library/busybox:latest'],
    [{ fromImage: 'busybox', tag: '1.36' }, 'docker.io/library/busybox:1.36'],
    [{ fromImage: 'busybox:1.35', tag: '1.36' }, 'docker.io/library/busybox:1.36'],
    [{ fromImage: 'busybox', tag: DIGEST }, `docker.io/library/busybox@${DIGEST}`],
    [{ fromImage: `busybox@${DIGEST}`, tag: '1' }, 'docker.io/library/busybox:1'],
    [{ fromImage: 'ghcr.io/org/app', tag: 'v2' }, 'ghcr.io/org/app:v2'],
    [{ fromImage: '127.0.0.1:5050/local/busybox', tag: 'test' }, '127.0.0.1:5050/local/busybox:test'],
  ])('pulls %j as %s', (params, expected) => {
    expect(pullReference(q(params))).toBe(expected);
  });

  it.each([
    [{ fromImage: 'Busybox' }, 400, 'InvalidArgument', 'invalid reference format: repository name must be lowercase'],
    [{ fromImage: 'busybox', tag: 'a b' }, 400, 'InvalidArgument', 'invalid tag format: "a b"'],
    [{ fromImage: 'busybox:' }, 400, 'InvalidArgument', 'invalid reference format'],
    [{}, 400, 'Unknown', 'fromImage is required: the image to pull, e.g. fromImage=busybox&tag=latest'],
    [
      { fromSrc: '-', repo: 'x' },
      501,
      'Unknown',
      'importing a root filesystem (fromSrc) is not supported by the Docker API of Strata; use strata image import',
    ],
  ])('refuses %j with %i', (params, status, kind, message) => {
    const f = failure(() => pullReference(q(params)));
    expect(f.status).toBe(status);
    expect(f.message).toBe(message);
    if (kind !== 'Unknown') expect(f.kind).toBe(kind);
  });
});

describe('checkImageName and tagTarget', () => {
  it.each(['busybox', 'busybox:1', `busybox@${DIGEST}`, 'sha256:abc', 'a'.repeat(12), 'localhost:5000/a/b:c'])('accepts %s', (name) => {
    expect(checkImageName(name)).toBe(name);
  });

  it.each([
    ['Busybox', 'invalid reference format: repository name must be lowercase'],
    ['busybox:', 'invalid reference format'],
    ['', 'repository name must have at least one component'],
  ])('refuses %j as 400 InvalidArgument', (name, message) => {
    expect(failure(() => checkImageName(name))).toEqual({ status: 400, kind: 'InvalidArgument', message });
  });

  it.each([
    [{ repo: 'app' }, 'docker.io/library/app:latest'],
    [{ repo: 'app', tag: 'v2' }, 'docker.io/library/app:v2'],
    [{ repo: 'localhost:5000/team/app', tag: '1' }, 'localhost:5000/team/app:1'],
  ])('tags %j as %s', (params, expected) => {
    expect(tagTarget(q(params))).toBe(expected);
  });

  it.each([
    [{ repo: 'App' }, 'invalid reference format: repository name must be lowercase'],
    [{ repo: 'app', tag: DIGEST }, 'refusing to create a tag with a digest reference'],
    [{ repo: `app@${DIGEST}` }, 'refusing to create a tag with a digest reference'],
    [{}, 'repository name must have at least one component'],
  ])('refuses the target %j', (params, message) => {
    expect(failure(() => tagTarget(q(params)))).toEqual({ status: 400, kind: 'InvalidArgument', message });
  });
});

describe('imageListFilters', () => {
  it.each([
    [{}, { filters: [] }],
    [{ filters: JSON.stringify({ reference: { busybox: true } }) }, { filters: ['reference=busybox'] }],
    [{ filters: JSON.stringify({ label: ['a=b', 'c'], before: ['x'] }) }, { filters: ['label=a=b', 'label=c', 'before=x'] }],
    [{ filters: JSON.stringify({ dangling: ['true'] }) }, { filters: [], dangling: true }],
    [{ filters: JSON.stringify({ dangling: { false: true } }) }, { filters: [], dangling: false }],
  ])('reads %j', (params, expected) => {
    expect(imageListFilters(q(params))).toEqual(expected);
  });

  it.each([
    [{ filters: JSON.stringify({ until: ['1h'] }) }, "invalid filter 'until'"],
    [{ filters: JSON.stringify({ dangling: ['maybe'] }) }, "invalid filter 'dangling=maybe'"],
  ])('refuses %j with 400', (params, message) => {
    const f = failure(() => imageListFilters(q(params)));
    expect([f.status, f.message]).toEqual([400, message]);
  });
});

describe('Docker image shapes', () => {
  const created = new Date('2024-01-02T03:04:05Z');

  it('lists an image as Docker ImageSummary', () => {
    const summary = dockerImageSummary({
      id: DIGEST,
      repoTags: ['docker.io/library/busybox:latest'],
      repoDigests: [`docker.io/library/busybox@${DIGEST}`],
      created,
      size: 4200,
      labels: {},
      platform: undefined,
    });
    expect(summary).toEqual({
      Id: DIGEST,
      ParentId: '',
      RepoTags: ['busybox:latest'],
      RepoDigests: [`busybox@${DIGEST}`],
      Created: 1704164645,
      Size: 4200,
      SharedSize: -1,
      VirtualSize: 4200,
      Labels: null,
      Containers: -1,
    });
  });

  it('gives the newest history step the image id and tags, older ones <missing>', () => {
    const steps = [
      { created, createdBy: 'strata commit', author: 'me', comment: 'hello', emptyLayer: false, diffId: DIGEST, size: 120 },
      { created: undefined, createdBy: 'ADD rootfs', author: '', comment: '', emptyLayer: false, diffId: DIGEST, size: 4000 },
    ];
    expect(dockerHistory(steps, { id: DIGEST, repoTags: ['docker.io/library/app:1'] })).toEqual([
      { Id: DIGEST, Created: 1704164645, CreatedBy: 'strata commit', Tags: ['app:1'], Size: 120, Comment: 'hello' },
      { Id: '<missing>', Created: 0, CreatedBy: 'ADD rootfs', Tags: null, Size: 4000, Comment: '' },
    ]);
  });
});

describe('createPullMessages', () => {
  const L1 = `sha256:${'1'.repeat(64)}`;
  const L2 = `sha256:${'2'.repeat(64)}`;
  const layer = (digest: string, status: LayerStatus, offset = 0, total = 100): PullResponse => ({
    event: { $case: 'layer', value: { digest, mediaType: '', index: 0, total, offset, status } },
  });

  it('says what docker pull says, in Docker JSON messages', () => {
    const ref = 'docker.io/library/busybox:latest';
    const events: PullResponse[] = [
      { event: { $case: 'resolving', value: { ref } } },
      {
        event: {
          $case: 'resolved',
          value: { ref, target: { mediaType: '', digest: DIGEST, size: 1, annotations: {} }, manifest: undefined, platform: undefined, config: undefined, layers: [] },
        },
      },
      layer(L1, LayerStatus.LAYER_STATUS_WAITING),
      layer(L2, LayerStatus.LAYER_STATUS_EXISTS),
      layer(L1, LayerStatus.LAYER_STATUS_DOWNLOADING, 40),
      layer(L1, LayerStatus.LAYER_STATUS_DOWNLOADING, 100),
      layer(L1, LayerStatus.LAYER_STATUS_VERIFYING, 100),
      layer(L1, LayerStatus.LAYER_STATUS_STORED, 100),
      layer(L1, LayerStatus.LAYER_STATUS_DONE, 100),
      layer(L2, LayerStatus.LAYER_STATUS_DONE, 100),
      { event: { $case: 'done', value: { image: undefined, upToDate: false } } },
    ];
    const messages = createPullMessages();
    const id = '111111111111';
    expect(events.flatMap((e) => messages.next(e))).toEqual([
      { status: 'Pulling from library/busybox', id: 'latest' },
      { status: 'Pulling fs layer', progressDetail: {}, id },
      { status: 'Waiting', progressDetail: {}, id },
      { status: 'Already exists', progressDetail: {}, id: '222222222222' },
      { status: 'Downloading', progressDetail: { current: 40, total: 100 }, id },
      { status: 'Downloading', progressDetail: { current: 100, total: 100 }, id },
      { status: 'Verifying Checksum', progressDetail: {}, id },
      { status: 'Download complete', progressDetail: {}, id },
      { status: 'Pull complete', progressDetail: {}, id },
      { status: `Digest: ${DIGEST}` },
      { status: 'Status: Downloaded newer image for busybox:latest' },
    ]);
  });

  it.each([
    [true, [{ status: 'Status: Image is up to date for busybox:latest' }]],
    [
      false,
      [
        { status: 'Already exists', progressDetail: {}, id: '111111111111' },
        { status: 'Already exists', progressDetail: {}, id: '222222222222' },
        { status: 'Status: Downloaded newer image for busybox:latest' },
      ],
    ],
  ])('shows layers that exist only when the pull is not up to date (up to date: %s)', (upToDate, expected) => {
    const messages = createPullMessages();
    const ref = 'docker.io/library/busybox:latest';
    const events: PullResponse[] = [
      { event: { $case: 'resolving', value: { ref } } },
      layer(L1, LayerStatus.LAYER_STATUS_EXISTS),
      layer(L2, LayerStatus.LAYER_STATUS_EXISTS),
      layer(L1, LayerStatus.LAYER_STATUS_DONE),
      layer(L2, LayerStatus.LAYER_STATUS_DONE),
      { event: { $case: 'done', value: { image: undefined, upToDate } } },
    ];
    expect(events.flatMap((e) => messages.next(e))).toEqual(expected);
  });

  it('says the image is up to date, and names a digest pull by its digest', () => {
    const ref = `docker.io/library/busybox@${DIGEST}`;
    const messages = createPullMessages();
    const out = [
      ...messages.next({ event: { $case: 'resolving', value: { ref } } }),
      ...messages.next({
        event: { $case: 'resolved', value: { ref, target: undefined, manifest: undefined, platform: undefined, config: undefined, layers: [] } },
      }),
      ...messages.next({ event: { $case: 'done', value: { image: undefined, upToDate: true } } }),
    ];
    expect(out).toEqual([
      { status: 'Pulling from library/busybox', id: DIGEST },
      { status: `Status: Image is up to date for busybox@${DIGEST}` },
    ]);
  });
});
