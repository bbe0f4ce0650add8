import { createReadStream, createWriteStream } from 'node:fs';
import { join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { randomUUID } from 'node:crypto';
import type { Labels } from '@strata/content';
import { silentLogger } from '@strata/kit';
import type { GrpcStore } from '@strata/content-grpc';
import { parseDigest } from '@strata/oci';
import { defineCommand } from '../framework/command.js';
import { flags } from '../framework/flags.js';
import { formatTable } from '../framework/table.js';
import { UsageError } from '../framework/usage-error.js';
import { printList } from '../framework/output-format.js';
import { formatFlag, listFormatFlag, printJson, runDirFlag } from './common-flags.js';

/** The layer-store client for the socket under run-dir (gRPC loads only here); closed after fn. */
async function withStore<T>(runDir: string, fn: (store: GrpcStore) => Promise<T>): Promise<T> {
  const { createGrpcStore } = await import('@strata/content-grpc');
  const store = createGrpcStore({ unixSocket: join(resolve(runDir), 'layer-store.sock') }, { logger: silentLogger() });
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

function parseLabels(items: readonly string[]): Labels {
  const out: Labels = {};
  for (const item of items) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new UsageError(`invalid label ${JSON.stringify(item)}: expected KEY=VALUE`);
    out[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return out;
}

/** Human size: 1.5MB, like docker's. */
export function humanSize(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let n = bytes;
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return i === 0 ? `${n}B` : `${n.toFixed(n < 10 ? 2 : n < 100 ? 1 : 0)}${units[i]}`;
}

const labelFlag = flags.list('Label KEY=VALUE (repeatable)', { placeholder: 'KEY=VALUE' });

/** `strata content ls`: the blobs in the layer-store. */
export const contentLsCommand = defineCommand({
  name: 'content ls',
  summary: 'List blobs in the layer-store',
  description:
    'Filters are field==value, field!=value, field~=regexp over digest, size and labels.<key>. A --format template ' +
    'sees the fields of --format json: .digest, .size, .createdAt, .labels.',
  flags: { filter: flags.list('Filter (repeatable)', { placeholder: 'FILTER' }), runDir: runDirFlag, format: listFormatFlag },
  async run({ flags: f, io }) {
    const infos = await withStore(f.runDir, async (store) => {
      const out = [];
      for await (const info of store.walk(f.filter)) out.push(info);
      return out;
    });
    const cells = (i: (typeof infos)[number]) => [
      i.digest,
      humanSize(i.size),
      i.createdAt.toISOString(),
      Object.entries(i.labels)
        .map(([k, v]) => `${k}=${v}`)
        .join(','),
    ];
    printList(io.stdout, f.format, infos, { table: (all) => formatTable(['digest', 'size', 'created', 'labels'], all.map(cells)) });
  },
});

/** `strata content put FILE`: stores a file, prints its digest. */
export const contentPutCommand = defineCommand({
  name: 'content put',
  summary: 'Store a file (or - for stdin) as a blob and print its digest',
  usage: 'FILE|-',
  minArgs: 1,
  maxArgs: 1,
  flags: {
    label: labelFlag,
    expected: flags.string('Expected digest, verified before the blob is stored', { placeholder: 'DIGEST' }),
    runDir: runDirFlag,
  },
  async run({ flags: f, args, io }) {
    const labels = parseLabels(f.label);
    const expected = f.expected === undefined || f.expected === '' ? undefined : parseDigest(f.expected);
    const file = args[0]!;
    const info = await withStore(f.runDir, async (store) => {
      const writer = await store.writer({ ref: `cli-put-${randomUUID()}`, ...(expected ? { expected } : {}) });
      try {
        const input = file === '-' ? process.stdin : createReadStream(file, { highWaterMark: 1 << 20 });
        for await (const chunk of input) await writer.write(chunk as Buffer);
        return await writer.commit({ labels });
      } catch (err) {
        await store.abort(writer.ref).catch(() => undefined);
        throw err;
      }
    });
    io.stdout.write(`${info.digest}\n`);
  },
});

/** `strata content get DIGEST`: writes a blob to stdout or a file. */
export const contentGetCommand = defineCommand({
  name: 'content get',
  summary: 'Write a blob to stdout or to a file',
  usage: 'DIGEST',
  minArgs: 1,
  maxArgs: 1,
  flags: { output: flags.string('Write to FILE instead of stdout', { short: 'o', placeholder: 'FILE' }), runDir: runDirFlag },
  async run({ flags: f, args }) {
    const digest = parseDigest(args[0]);
    await withStore(f.runDir, async (store) => {
      const blob = await store.read(digest);
      const out = f.output === undefined || f.output === '' ? process.stdout : createWriteStream(f.output, { mode: 0o644 });
      await pipeline(blob.chunks, out, { end: out !== process.stdout });
    });
  },
});

/** `strata content info DIGEST`. */
export const contentInfoCommand = defineCommand({
  name: 'content info',
  summary: 'Show size, times and labels of a blob',
  usage: 'DIGEST',
  minArgs: 1,
  maxArgs: 1,
  flags: { runDir: runDirFlag },
  async run({ flags: f, args, io }) {
    const digest = parseDigest(args[0]);
    printJson(io.stdout, await withStore(f.runDir, (store) => store.info(digest)));
  },
});

/** `strata content label DIGEST KEY=VALUE…|KEY=`: sets or removes labels. */
export const contentLabelCommand = defineCommand({
  name: 'content label',
  summary: 'Set labels of a blob (KEY= removes one)',
  usage: 'DIGEST KEY=VALUE...',
  minArgs: 2,
  maxArgs: 256,
  flags: { runDir: runDirFlag },
  async run({ flags: f, args, io }) {
    const digest = parseDigest(args[0]);
    const changes = parseLabels(args.slice(1));
    const next = Object.fromEntries(Object.entries(changes).filter(([, v]) => v !== ''));
    const info = await withStore(f.runDir, (store) =>
      store.update(digest, next, Object.keys(changes).map((k) => `labels.${k}`)),
    );
    printJson(io.stdout, info.labels);
  },
});

/** `strata content rm DIGEST…`. */
export const contentRmCommand = defineCommand({
  name: 'content rm',
  summary: 'Delete blobs',
  usage: 'DIGEST...',
  minArgs: 1,
  maxArgs: 10_000,
  flags: { runDir: runDirFlag },
  async run({ flags: f, args, io }) {
    const digests = args.map(parseDigest);
    await withStore(f.runDir, async (store) => {
      for (const d of digests) {
        await store.delete(d);
        io.stdout.write(`${d}\n`);
      }
    });
  },
});

/** `strata content gc`: one garbage collection pass in the layer-store. */
export const contentGcCommand = defineCommand({
  name: 'content gc',
  summary: 'Delete blobs that nothing references (no root label, lease or reference)',
  flags: { dryRun: flags.switch('Only report what would be deleted'), runDir: runDirFlag, format: formatFlag },
  async run({ flags: f, io }) {
    const result = await withStore(f.runDir, (store) => store.garbageCollect({ dryRun: f.dryRun }));
    if (f.format === 'json') {
      printJson(io.stdout, result);
      return;
    }
    for (const d of result.deleted) io.stdout.write(`${f.dryRun ? 'would delete' : 'deleted'} ${d}\n`);
    io.stdout.write(
      `${result.deleted.length} blobs, ${humanSize(result.bytesFreed)} ${f.dryRun ? 'to free' : 'freed'}; ${result.leasesExpired} expired leases removed\n`,
    );
  },
});

/** Every `strata content` command. */
export const contentCommands = [
  contentLsCommand,
  contentPutCommand,
  contentGetCommand,
  contentInfoCommand,
  contentLabelCommand,
  contentRmCommand,
  contentGcCommand,
];
