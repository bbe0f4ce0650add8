import type { HistoryEntry, ImageSummary } from '@strata/api/images/v1';
import { errorKind } from '@strata/kit';
import { describe, expect, it } from 'vitest';
import {
  checkImageName,
  familiarRef,
  historyRows,
  imageRows,
  parseTagTarget,
  usesDefaultTag,
} from './image-views.js';

const ID = `sha256:${'c'.repeat(64)}`;
const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;
const NOW = new Date('2024-01-15T00:00:00Z');

const summary = (over: Partial<ImageSummary> = {}): ImageSummary => ({
  id: ID,
  repoTags: [],
  repoDigests: [],
  created: new Date('2024-01-01T00:00:00Z'),
  size: 4_261_550,
  labels: {},
  platform: { os: 'linux', architecture: 'amd64', variant: '' },
  ...over,
});

function thrown(fn: () => unknown): { kind: string; message: string } {
  try {
    fn();
  } catch (err) {
    return { kind: errorKind(err), message: (err as Error).message };
  }
  throw new Error('expected an error');
}

describe('reference checks', () => {
  it.each([
    ['Busybox', 'invalid reference format: repository name must be lowercase'],
    ['busybox:', 'invalid reference format'],
    ['', 'repository name must have at least one component'],
  ])('checkImageName(%j) raises InvalidArgument %j', (text, message) => {
    expect(thrown(() => checkImageName(text))).toEqual({ kind: 'InvalidArgument', message });
  });

  it.each([['busybox'], [ID], ['c'.repeat(64)], ['cccccccccccc'], ['sha256:cccc'], ['localhost:5000/app:v1']])(
    'checkImageName(%j) passes it on unchanged',
    (text) => expect(checkImageName(text)).toBe(text),
  );

  it.each([
    [`busybox@${D1}`, 'refusing to create a tag with a digest reference'],
    ['App', 'invalid reference format: repository name must be lowercase'],
  ])('parseTagTarget(%j) raises InvalidArgument %j', (text, message) => {
    expect(thrown(() => parseTagTarget(text))).toEqual({ kind: 'InvalidArgument', message });
  });

  it('normalizes a tag target', () => expect(parseTagTarget('app').toString()).toBe('docker.io/library/app:latest'));

  it.each([
    ['busybox', true],
    ['localhost:5000/app', true],
    ['busybox:1.36', false],
    ['localhost:5000/app:v1', false],
    [`busybox@${D1}`, false],
  ])('usesDefaultTag(%j) is %s', (text, expected) => expect(usesDefaultTag(text)).toBe(expected));

  it.each([
    ['docker.io/library/busybox:latest', 'busybox:latest'],
    [`docker.io/library/busybox@${D1}`, `busybox@${D1}`],
    ['docker.io/team/app:1', 'team/app:1'],
    ['ghcr.io/org/app:1', 'ghcr.io/org/app:1'],
    ['not a ref', 'not a ref'],
  ])('familiarRef(%j) is %j', (text, expected) => expect(familiarRef(text)).toBe(expected));
});

describe('imageRows', () => {
  const tagged = summary({
    repoTags: ['docker.io/library/busybox:latest', 'docker.io/library/busybox:1.36', 'upstream.test/team/app:1.0'],
    repoDigests: ['docker.io/library/busybox@' + D1, 'upstream.test/team/app@' + D2],
  });

  it('shows one row per repository and tag, with docker sizes and ages', () => {
    expect(imageRows([tagged], { now: NOW })).toEqual([
      { Repository: 'busybox', Tag: 'latest', Digest: '<none>', ID: 'cccccccccccc', CreatedAt: '2024-01-01T00:00:00Z', CreatedSince: '2 weeks ago', Size: '4.26MB' },
      { Repository: 'busybox', Tag: '1.36', Digest: '<none>', ID: 'cccccccccccc', CreatedAt: '2024-01-01T00:00:00Z', CreatedSince: '2 weeks ago', Size: '4.26MB' },
      { Repository: 'upstream.test/team/app', Tag: '1.0', Digest: '<none>', ID: 'cccccccccccc', CreatedAt: '2024-01-01T00:00:00Z', CreatedSince: '2 weeks ago', Size: '4.26MB' },
    ]);
  });

  it('shows the digests of each repository with digests, and full ids with noTrunc', () => {
    const rows = imageRows([tagged], { now: NOW, digests: true, noTrunc: true });
    expect(rows.map((r) => [r.Repository, r.Tag, r.Digest, r.ID])).toEqual([
      ['busybox', 'latest', D1, ID],
      ['busybox', '1.36', D1, ID],
      ['upstream.test/team/app', '1.0', D2, ID],
    ]);
  });

  it('shows digest-only repositories with tag <none>, and <none> <none> for a nameless image', () => {
    const digestOnly = summary({ repoDigests: ['docker.io/library/busybox@' + D1], created: undefined, size: 0 });
    expect(imageRows([digestOnly, summary()], { now: NOW }).map((r) => [r.Repository, r.Tag, r.Digest, r.CreatedSince, r.CreatedAt, r.Size])).toEqual([
      ['busybox', '<none>', '<none>', 'N/A', '', '0B'],
      ['<none>', '<none>', '<none>', '2 weeks ago', '2024-01-01T00:00:00Z', '4.26MB'],
    ]);
    expect(imageRows([digestOnly], { now: NOW, digests: true }).map((r) => [r.Repository, r.Tag, r.Digest])).toEqual([
      ['busybox', '<none>', D1],
    ]);
  });
});

describe('historyRows', () => {
  const long = '/bin/sh -c #(nop) ADD file:0123456789abcdef0123456789abcdef in / ';
  const steps: HistoryEntry[] = [
    { created: new Date('2024-01-01T00:00:00Z'), createdBy: '/bin/sh -c #(nop)\tCMD ["sh"]', author: '', comment: '', emptyLayer: true, diffId: '', size: 0 },
    { created: new Date('2024-01-01T00:00:00Z'), createdBy: long, author: '', comment: 'base', emptyLayer: false, diffId: D1, size: 4_261_550 },
    { created: undefined, createdBy: '', author: '', comment: '', emptyLayer: false, diffId: D2, size: 12 },
  ];

  it('shows the image id on the newest step, <missing> below, and cuts commands at 45 characters', () => {
    expect(historyRows(steps, { imageId: ID, now: NOW })).toEqual([
      { ID: 'cccccccccccc', CreatedAt: '2024-01-01T00:00:00Z', CreatedSince: '2 weeks ago', CreatedBy: '/bin/sh -c #(nop) CMD ["sh"]', Size: '0B', Comment: '' },
      { ID: '<missing>', CreatedAt: '2024-01-01T00:00:00Z', CreatedSince: '2 weeks ago', CreatedBy: '/bin/sh -c #(nop) ADD file:0123456789abcdef0…', Size: '4.26MB', Comment: 'base' },
      { ID: '<missing>', CreatedAt: '', CreatedSince: 'N/A', CreatedBy: '', Size: '12B', Comment: '' },
    ]);
  });

  it('shows full ids and commands with noTrunc, bytes and RFC 3339 times when not human', () => {
    const rows = historyRows(steps, { imageId: ID, now: NOW, noTrunc: true, human: false });
    expect(rows.map((r) => [r.ID, r.CreatedSince, r.CreatedBy, r.Size])).toEqual([
      [ID, '2024-01-01T00:00:00Z', '/bin/sh -c #(nop) CMD ["sh"]', '0'],
      ['<missing>', '2024-01-01T00:00:00Z', long, '4261550'],
      ['<missing>', 'N/A', '', '12'],
    ]);
  });
});
