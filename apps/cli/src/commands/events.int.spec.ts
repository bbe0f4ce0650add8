import { fileURLToPath } from 'node:url';
import { createNatsEventSink, type NatsEventSink } from '@strata/events-nats';
import { startNatsServer, type TestNatsServer } from '@strata/events-nats/testing';
import { parseCloudEvent, silentLogger, type CloudEvent } from '@strata/kit';
import { freePort, startProcess, tempDir, waitFor, type TestProcess } from '@strata/kit/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { writeUpState } from '../stack/up-state.js';
import { DEFAULT_NATS_URL, resolveNatsUrl } from './events.js';
import { runCaptured, type CapturedRun } from '../testing/run-captured.js';

const strataBin = fileURLToPath(new URL('../../bin/strata.mjs', import.meta.url));

let server: TestNatsServer;
let mirror: NatsEventSink;
let snapshotter: NatsEventSink;
const processes: TestProcess[] = [];

function spawnEvents(...args: string[]): TestProcess {
  const proc = startProcess(process.execPath, [strataBin, 'events', '--nats-url', server.url, ...args], {
    env: { ...process.env, STRATA_NATS_URL: '' },
  });
  processes.push(proc);
  return proc;
}

/** stdout lines so far (the process's output minus stderr, which these runs leave empty). */
function lines(proc: TestProcess): string[] {
  return proc
    .output()
    .split('\n')
    .filter((l) => l !== '');
}

async function published(sink: NatsEventSink, n: number): Promise<void> {
  await waitFor(() => sink.stats().published === n && sink.stats().buffered === 0, () => `${n} events published (${JSON.stringify(sink.stats())})`);
}

async function cli(...argv: string[]): Promise<CapturedRun> {
  return runCaptured(argv);
}

const T0 = '2026-11-28T03:25:25.000Z';

beforeAll(async () => {
  server = await startNatsServer();
  mirror = createNatsEventSink({ servers: server.url, source: 'strata/registry-mirror/n1', logger: silentLogger() });
  snapshotter = createNatsEventSink({ servers: server.url, source: 'strata/snapshotter/n2', logger: silentLogger() });
  await Promise.all([mirror.ready(), snapshotter.ready()]);
  mirror.publish('image.pulled', 'docker.io/library/busybox:latest', {
    ref: 'docker.io/library/busybox:latest',
    digest: 'sha256:aaa',
    imageId: 'sha256:bbb',
    platform: 'linux/amd64',
    downloaded: 100,
  });
  mirror.publish('image.tagged', 'docker.io/library/alpine:3.20', { ref: 'docker.io/library/alpine:3.20', digest: 'sha256:ccc' });
  await published(mirror, 2);
  snapshotter.publish('snapshot.committed', 'sha256:chain1', { name: 'sha256:chain1', key: 'k1', node: 'n2' });
  await published(snapshotter, 1);
});

afterEach(async () => {
  await Promise.all(processes.splice(0).map((p) => p.stop('SIGKILL')));
});

afterAll(async () => {
  await Promise.all([mirror?.close(), snapshotter?.close()]);
  await server?.stop();
});

describe('strata events (a real CLI process)', () => {
  it('replays from --since, follows live events, prints one CloudEvent JSON per line, and stops on SIGINT', async () => {
    const proc = spawnEvents('--since', '10m', '--format', 'json');
    await waitFor(() => lines(proc).length >= 3, () => `3 replayed events from the CLI:\n${proc.output()}`, 30_000);

    // Two connections publish: the stream orders them as they arrive, so
    // the second waits for the first to be stored.
    mirror.publish('image.deleted', 'docker.io/library/alpine:3.20', { ref: 'docker.io/library/alpine:3.20', digest: 'sha256:ccc' });
    await published(mirror, 3);
    snapshotter.publish('snapshot.removed', 'k1', { key: 'k1', kind: 'active', node: 'n2' });
    await waitFor(() => lines(proc).length >= 5, () => `2 live events from the CLI:\n${proc.output()}`);

    await proc.stop('SIGINT');
    expect(await proc.exited).toBe(0);
    const events: CloudEvent[] = lines(proc).map(parseCloudEvent);
    expect(events.map((e) => [e.type, e.subject])).toEqual([
      ['io.strata.image.pulled', 'docker.io/library/busybox:latest'],
      ['io.strata.image.tagged', 'docker.io/library/alpine:3.20'],
      ['io.strata.snapshot.committed', 'sha256:chain1'],
      ['io.strata.image.deleted', 'docker.io/library/alpine:3.20'],
      ['io.strata.snapshot.removed', 'k1'],
    ]);
    expect(new Set(events.map((e) => e.id)).size).toBe(5);
    expect(events[0]).toMatchObject({ specversion: '1.0', source: 'strata/registry-mirror/n1', datacontenttype: 'application/json' });
    expect(events[0]!.data).toEqual({
      ref: 'docker.io/library/busybox:latest',
      digest: 'sha256:aaa',
      imageId: 'sha256:bbb',
      platform: 'linux/amd64',
      downloaded: 100,
    });
  });

  it('filters like docker (same key ORed, keys ANDed), prints lines for people, and ends at a past --until', async () => {
    const proc = spawnEvents('--since', '10m', '--until', '0s', '-f', 'type=image', '-f', 'type=snapshot', '--filter', 'node=n2');
    expect(await proc.exited).toBe(0);
    const out = lines(proc).map((l) => l.replace(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{9}Z /, `${T0} `));
    expect(out).toEqual([
      `${T0} snapshot committed sha256:chain1 (key=k1, node=n2)`,
      `${T0} snapshot removed k1 (kind=active, node=n2)`,
    ]);

    const images = spawnEvents('--since', '10m', '--until', '0s', '-f', 'event=pulled', '-f', 'event=deleted', '-f', 'image=alpine');
    expect(await images.exited).toBe(0);
    expect(lines(images).map((l) => l.split(' ').slice(1, 4).join(' '))).toEqual(['image deleted docker.io/library/alpine:3.20']);
  });

  it('follows until a future --until and then exits by itself', async () => {
    const until = new Date(Date.now() + 6000).toISOString();
    const proc = spawnEvents('--since', '10m', '--until', until, '-f', 'type=blob');
    // The CLI has its consumer once it printed the replay (none here): wait for it to start reading.
    await new Promise((r) => setTimeout(r, 1500));
    mirror.publish('blob.stored', 'sha256:live', { digest: 'sha256:live', size: 1 });
    expect(await proc.exited).toBe(0);
    expect(Date.now()).toBeGreaterThanOrEqual(Date.parse(until));
    expect(lines(proc)).toHaveLength(1);
    expect(lines(proc)[0]).toMatch(/ blob stored sha256:live \(node=n1, size=1\)$/);
  });
});

