import { UnpackStatus, type UnpackResponse } from '@strata/api/diff/v1';
import { LayerStatus, type PullResponse } from '@strata/api/images/v1';
import { describe, expect, it } from 'vitest';
import { createPullProgress, type PullProgressOptions } from './pull-progress.js';

const A = `sha256:${'a'.repeat(64)}`;
const B = `sha256:${'b'.repeat(64)}`;
const INDEX = `sha256:${'1'.repeat(64)}`;
const MANIFEST = `sha256:${'2'.repeat(64)}`;
const CONFIG = `sha256:${'3'.repeat(64)}`;
const LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';
const REF = 'docker.io/library/busybox:latest';

const descriptor = (digest: string, size: number, mediaType = LAYER) => ({ mediaType, digest, size, annotations: {} });

const resolving = (ref = REF): PullResponse => ({ event: { $case: 'resolving', value: { ref } } });
const resolved = (ref = REF): PullResponse => ({
  event: {
    $case: 'resolved',
    value: {
      ref,
      target: descriptor(INDEX, 500, 'application/vnd.oci.image.index.v1+json'),
      manifest: descriptor(MANIFEST, 400, 'application/vnd.oci.image.manifest.v1+json'),
      platform: { os: 'linux', architecture: 'amd64', variant: '' },
      config: descriptor(CONFIG, 300, 'application/vnd.oci.image.config.v1+json'),
      layers: [descriptor(A, 45_600_000), descriptor(B, 1000)],
    },
  },
});
const layer = (digest: string, status: LayerStatus, offset: number, total: number, index = digest === A ? 0 : 1): PullResponse => ({
  event: { $case: 'layer', value: { digest, mediaType: LAYER, index, total, offset, status } },
});
const done = (upToDate: boolean): PullResponse => ({
  event: {
    $case: 'done',
    value: {
      upToDate,
      image: {
        id: CONFIG,
        repoTags: [REF],
        repoDigests: [`docker.io/library/busybox@${INDEX}`],
        size: 45_602_200,
        labels: {},
        created: new Date('2024-01-01T00:00:00Z'),
        platform: { os: 'linux', architecture: 'amd64', variant: '' },
      },
    },
  },
});

/** A cold pull of two layers, B already stored, with interleaved events. */
const coldPull: PullResponse[] = [
  resolving(),
  resolved(),
  layer(A, LayerStatus.LAYER_STATUS_DOWNLOADING, 0, 45_600_000),
  layer(B, LayerStatus.LAYER_STATUS_EXISTS, 1000, 1000),
  layer(A, LayerStatus.LAYER_STATUS_DOWNLOADING, 12_345_678, 45_600_000),
  layer(B, LayerStatus.LAYER_STATUS_DONE, 1000, 1000),
  layer(A, LayerStatus.LAYER_STATUS_DOWNLOADING, 12_345_678, 45_600_000),
  layer(A, LayerStatus.LAYER_STATUS_DOWNLOADING, 45_600_000, 45_600_000),
  layer(A, LayerStatus.LAYER_STATUS_VERIFYING, 45_600_000, 45_600_000),
  layer(A, LayerStatus.LAYER_STATUS_STORED, 45_600_000, 45_600_000),
  layer(A, LayerStatus.LAYER_STATUS_DONE, 45_600_000, 45_600_000),
  done(false),
];

const unpacked = (digest: string, status: UnpackStatus): UnpackResponse => ({
  index: digest === A ? 0 : 1,
  digest,
  diffId: `sha256:${'d'.repeat(64)}`,
  chainId: `sha256:${'c'.repeat(64)}`,
  status,
});

function render(
  events: readonly PullResponse[],
  options: Omit<PullProgressOptions, 'out'>,
  unpackEvents: readonly UnpackResponse[] = [],
): string {
  let out = '';
  const progress = createPullProgress({ ...options, out: { write: (t: string) => (out += t) } });
  for (const event of events) progress.update(event);
  for (const event of unpackEvents) progress.unpack(event);
  progress.finish();
  return out;
}

