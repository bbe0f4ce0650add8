import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '@strata/kit';
import { startProcess, tempDir, waitFor, type TestProcess } from '@strata/kit/testing';
import { digestOf } from '@strata/oci';
import type { Store } from '@strata/content';
import { expectError, readBlob } from '@strata/content/testing';
import { createFsStore } from './fs-store.js';

const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));
const holderScript = fileURLToPath(new URL('./testing/ingest-holder.ts', import.meta.url));

const pattern = (offset: number, length: number) => {
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i++) out[i] = ((offset + i) * 31 + 7) % 251;
  return out;
};

describe('fs content store across processes', () => {
  let dir: { path: string; remove: () => void };
  let holder: TestProcess | undefined;
  let store: Store | undefined;

  beforeEach(() => {
    dir = tempDir('strata-content-fs-int-');
  });

  afterEach(async () => {
    await holder?.stop('SIGKILL');
    holder = undefined;
    await store?.close();
    store = undefined;
    dir.remove();
  });

  const startHolder = async (ref: string, bytes: number): Promise<TestProcess> => {
    const p = startProcess(process.execPath, ['--import', 'tsx', holderScript, dir.path, ref, String(bytes)], { cwd: repoRoot });
    holder = p;
    await waitFor(() => p.output().includes('holding'), () => `the ingest holder to write (output: ${p.output()})`, 30_000);
    return p;
  };

  it('excludes another process from a ref, and resumes its ingest after it is killed', async () => {
    const total = 5 * 1024 * 1024 + 100;
    const p = await startHolder('cross/process', total);
    store = await createFsStore({ root: dir.path, logger: silentLogger() });
    await expectError(store.writer({ ref: 'cross/process' }), 'Unavailable', /cross\/process is locked/);
    await expectError(store.abort('cross/process'), 'Unavailable', /cross\/process is locked/);
    const ingest = join(dir.path, 'ingest', createHash('sha256').update('cross/process').digest('hex'));
    expect(JSON.parse(readFileSync(join(ingest, 'lock'), 'utf8'))).toMatchObject({ pid: p.pid });

    await p.stop('SIGKILL');
    const data = pattern(0, total);
    const w = await store.writer({ ref: 'cross/process', total, expected: digestOf(data) });
    // Every full MiB the holder handed to the disk before the last one survives its death.
    expect(w.offset).toBeGreaterThanOrEqual(4 * 1024 * 1024);
    expect(w.offset).toBeLessThanOrEqual(total);
    await w.write(data.subarray(w.offset));
    const info = await w.commit();
    expect(info).toMatchObject({ digest: digestOf(data), size: total });
    expect((await readBlob(store, info.digest)).equals(data)).toBe(true);
  });
});