describe('strata events across a NATS restart', () => {
  it('keeps following when NATS restarts on the same port and store', async () => {
    const proc = spawnEvents('--since', '10m', '-f', 'event=restarted');
    mirror.publish('node.restarted', 'before', { n: 1 });
    await waitFor(() => lines(proc).length >= 1, () => `the event before the restart:\n${proc.output()}`, 30_000);

    await server.restart(() => new Promise((r) => setTimeout(r, 300)));
    mirror.publish('node.restarted', 'after', { n: 2 });
    await waitFor(() => lines(proc).length >= 2, () => `the event after the restart:\n${proc.output()}`, 30_000);
    await proc.stop('SIGINT');
    expect(await proc.exited).toBe(0);
    expect(lines(proc).map((l) => l.split(' ').slice(1).join(' '))).toEqual([
      'node restarted before (n=1, node=n1)',
      'node restarted after (n=2, node=n1)',
    ]);
  });
});

describe('strata events errors', () => {
  it.each([
    [['events', '--filter', 'label=x'], 'strata: invalid filter "label": the event filters are container=, event=, image=, node=, type=\n'],
    [['events', '--filter', 'type'], 'strata: bad format of filter (expected name=value): "type"\n'],
    [
      ['events', '--since', 'last week'],
      'strata: invalid --since value "last week": expected a duration before now (10m, 1h30m), an RFC 3339 time ' +
        '(2026-11-28T03:25:25Z), a date (2026-11-28) or Unix seconds (1764300325)\n',
    ],
    [['events', '--since', '1m', '--until', '2m'], /^strata: the end of the events to read \(.*\) is before their start \(.*\)\n$/],
  ])('%j exits 1 with a sentence', async (argv, message) => {
    const result = await cli(...argv, '--nats-url', server.url);
    expect(result.code).toBe(1);
    expect(result.out).toBe('');
    if (typeof message === 'string') expect(result.err).toBe(message);
    else expect(result.err).toMatch(message);
  });

  it('says where it looked when NATS does not answer', async () => {
    const url = `nats://127.0.0.1:${await freePort()}`;
    const result = await cli('events', '--nats-url', url);
    expect(result.code).toBe(1);
    expect(result.err).toMatch(new RegExp(`^strata: cannot reach NATS at ${url}: .*; start Strata with 'strata up' or pass --nats-url\\n$`));
  });

  it('says when NATS has no events stream yet', async () => {
    const bare = await startNatsServer();
    try {
      const result = await cli('events', '--nats-url', bare.url);
      expect(result).toEqual({
        code: 1,
        out: '',
        err: 'strata: NATS has no events stream STRATA_EVENTS; a Strata service creates it when it first connects (strata up)\n',
      });
    } finally {
      await bare.stop();
    }
  });
});

describe('resolveNatsUrl', () => {
  it('takes the flag, else the NATS that strata up recorded, else the default', () => {
    const dir = tempDir('strata-events-url-');
    try {
      expect(resolveNatsUrl(undefined, dir.path)).toBe(DEFAULT_NATS_URL);
      writeUpState({
        version: 1,
        owner: { pid: process.pid },
        detached: true,
        startedAt: new Date().toISOString(),
        stateDir: dir.path,
        runDir: dir.path,
        services: [{ name: 'nats', pid: process.pid, log: '', endpoints: [{ protocol: 'nats', address: 'nats://127.0.0.1:4999' }] }],
      });
      expect(resolveNatsUrl(undefined, dir.path)).toBe('nats://127.0.0.1:4999');
      expect(resolveNatsUrl('nats://nats.example:4222', dir.path)).toBe('nats://nats.example:4222');
    } finally {
      dir.remove();
    }
  });
});