const a = 'a'.repeat(12);
const b = 'b'.repeat(12);
const bar = (filled: number) => `[${'='.repeat(filled)}>${' '.repeat(50 - filled)}]`;

describe('createPullProgress without a terminal', () => {
  it('writes one plain line per layer state and the docker pull summary', () => {
    expect(render(coldPull, { tty: false })).toBe(
      [
        'latest: Pulling from library/busybox',
        `${a}: Downloading`,
        `${b}: Already exists`,
        `${a}: Verifying Checksum`,
        `${a}: Download complete`,
        `${a}: Pull complete`,
        `Digest: ${INDEX}`,
        'Status: Downloaded newer image for busybox:latest',
        'docker.io/library/busybox:latest',
        '',
      ].join('\n'),
    );
  });

  it('says the image is up to date when nothing moved, and names a pinned digest', () => {
    const pinned = `docker.io/library/busybox@${INDEX}`;
    const events = [
      resolving(pinned),
      resolved(pinned),
      layer(A, LayerStatus.LAYER_STATUS_EXISTS, 45_600_000, 45_600_000),
      layer(A, LayerStatus.LAYER_STATUS_DONE, 45_600_000, 45_600_000),
      done(true),
    ];
    expect(render(events, { tty: false })).toBe(
      [
        `${INDEX}: Pulling from library/busybox`,
        `${a}: Already exists`,
        `Digest: ${INDEX}`,
        `Status: Image is up to date for busybox@${INDEX}`,
        pinned,
        '',
      ].join('\n'),
    );
  });

  it('ignores events without a case and layer statuses it does not know', () => {
    const events = [
      resolving(),
      { event: undefined },
      layer(A, LayerStatus.LAYER_STATUS_UNSPECIFIED, 0, 10),
      layer(A, LayerStatus.UNRECOGNIZED, 0, 10),
      layer(A, LayerStatus.LAYER_STATUS_WAITING, 0, 10),
      layer(A, LayerStatus.LAYER_STATUS_UNPACKING, 10, 10),
    ];
    expect(render(events, { tty: false })).toBe(
      ['latest: Pulling from library/busybox', `${a}: Waiting`, `${a}: Extracting`, ''].join('\n'),
    );
  });

  it('writes no escape codes even when told the terminal width', () => {
    expect(render(coldPull, { tty: false, columns: 200 })).not.toContain('\x1b');
  });
});

describe('createPullProgress on a terminal', () => {
  it('keeps one line per layer and redraws it in place with a progress bar', () => {
    // Rows: 0 the header, 1 layer A, 2 layer B; A is redrawn 2 rows up.
    const redrawA = (line: string) => `\x1b[2A\x1b[2K${line}\x1b[2B\r`;
    expect(render(coldPull, { tty: true })).toBe(
      [
        'latest: Pulling from library/busybox\n',
        `${a}: Downloading ${bar(0)}       0B/45.6MB\n`,
        `${b}: Already exists\n`,
        redrawA(`${a}: Downloading ${bar(13)}   12.3MB/45.6MB`),
        redrawA(`${a}: Downloading ${bar(50)}   45.6MB/45.6MB`),
        redrawA(`${a}: Verifying Checksum`),
        redrawA(`${a}: Download complete`),
        redrawA(`${a}: Pull complete`),
        `Digest: ${INDEX}\n`,
        'Status: Downloaded newer image for busybox:latest\n',
        'docker.io/library/busybox:latest\n',
      ].join(''),
    );
  });

  it('drops the bar when the terminal is too narrow for it', () => {
    const events = [resolving(), layer(A, LayerStatus.LAYER_STATUS_DOWNLOADING, 1_000_000, 4_000_000)];
    expect(render(events, { tty: true, columns: 80 })).toBe(
      ['latest: Pulling from library/busybox\n', `${a}: Downloading      1MB/4MB\n`].join(''),
    );
    expect(render(events, { tty: true, columns: 120 })).toContain(bar(12));
  });

  it('shows only the count when the size is unknown', () => {
    const events = [resolving(), layer(A, LayerStatus.LAYER_STATUS_DOWNLOADING, 2048, 0)];
    expect(render(events, { tty: true })).toBe(['latest: Pulling from library/busybox\n', `${a}: Downloading   2.05kB\n`].join(''));
  });
});

