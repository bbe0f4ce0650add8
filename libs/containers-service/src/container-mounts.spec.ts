import { join } from 'node:path';
import { silentLogger } from '@strata/kit';
import { createRecordingEventSink, tempDir } from '@strata/kit/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { imageVolumeMounts } from './container-mounts.js';
import { createVolumes, type Volumes } from './volumes.js';

let dir: ReturnType<typeof tempDir>;
let volumes: Volumes;

beforeEach(() => {
  dir = tempDir('strata-image-volumes-');
  volumes = createVolumes({ dir: join(dir.path, 'volumes'), users: () => [], events: createRecordingEventSink(), node: 'n1', logger: silentLogger() });
});

afterEach(() => dir.remove());

describe('imageVolumeMounts', () => {
  it('makes an anonymous volume per image VOLUME no mount covers, its path cleaned inside / (CVE-2022-23648)', async () => {
    const given = [{ type: 'bind' as const, source: '/srv', target: '/covered', readOnly: false }];
    const { mounts, madeVolumes } = await imageVolumeMounts(
      { '/data': {}, '/covered/': {}, '/../../etc/x': {}, 'rel/dir': {}, '/': {}, '/a/../..': {}, '/nul\0': {}, '/data/.': {} },
      given,
      volumes,
    );
    expect(mounts.map((m) => m.target)).toEqual(['/data', '/etc/x', '/rel/dir']);
    expect(madeVolumes).toHaveLength(3);
    for (const m of mounts) expect(m).toMatchObject({ type: 'volume', readOnly: false, volumePath: volumes.pathOf(m.source) });
    expect((await volumes.list()).map((u) => u.volume.name).sort()).toEqual([...madeVolumes].sort());
  });
});
