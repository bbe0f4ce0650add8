import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { waitForHealthy } from '@strata/grpc-kit';
import { startProcess, tempDir, type TestProcess } from '@strata/kit/testing';
import { digestOf } from '@strata/oci';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { humanSize } from './content.js';
import { runCaptured, type CapturedRun } from '../testing/run-captured.js';

const layerStoreBin = fileURLToPath(new URL('../../../layer-store/bin/layer-store.mjs', import.meta.url));
const dir = tempDir('strata-cli-content-');
const runDir = `${dir.path}/run`;
let service: TestProcess | undefined;

async function cli(...argv: string[]): Promise<CapturedRun> {
  return runCaptured([...argv, '--run-dir', runDir]);
}

beforeAll(async () => {
  service = startProcess(process.execPath, [layerStoreBin, '--state-dir', `${dir.path}/state`, '--run-dir', runDir, '--nats-url', '']);
  await waitForHealthy({ unixSocket: `${runDir}/layer-store.sock` }, { timeoutMs: 30_000 });
});

afterAll(async () => {
  await service?.stop();
  dir.remove();
});

describe('strata content', () => {
  it('puts, lists, reads, labels, deletes and collects blobs', async () => {
    const file = `${dir.path}/hello.txt`;
    writeFileSync(file, 'hello strata\n');
    const digest = digestOf('hello strata\n');

    const put = await cli('content', 'put', file, '--label', 'example=yes');
    expect(put).toEqual({ code: 0, out: `${digest}\n`, err: '' });

    const ls = await cli('content', 'ls', '--filter', 'labels.example==yes');
    expect(ls.code).toBe(0);
    expect(ls.out.split('\n')[0]).toMatch(/^DIGEST\s+SIZE\s+CREATED\s+LABELS$/);
    expect(ls.out).toContain(`${digest}  13B`);
    expect(ls.out).toContain('example=yes');
    expect((await cli('content', 'ls', '--filter', 'labels.example==no')).out.trim().split('\n')).toHaveLength(1);

    const out = `${dir.path}/back.txt`;
    expect((await cli('content', 'get', digest, '-o', out)).code).toBe(0);
    expect(readFileSync(out, 'utf8')).toBe('hello strata\n');

    const label = await cli('content', 'label', digest, 'example=', 'strata.gc.root=keep');
    expect(JSON.parse(label.out)).toEqual({ 'strata.gc.root': 'keep' });
    const info = JSON.parse((await cli('content', 'info', digest)).out) as { digest: string; size: number };
    expect(info).toMatchObject({ digest, size: 13 });

    const other = `${dir.path}/other.txt`;
    writeFileSync(other, 'garbage');
    const otherDigest = (await cli('content', 'put', other)).out.trim();
    const dry = await cli('content', 'gc', '--dry-run', '--format', 'json');
    expect(JSON.parse(dry.out)).toMatchObject({ deleted: [otherDigest], bytesFreed: 7 });
    const gc = await cli('content', 'gc');
    expect(gc.out).toBe(`deleted ${otherDigest}\n1 blobs, 7B freed; 0 expired leases removed\n`);

    expect(await cli('content', 'rm', digest)).toEqual({ code: 0, out: `${digest}\n`, err: '' });
    const gone = await cli('content', 'info', digest);
    expect(gone.code).toBe(1);
    expect(gone.err).toContain(`strata: blob ${digest} not found`);
  });

  it.each([
    [['content', 'get', 'sha256:../..'], 1, 'strata: invalid digest "sha256:../..": expected algorithm:hex, e.g. sha256:<64 hex>'],
    [['content', 'put', '/nonexistent/file'], 1, '/nonexistent/file'],
    [['content', 'put', '-', '--label', 'novalue'], 2, 'invalid label "novalue": expected KEY=VALUE'],
    [['content', 'put', '-', '--expected', 'sha256:ABC'], 1, 'invalid digest "sha256:ABC"'],
  ])('refuses %j with a sentence', async (argv, code, message) => {
    const r = await cli(...argv);
    expect(r.code).toBe(code);
    expect(r.err).toContain(message);
  });

  it('verifies an expected digest and stores nothing on mismatch', async () => {
    const file = `${dir.path}/x.txt`;
    writeFileSync(file, 'x');
    const wrong = digestOf('y');
    const r = await cli('content', 'put', file, '--expected', wrong);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^strata: .*digest/);
    expect((await cli('content', 'info', digestOf('x'))).code).toBe(1);
    expect((await cli('content', 'ls', '--format', 'json')).out).not.toContain(digestOf('x'));
  });
});

describe('humanSize', () => {
  it.each([
    [0, '0B'],
    [999, '999B'],
    [1000, '1.00kB'],
    [13_400_000, '13.4MB'],
    [2_500_000_000, '2.50GB'],
  ])('%d bytes is %s', (bytes, text) => expect(humanSize(bytes)).toBe(text));
});