describe('createPullProgress of a pull that unpacks', () => {
  const { UNPACK_STATUS_APPLYING: APPLYING, UNPACK_STATUS_COMMITTED: COMMITTED, UNPACK_STATUS_EXISTS: EXISTS } = UnpackStatus;

  it('keeps downloaded layers at Download complete, extracts them, and writes the summary after the unpack', () => {
    const unpack = [unpacked(B, EXISTS), unpacked(A, APPLYING), unpacked(A, COMMITTED)];
    expect(render(coldPull, { tty: false, unpack: true }, unpack)).toBe(
      [
        'latest: Pulling from library/busybox',
        `${a}: Downloading`,
        `${b}: Already exists`,
        `${a}: Verifying Checksum`,
        `${a}: Download complete`,
        `${a}: Extracting`,
        `${a}: Pull complete`,
        `Digest: ${INDEX}`,
        'Status: Downloaded newer image for busybox:latest',
        'docker.io/library/busybox:latest',
        '',
      ].join('\n'),
    );
  });

  it('extracts a layer that was already stored but not unpacked on this host', () => {
    const events = [resolving(), layer(B, LayerStatus.LAYER_STATUS_EXISTS, 1000, 1000), layer(B, LayerStatus.LAYER_STATUS_DONE, 1000, 1000), done(true)];
    expect(render(events, { tty: false, unpack: true }, [unpacked(B, APPLYING), unpacked(B, COMMITTED)])).toBe(
      [
        'latest: Pulling from library/busybox',
        `${b}: Already exists`,
        `${b}: Extracting`,
        `${b}: Pull complete`,
        'Status: Image is up to date for busybox:latest',
        'docker.io/library/busybox:latest',
        '',
      ].join('\n'),
    );
  });

  it('adds nothing for layers already unpacked, and says Extracting before a commit it was not told about', () => {
    const warm = [resolving(), layer(B, LayerStatus.LAYER_STATUS_EXISTS, 1000, 1000), layer(B, LayerStatus.LAYER_STATUS_DONE, 1000, 1000), done(true)];
    const plain = render(warm, { tty: false });
    expect(render(warm, { tty: false, unpack: true }, [unpacked(B, EXISTS)])).toBe(plain);
    expect(render(warm, { tty: false, unpack: true }, [unpacked(B, COMMITTED)])).toContain(`${b}: Extracting\n${b}: Pull complete\n`);
  });

  it('holds the summary until finish, writes it once, and ignores unpack statuses it does not know', () => {
    let out = '';
    const progress = createPullProgress({ tty: false, unpack: true, out: { write: (t: string) => (out += t) } });
    for (const event of [resolving(), resolved(), done(true)]) progress.update(event);
    progress.unpack(unpacked(A, UnpackStatus.UNPACK_STATUS_UNSPECIFIED));
    progress.unpack(unpacked(A, UnpackStatus.UNRECOGNIZED));
    expect(out).toBe('latest: Pulling from library/busybox\n');
    progress.finish();
    progress.finish();
    expect(out).toBe(
      ['latest: Pulling from library/busybox', `Digest: ${INDEX}`, 'Status: Image is up to date for busybox:latest', REF, ''].join('\n'),
    );
  });

  it('redraws the layer line in place on a terminal', () => {
    const redrawA = (line: string) => `\x1b[2A\x1b[2K${line}\x1b[2B\r`;
    const out = render(coldPull, { tty: true, unpack: true }, [unpacked(B, EXISTS), unpacked(A, APPLYING), unpacked(A, COMMITTED)]);
    expect(out).toContain(
      [redrawA(`${a}: Download complete`), redrawA(`${a}: Extracting`), redrawA(`${a}: Pull complete`), `Digest: ${INDEX}\n`].join(''),
    );
    expect(out).not.toContain(redrawA(`${b}: `));
  });
});
