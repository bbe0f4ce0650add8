import { notFound } from '@strata/kit';
import { digestOf } from '@strata/oci';
import { describe, expect, it } from 'vitest';
import { createCachedImageSource } from './cached-image-source.js';
import type { ImageInfo, ImageSource } from './ports.js';

/** An image source of a table name → image (what the mirror's index would answer), counting its lookups. */
function tableSource(table: Map<string, string>): ImageSource & { lookups: string[] } {
  const lookups: string[] = [];
  return {
    lookups,
    async inspect(ref, platform) {
      lookups.push(`${ref} ${platform ?? ''}`.trim());
      const content = table.get(ref);
      if (content === undefined) throw notFound(`No such image: ${ref}`);
      const image: ImageInfo = {
        id: digestOf(`config ${content}`),
        manifest: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: digestOf(content), size: content.length },
        config: { Env: ['PATH=/bin'], Cmd: ['sh'] },
        diffIds: [digestOf(`layer ${content}`)],
      };
      return image;
    },
  };
}

function setup(maxEntries?: number) {
  const table = new Map([
    ['busybox', 'one'],
    ['registry.local/app:1', 'two'],
  ]);
  const source = tableSource(table);
  let revision: number | undefined = 7;
  const cached = createCachedImageSource(source, { revision: async () => revision, ...(maxEntries === undefined ? {} : { maxEntries }) });
  return {
    table,
    source,
    cached,
    setRevision: (r: number | undefined) => {
      revision = r;
    },
  };
}

describe('createCachedImageSource', () => {
  it('answers a name again from what it kept while the index revision stays the same', async () => {
    const { source, cached } = setup();
    const first = await cached.inspect('busybox');
    expect(await cached.inspect('busybox')).toBe(first);
    expect(await cached.inspect('registry.local/app:1')).toMatchObject({ config: { Cmd: ['sh'] } });
    await cached.inspect('registry.local/app:1');
    expect(source.lookups).toEqual(['busybox', 'registry.local/app:1']);
  });

  it('asks the source again once the revision moved, and answers the new image', async () => {
    const { table, source, cached, setRevision } = setup();
    const before = await cached.inspect('busybox');
    table.set('busybox', 'moved');
    setRevision(8);
    const after = await cached.inspect('busybox');
    expect(after.manifest.digest).toBe(digestOf('moved'));
    expect(after.manifest.digest).not.toBe(before.manifest.digest);
    expect(await cached.inspect('busybox')).toBe(after);
    expect(source.lookups).toEqual(['busybox', 'busybox']);
  });

  it('keeps nothing without a revision, and nothing for digest references or id prefixes', async () => {
    const { table, source, cached, setRevision } = setup();
    const digestRef = `busybox@${digestOf('one')}`;
    table.set(digestRef, 'one');
    table.set('3f2a', 'one');
    table.set(`sha256:${'ab'.repeat(32)}`, 'one');
    for (const ref of [digestRef, '3f2a', `sha256:${'ab'.repeat(32)}`]) {
      await cached.inspect(ref);
      await cached.inspect(ref);
    }
    setRevision(undefined);
    await cached.inspect('busybox');
    await cached.inspect('busybox');
    expect(source.lookups).toEqual([digestRef, digestRef, '3f2a', '3f2a', `sha256:${'ab'.repeat(32)}`, `sha256:${'ab'.repeat(32)}`, 'busybox', 'busybox']);
  });

  it('keeps no error: a name missing then added is found', async () => {
    const { table, cached } = setup();
    await expect(cached.inspect('alpine')).rejects.toThrow('No such image: alpine');
    table.set('alpine', 'three');
    expect((await cached.inspect('alpine')).manifest.digest).toBe(digestOf('three'));
  });

  it('keeps one image per name and platform, frozen', async () => {
    const { source, cached } = setup();
    const amd = await cached.inspect('busybox', 'linux/amd64');
    await cached.inspect('busybox', 'linux/arm64');
    await cached.inspect('busybox', 'linux/amd64');
    expect(source.lookups).toEqual(['busybox linux/amd64', 'busybox linux/arm64']);
    expect(() => {
      (amd.config.Env as string[]).push('X=1');
    }).toThrow(TypeError);
    expect(() => {
      (amd as { id: string }).id = 'x';
    }).toThrow(TypeError);
  });

  it('drops the least recently used image beyond maxEntries', async () => {
    const { table, source, cached } = setup(2);
    table.set('app-a', 'app-a');
    table.set('app-b', 'app-b');
    table.set('app-c', 'app-c');
    await cached.inspect('app-a');
    await cached.inspect('app-b');
    await cached.inspect('app-a');
    await cached.inspect('app-c');
    await cached.inspect('app-a');
    await cached.inspect('app-b');
    expect(source.lookups).toEqual(['app-a', 'app-b', 'app-c', 'app-b']);
  });
});
