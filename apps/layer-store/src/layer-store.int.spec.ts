import { randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect as natsConnect } from '@nats-io/transport-node';
import { afterEach, describe, expect, it } from 'vitest';
import { GC_ROOT_LABEL, type Info, type Writer } from '@strata/content';
import { expectError, readBlob, writeBlob } from '@strata/content/testing';
import { createGrpcStore, type GrpcStore } from '@strata/content-grpc';
import { startS3rver } from '@strata/content-s3/testing';
import { startNatsServer, type TestNatsServer } from '@strata/events-nats/testing';
import { checkHealth, waitForHealthy, type Target } from '@strata/grpc-kit';
import { makeTestCertificates } from '@strata/grpc-kit/testing';
import { isNotFound, silentLogger } from '@strata/kit';
import { freePort, startProcess, tempDir, waitFor, type TestProcess } from '@strata/kit/testing';
import { digestOf } from '@strata/oci';

const bin = fileURLToPath(new URL('../bin/layer-store.mjs', import.meta.url));
const MiB = 1024 * 1024;

describe('layer-store process', () => {
  const cleanups: Array<() => unknown> = [];
  const later = <T>(value: T, cleanup: (v: T) => unknown): T => {
    cleanups.push(() => cleanup(value));
    return value;
  };
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  const dirs = () => {
    const d = later(tempDir('layer-store-'), (t) => t.remove());
    return {
      root: d.path,
      state: join(d.path, 'state'),
      run: join(d.path, 'run'),
      socket: join(d.path, 'run', 'layer-store.sock'),
      dataSocket: join(d.path, 'run', 'layer-store.data.sock'),
    };
  };
  const run = (args: string[]): TestProcess => later(startProcess(process.execPath, [bin, ...args]), (p) => p.stop('SIGKILL'));
  const start = async (d: ReturnType<typeof dirs>, extra: string[] = []): Promise<TestProcess> => {
    const p = run(['--state-dir', d.state, '--run-dir', d.run, '--nats-url', '', ...extra]);
    await Promise.race([
      waitForHealthy({ unixSocket: d.socket }, { timeoutMs: 20_000 }),
      p.exited.then((code) => {
        throw new Error(`layer-store exited (${code}) before it was healthy:\n${p.output()}`);
      }),
    ]);
    return p;
  };
  const client = (target: Target): GrpcStore => later(createGrpcStore(target, { logger: silentLogger() }), (c) => c.close());

  it('serves blobs on a 0600 socket, and on SIGTERM exits 0 silently and removes the socket', async () => {
    const d = dirs();
    const p = await start(d);
    expect(statSync(d.socket).mode & 0o777).toBe(0o600);
    expect(statSync(d.dataSocket).mode & 0o777).toBe(0o600);
    expect(statSync(d.run).mode & 0o777).toBe(0o700);
    expect(statSync(join(d.state, 'layer-store')).mode & 0o777).toBe(0o700);
    const store = client({ unixSocket: d.socket });
    const data = randomBytes(3 * MiB + 17);
    const info = await writeBlob(store, data, { labels: { kind: 'layer' }, chunks: [100_000] });
    expect((await readBlob(store, info.digest)).equals(data)).toBe(true);
    expect((await store.info(info.digest)).labels).toEqual({ kind: 'layer' });
    const bulk = later(createGrpcStore({ unixSocket: d.socket }, { logger: silentLogger(), dataSocket: d.dataSocket }), (c) => c.close());
    const more = randomBytes(2 * MiB + 1);
    const moreInfo = await writeBlob(bulk, more, { labels: { kind: 'bulk' }, chunks: [65_536] });
    expect((await readBlob(bulk, moreInfo.digest)).equals(more)).toBe(true);
    expect((await store.info(moreInfo.digest)).labels).toEqual({ kind: 'bulk' });
    process.kill(p.pid, 'SIGTERM');
    expect(await p.exited).toBe(0);
    expect(p.output()).toBe('');
    expect(() => statSync(d.socket)).toThrow(/ENOENT/);
    expect(() => statSync(d.dataSocket)).toThrow(/ENOENT/);
  });

  it('keeps every visible blob intact across a SIGKILL during concurrent writes, and lets the ingests resume or abort', async () => {
    const d = dirs();
    const target = { unixSocket: d.socket };
    let p = await start(d);
    const store = client(target);
    const before = await writeBlob(store, randomBytes(100_000));
    const blobs = Array.from({ length: 8 }, () => randomBytes(16 * MiB));
    const digests = new Set([before.digest, ...blobs.map((b) => digestOf(b))]);
    let written = 0;
    let killed = false;
    const killAt = (blobs.length * 16 * MiB) / 3;
    const writers = blobs.map(async (data, i) => {
      const w: Writer = await store.writer({ ref: `crash-${i}`, total: data.length, expected: digestOf(data) });
      for (let pos = 0; pos < data.length; pos += 64 * 1024) {
        await w.write(data.subarray(pos, pos + 64 * 1024));
        written += 64 * 1024;
        if (written >= killAt && !killed) {
          killed = true;
          process.kill(p.pid, 'SIGKILL');
        }
      }
      return w.commit();
    });
    const outcomes = await Promise.allSettled(writers);
    expect(killed).toBe(true);
    expect(await p.exited).toBe('SIGKILL');
    expect(outcomes.filter((o) => o.status === 'rejected').length).toBeGreaterThan(0);

    p = await start(d);
    const after = client(target);
    const visible: Info[] = [];
    for await (const info of after.walk()) visible.push(info);
    expect(visible.map((i) => i.digest)).toContain(before.digest);
    for (const info of visible) {
      expect(digests.has(info.digest)).toBe(true);
      const bytes = await readBlob(after, info.digest);
      expect(bytes.length).toBe(info.size);
      expect(digestOf(bytes)).toBe(info.digest);
    }

    const statuses = await after.listStatuses();
    const interrupted = blobs.map((data, i) => ({ data, ref: `crash-${i}` })).filter(({ data }) => !visible.some((v) => v.digest === digestOf(data)));
    expect(interrupted.length).toBeGreaterThan(0);
    for (const [n, { data, ref }] of interrupted.entries()) {
      const status = statuses.find((s) => s.ref === ref);
      if (status !== undefined) {
        expect(status.offset).toBeLessThanOrEqual(data.length);
        expect(status.expected).toBe(digestOf(data));
      }
      if (n % 2 === 1 && status !== undefined) {
        await after.abort(ref);
        await expectError(after.status(ref), 'NotFound', new RegExp(ref));
        continue;
      }
      const w = await after.writer({ ref, total: data.length, expected: digestOf(data) });
      expect(w.offset).toBe(status?.offset ?? 0);
      await w.write(data.subarray(w.offset));
      expect((await w.commit()).digest).toBe(digestOf(data));
      expect(digestOf(await readBlob(after, digestOf(data)))).toBe(digestOf(data));
    }
  });

  it('serves TCP only with mutual TLS', async () => {
    const d = dirs();
    const certs = makeTestCertificates(d.root);
    const port = await freePort();
    await start(d, [
      '--tcp-listen',
      `127.0.0.1:${port}`,
      '--tls-cert',
      certs.files.serverCert,
      '--tls-key',
      certs.files.serverKey,
      '--tls-ca',
      certs.files.ca,
    ]);
    const target = { address: `localhost:${port}`, tls: certs.client };
    await expect(checkHealth(target, 'strata.content.v1.Content')).resolves.toBe('SERVING');
    const info = await writeBlob(client(target), Buffer.from('over tls'));
    expect((await readBlob(client({ unixSocket: d.socket }), info.digest)).toString()).toBe('over tls');
    await expectError(checkHealth({ address: `localhost:${port}`, tls: certs.stranger }), 'Unavailable', /^cannot reach localhost:/);
  });

  it('publishes blob.stored on NATS', async () => {
    const nats: TestNatsServer = later(await startNatsServer(), (n) => n.stop());
    const d = dirs();
    const p = run(['--state-dir', d.state, '--run-dir', d.run, '--nats-url', nats.url, '--node', 'test-node']);
    await waitForHealthy({ unixSocket: d.socket }, { timeoutMs: 20_000 });
    const nc = later(await natsConnect({ servers: nats.url }), (c) => c.close());
    const sub = nc.subscribe('strata.events.blob.stored', { max: 1 });
    await nc.flush();
    const info = await writeBlob(client({ unixSocket: d.socket }), Buffer.from('announce me'));
    for await (const m of sub) {
      expect(m.json()).toMatchObject({
        specversion: '1.0',
        type: 'io.strata.blob.stored',
        source: 'strata/layer-store/test-node',
        subject: info.digest,
        data: { digest: info.digest, size: info.size, labels: {} },
      });
    }
    process.kill(p.pid, 'SIGTERM');
    expect(await p.exited).toBe(0);
  });

  it('collects garbage periodically when an interval is set', async () => {
    const d = dirs();
    await start(d, ['--gc-interval-seconds', '1']);
    const store = client({ unixSocket: d.socket });
    const root = await writeBlob(store, Buffer.from('kept: a root'), { labels: { [GC_ROOT_LABEL]: 'yes' } });
    const orphan = await writeBlob(store, Buffer.from('collected: nothing references it'));
    await waitFor(
      () => store.info(orphan.digest).then(() => false, (err: unknown) => isNotFound(err)),
      () => `${orphan.digest} to be collected`,
      10_000,
      200,
    );
    expect((await store.info(root.digest)).digest).toBe(root.digest);
  });

  it('keeps blobs in S3 with the s3 backend', async () => {
    const s3 = later(await startS3rver(), (x) => x.stop());
    const d = dirs();
    const env = { ...process.env, STRATA_S3_ACCESS_KEY: s3.accessKey, STRATA_S3_SECRET_KEY: s3.secretKey };
    const args = ['--state-dir', d.state, '--run-dir', d.run, '--nats-url', '', '--backend', 's3', '--s3-endpoint', s3.endpoint, '--s3-bucket', 'layers'];
    const p = later(startProcess(process.execPath, [bin, ...args], { env }), (x) => x.stop('SIGKILL'));
    await waitForHealthy({ unixSocket: d.socket }, { timeoutMs: 20_000 });
    const data = randomBytes(6 * MiB + 3);
    const info = await writeBlob(client({ unixSocket: d.socket }), data, { chunks: [512 * 1024] });
    expect((await readBlob(client({ unixSocket: d.socket }), info.digest)).equals(data)).toBe(true);
    process.kill(p.pid, 'SIGTERM');
    expect(await p.exited).toBe(0);
    expect(() => statSync(join(d.state, 'layer-store'))).toThrow(/ENOENT/);
  });

  it('refuses to start on a socket another layer-store serves', async () => {
    const d = dirs();
    await start(d);
    const second = run(['--state-dir', join(d.root, 'other'), '--run-dir', d.run, '--nats-url', '']);
    expect(await second.exited).toBe(1);
    expect(second.output()).toContain(`layer-store: unix socket ${d.socket} is already in use by another server; stop it or choose another socket path\n`);
    await expect(checkHealth({ unixSocket: d.socket })).resolves.toBe('SERVING');
  });

  it.concurrent.for([
    { args: ['--backend', 'ftp'], message: 'config backend: expected one of fs, s3, got "ftp"' },
    { args: ['--gc-interval-seconds', 'soon'], message: 'config gc-interval-seconds: expected a whole number, got "soon"' },
    { args: ['--tcp-listen', 'localhost'], message: 'config tcp-listen: expected host:port (e.g. 0.0.0.0:7443 or [::]:7443), got "localhost"' },
    { args: ['--tcp-listen', '127.0.0.1:7443'], message: 'config tcp-listen (TCP is served only with mutual TLS) needs --tls-cert, --tls-key, --tls-ca' },
    { args: ['--backend', 's3', '--s3-endpoint', 'http://127.0.0.1:9'], message: 'config backend s3 needs --s3-access-key, --s3-secret-key' },
    { args: ['--log-level', 'loud'], message: 'config log-level: expected one of fatal, error, warn, info, debug, trace, silent, got "loud"' },
    { args: ['--colour', 'red'], message: /^layer-store: unknown flag --colour; known: --state-dir, --run-dir, .*, --config\n$/ },
  ])('exits 2 with a sentence naming the setting for $args', async ({ args, message }, { expect }) => {
    const d = tempDir('layer-store-config-');
    const p = startProcess(process.execPath, [bin, '--state-dir', join(d.path, 'state'), '--run-dir', join(d.path, 'run'), ...args]);
    try {
      expect(await p.exited).toBe(2);
      if (typeof message === 'string') expect(p.output()).toBe(`layer-store: ${message}\n`);
      else expect(p.output()).toMatch(message);
      expect(() => statSync(join(d.path, 'run'))).toThrow(/ENOENT/);
    } finally {
      await p.stop('SIGKILL');
      d.remove();
    }
  });

  it('prints its settings for --help', async () => {
    const p = run(['--help']);
    expect(await p.exited).toBe(0);
    expect(p.output()).toContain('--state-dir (env STRATA_STATE_DIR) [default: /var/lib/strata]');
    expect(p.output()).toContain('--nats-url (env STRATA_NATS_URL)');
  });
});
