import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GC_ROOT_LABEL, type Store } from '@strata/content';
import { createMemoryStore, expectError, writeBlob } from '@strata/content/testing';
import { digestOf } from '@strata/oci';
import { DIGEST_REF_LABEL_PREFIX, addDigestRef, digestRefLabel, digestRefsOf, removeDigestRef } from './digest-refs.js';

const digest = digestOf(Buffer.from('manifest'));

describe('digestRefsOf', () => {
  it('reads the references of well-formed labels by domain then repository, and ignores other labels', () => {
    const labels = {
      [digestRefLabel('local', 'local/app')]: '2024-01-02T00:00:00.000Z',
      [digestRefLabel('docker.io', 'library/busybox')]: '2024-01-01T00:00:00.000Z',
      [`${DIGEST_REF_LABEL_PREFIX}no-slash`]: 'x',
      [`${DIGEST_REF_LABEL_PREFIX}/path-only`]: 'x',
      [`${DIGEST_REF_LABEL_PREFIX}domain/`]: 'x',
      [GC_ROOT_LABEL]: 'x',
    };
    expect(digestRefsOf({ digest, labels })).toEqual([
      { domain: 'docker.io', repository: 'library/busybox', digest, since: '2024-01-01T00:00:00.000Z' },
      { domain: 'local', repository: 'local/app', digest, since: '2024-01-02T00:00:00.000Z' },
    ]);
  });
});

describe('addDigestRef and removeDigestRef', () => {
  let store: Store;
  beforeEach(() => {
    store = createMemoryStore();
  });
  afterEach(() => store.close());

  it('sets the reference with a root once, and removes only the reference', async () => {
    const { digest: stored } = await writeBlob(store, Buffer.from('manifest'));
    expect(await addDigestRef(store, stored, 'docker.io', 'library/busybox')).toBe(true);
    const root = (await store.info(stored)).labels[GC_ROOT_LABEL];
    expect(root).toBeDefined();
    expect(await addDigestRef(store, stored, 'docker.io', 'library/busybox')).toBe(false);
    expect(await removeDigestRef(store, stored, 'docker.io', 'library/busybox')).toBe(true);
    expect(await removeDigestRef(store, stored, 'docker.io', 'library/busybox')).toBe(false);
    expect((await store.info(stored)).labels).toEqual({ [GC_ROOT_LABEL]: root });
  });

  it('refuses a digest that is not stored with NotFound, and removes nothing from it', async () => {
    await expectError(addDigestRef(store, digest, 'docker.io', 'library/busybox'), 'NotFound', `blob ${digest} not found`);
    expect(await removeDigestRef(store, digest, 'docker.io', 'library/busybox')).toBe(false);
  });
});
