import { stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { DiffService, UnpackResponse } from '@strata/api/diff/v1';
import type { ImagesService, Platform as ProtoPlatform } from '@strata/api/images/v1';
import type { Descriptor as ProtoDescriptor } from '@strata/api/types/v1';
import type { RpcClient } from '@strata/grpc-kit';
import { aborted, isFailedPrecondition, isNotFound, isStrataError, isUnavailable, notFound } from '@strata/kit';
import { parsePlatform, parseReference } from '@strata/oci';
import { defineCommand } from '../framework/command.js';
import { flags, type Flag } from '../framework/flags.js';
import { formatTable } from '../framework/table.js';
import { printInspected, printList } from '../framework/output-format.js';
import { inspectFormatFlag, listFormatFlag, runDirFlag } from './common-flags.js';
import {
  checkImageName,
  familiarRef,
  HISTORY_FIELD_HEADERS,
  IMAGE_FIELD_HEADERS,
  historyRows,
  imageRows,
  inspectView,
  parseTagTarget,
  usesDefaultTag,
} from './image-views.js';

/** File name of the registry-mirror's gRPC socket under the run dir. */
export const REGISTRY_MIRROR_SOCKET = 'registry-mirror.sock';

/**
 * The Images client of the registry-mirror under runDir and the method
 * definitions, closed after fn. gRPC and the generated code are loaded
 * here, so that other commands and `--help` start without them.
 */
export async function withImages<T>(runDir: string, fn: (client: RpcClient, api: ImagesService) => Promise<T>): Promise<T> {
  const [{ createClient }, { ImagesService: api }] = await Promise.all([import('../framework/rpc-client.js'), import('@strata/api/images/v1')]);
  const client = createClient({ unixSocket: join(resolve(runDir), REGISTRY_MIRROR_SOCKET) });
  try {
    return await fn(client, api);
  } finally {
    client.close();
  }
}

/** File name of this host's snapshotter socket under the run dir. */
export const SNAPSHOTTER_SOCKET = 'snapshotter.sock';

/** The Diff client of the snapshotter at socket, closed after fn; loaded only when a pull unpacks. */
async function withDiff<T>(socket: string, fn: (client: RpcClient, api: DiffService) => Promise<T>): Promise<T> {
  const [{ createClient }, { DiffService: api }] = await Promise.all([import('../framework/rpc-client.js'), import('@strata/api/diff/v1')]);
  const client = createClient({ unixSocket: socket });
  try {
    return await fn(client, api);
  } finally {
    client.close();
  }
}

/** An Unpack started while its pull runs; see {@link startUnpack}. */
interface EarlyUnpack {
  /**
   * Shows the events so far through onEvent, then each as it comes, until
   * the unpack ends; resolves with its failure ({ error }) or undefined.
   */
  finish(onEvent: (event: UnpackResponse) => void): Promise<{ error: unknown } | undefined>;
  /** Ends the call (the snapshotter removes the layer it was applying). */
  cancel(): void;
}

/**
 * Starts Diff.Unpack of manifest on the snapshotter at socket now, while
 * the pull still downloads the layers: the snapshotter waits for blobs
 * being stored and applies a layer as the layer-store writes it, keeping
 * it only once the layer-store committed the blob (see Differ.unpack).
 * Its events wait until finish(), so the output reads as when the unpack
 * follows the pull.
 */
function startUnpack(socket: string, manifest: ProtoDescriptor): EarlyUnpack {
  const held: UnpackResponse[] = [];
  let show: ((event: UnpackResponse) => void) | undefined;
  let client: RpcClient | undefined;
  let canceled = false;
  const done = (async () => {
    const [{ createClient }, { DiffService: api }] = await Promise.all([import('../framework/rpc-client.js'), import('@strata/api/diff/v1')]);
    if (canceled) return;
    client = createClient({ unixSocket: socket });
    try {
      for await (const event of client.serverStream(api.unpack, { manifest })) {
        if (show === undefined) held.push(event);
        else show(event);
      }
    } finally {
      client.close();
    }
  })();
  done.catch(() => undefined);
  return {
    async finish(onEvent) {
      for (const event of held.splice(0)) onEvent(event);
      show = onEvent;
      return done.then(
        () => undefined,
        (error: unknown) => ({ error }),
      );
    },
    cancel() {
      canceled = true;
      client?.close();
    },
  };
}

/** Failures of an unpack started during its pull that an unpack after it may not have: a blob not there yet, a layer read from bytes the layer-store did not commit. */
const retriedAfterPull = (err: unknown) => isNotFound(err) || isFailedPrecondition(err) || isUnavailable(err);

/** True when path is a unix socket (a snapshotter that runs, or one that left it behind). */
async function isSocket(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isSocket() === true;
}

/** The platform flag's value for a request; undefined (the mirror's host platform) when not given. */
function platformOf(text: string | undefined): ProtoPlatform | undefined {
  if (text === undefined) return undefined;
  const p = parsePlatform(text);
  return { os: p.os, architecture: p.architecture, variant: p.variant ?? '' };
}

const platformFlag = flags.string('Platform os/arch[/variant] to pick from a multi-platform image (the mirror host\'s by default)', {
  placeholder: 'OS/ARCH[/VARIANT]',
});
const noTruncFlag = flags.switch("Don't truncate output");
const humanFlag: Flag<boolean> = {
  ...flags.switch('Print sizes and dates in human readable format (--human=false for bytes and RFC 3339)', { short: 'H' }),
  initial: true,
  shownDefault: 'true',
};

/** `strata pull REF`: pulls an image through the registry-mirror with progress. */
export const pullCommand = defineCommand({
  name: 'pull',
  summary: 'Download an image from a registry through the registry-mirror',
  description:
    'Pulls NAME[:TAG|@DIGEST] through the registry-mirror into the layer-store and tags it, then unpacks its layers ' +
    "into this host's snapshotter (<run-dir>/snapshotter.sock) as committed snapshots; layers already unpacked are " +
    'skipped. Without a snapshotter (strata up starts it as root) the image is pulled but not unpacked, said once on ' +
    'stderr. On a terminal every layer shows a progress bar; otherwise each layer state is a line. The last line is ' +
    'the full reference.',
  usage: 'NAME[:TAG|@DIGEST]',
  minArgs: 1,
  maxArgs: 1,
  flags: {
    platform: platformFlag,
    quiet: flags.switch('Print only the full reference of the image', { short: 'q' }),
    noUnpack: flags.switch("Don't unpack the image into this host's snapshotter"),
    runDir: runDirFlag,
  },
  async run({ flags: f, args, io }) {
    const text = args[0]!;
    const ref = parseReference(text);
    const platform = platformOf(f.platform);
    const snapshotterSocket = join(resolve(f.runDir), SNAPSHOTTER_SOCKET);
    const unpack = !f.noUnpack && (await isSocket(snapshotterSocket));
    if (!f.quiet && usesDefaultTag(text)) io.stdout.write('Using default tag: latest\n');
    const { createPullProgress } = await import('../framework/pull-progress.js');
    const progress = f.quiet
      ? undefined
      : createPullProgress({ out: io.stdout, tty: io.stdout.isTTY === true, columns: io.stdout.columns, unpack });
    let finished = false;
    let manifest: ProtoDescriptor | undefined;
    // The unpack starts once the pull resolved the image, so layers are applied while they download.
    let early: EarlyUnpack | undefined;
    try {
      await withImages(f.runDir, async (client, api) => {
        for await (const event of client.serverStream(api.pull, { ref: text, platform })) {
          progress?.update(event);
          if (event.event?.$case === 'resolved') {
            manifest = event.event.value.manifest;
            if (unpack && early === undefined && manifest !== undefined && manifest.digest !== '') early = startUnpack(snapshotterSocket, manifest);
          }
          if (event.event?.$case === 'done') finished = true;
        }
        if (finished && unpack && (manifest === undefined || manifest.digest === '')) {
          manifest = (await client.unary(api.inspect, { ref: text, platform })).image?.manifest;
        }
      });
    } catch (err) {
      early?.cancel();
      throw err;
    }
    if (!finished) {
      early?.cancel();
      throw aborted(`the pull of ${ref.familiar()} ended before it was done; run it again`, { fields: { ref: text } });
    }
    if (unpack) {
      if (manifest === undefined || manifest.digest === '') {
        throw aborted(`the registry-mirror named no manifest for ${ref.familiar()}, so it was pulled but not unpacked; run the pull again`);
      }
      const failed = await early?.finish((event) => progress?.unpack(event));
      if (failed !== undefined && !retriedAfterPull(failed.error)) throw failed.error;
      if (early === undefined || failed !== undefined) {
        // Now that every blob is stored: layers the early unpack committed are found unpacked.
        const request = { manifest };
        await withDiff(snapshotterSocket, async (client, api) => {
          for await (const event of client.serverStream(api.unpack, request)) progress?.unpack(event);
        });
      }
    } else if (!f.noUnpack) {
      io.stderr.write(`strata: not unpacked: no snapshotter at ${snapshotterSocket} (strata up starts it as root; --no-unpack skips this)\n`);
    }
    progress?.finish();
    if (f.quiet) io.stdout.write(`${ref.toString()}\n`);
  },
});

/** `strata images`: the tagged images, as `docker images`. */
export const imagesCommand = defineCommand({
  name: 'images',
  summary: 'List images',
  description:
    'Lists the images the registry-mirror holds, newest first. Filters: reference=PATTERN, label=KEY[=VALUE], ' +
    'before=IMAGE, since=IMAGE; a REPOSITORY[:TAG] argument is a reference filter. A --format template sees ' +
    "Docker's fields .ID, .Repository, .Tag, .Digest, .CreatedSince, .CreatedAt, .Size.",
  usage: '[REPOSITORY[:TAG]]',
  minArgs: 0,
  maxArgs: 1,
  flags: {
    filter: flags.list('Filter output based on conditions provided (repeatable)', { short: 'f', placeholder: 'KEY=VALUE' }),
    digests: flags.switch('Show digests'),
    noTrunc: noTruncFlag,
    quiet: flags.switch('Only show image IDs', { short: 'q' }),
    format: listFormatFlag,
    runDir: runDirFlag,
  },
  async run({ flags: f, args, io }) {
    const filters = [...f.filter, ...args.map((a) => `reference=${a}`)];
    const { images } = await withImages(f.runDir, (client, api) => client.unary(api.list, { filters }));
    const rows = imageRows(images, { digests: f.digests, noTrunc: f.noTrunc });
    if (f.quiet) {
      io.stdout.write(rows.map((r) => `${r.ID}\n`).join(''));
      return;
    }
    const headers = ['repository', 'tag', ...(f.digests ? ['digest'] : []), 'image id', 'created', 'size'];
    printList(io.stdout, f.format, rows, {
      table: (all) => formatTable(headers, all.map((r) => [r.Repository, r.Tag, ...(f.digests ? [r.Digest] : []), r.ID, r.CreatedSince, r.Size])),
      headers: IMAGE_FIELD_HEADERS,
    });
  },
});

/** `strata image inspect REF…`: images as `docker image inspect` shows them. */
export const imageInspectCommand = defineCommand({
  name: 'image inspect',
  summary: 'Display detailed information on one or more images',
  description:
    'Prints a JSON array with one object per image, shaped like `docker image inspect`. An image that is not here is ' +
    'reported on stderr and makes the exit code 1; the others are still printed. With -f TEMPLATE, a Go template ' +
    "over that object's fields prints a line per image instead, as `docker image inspect -f '{{.Id}} {{.Size}}'`; " +
    'a field it does not have is an error.',
  usage: 'IMAGE...',
  minArgs: 1,
  maxArgs: 1000,
  flags: { format: inspectFormatFlag, platform: platformFlag, runDir: runDirFlag },
  async run({ flags: f, args, io }) {
    const names = args.map(checkImageName);
    const found: unknown[] = [];
    let failed = false;
    for (const answer of await inspectImages(f.runDir, names, platformOf(f.platform))) {
      if (answer.error === undefined) found.push(answer.view);
      else {
        io.stderr.write(`strata: ${answer.error.message}\n`);
        failed = true;
      }
    }
    printInspected(io.stdout, f.format, found);
    return failed ? 1 : 0;
  },
});

/**
 * Each of refs as `docker image inspect` shows it, through the
 * registry-mirror under runDir, in the order given: its view, or the error
 * that says why there is none (NotFound `No such image: x`,
 * InvalidArgument for a malformed reference). Raises what is not about
 * one image, such as an unreachable mirror (Unavailable).
 */
export async function inspectImages(
  runDir: string,
  refs: readonly string[],
  platform?: ProtoPlatform,
): Promise<Array<{ view: unknown; error?: undefined } | { view?: undefined; error: Error }>> {
  return withImages(runDir, async (client, api) => {
    const answers: Array<{ view: unknown; error?: undefined } | { view?: undefined; error: Error }> = [];
    for (const ref of refs) {
      try {
        const { image } = await client.unary(api.inspect, { ref: checkImageName(ref), platform });
        answers.push(image === undefined ? { error: notFound(`No such image: ${ref}`) } : { view: inspectView(image) });
      } catch (err) {
        if (!isStrataError(err) || err.kind === 'Unavailable') throw err;
        answers.push({ error: err });
      }
    }
    return answers;
  });
}

/** `strata history REF`: the steps that built an image, newest first. */
export const historyCommand = defineCommand({
  name: 'history',
  summary: 'Show the history of an image',
  description:
    "Shows the steps that built IMAGE, newest first. A --format template sees Docker's fields .ID, .CreatedSince, " +
    '.CreatedAt, .CreatedBy, .Size, .Comment.',
  usage: 'IMAGE',
  minArgs: 1,
  maxArgs: 1,
  flags: { human: humanFlag, noTrunc: noTruncFlag, format: listFormatFlag, platform: platformFlag, runDir: runDirFlag },
  async run({ flags: f, args, io }) {
    const ref = checkImageName(args[0]!);
    const platform = platformOf(f.platform);
    const [inspected, history] = await withImages(f.runDir, (client, api) =>
      Promise.all([client.unary(api.inspect, { ref, platform }), client.unary(api.history, { ref, platform })]),
    );
    const rows = historyRows(history.history, { imageId: inspected.image?.id ?? '', noTrunc: f.noTrunc, human: f.human });
    printList(io.stdout, f.format, rows, {
      table: (all) => formatTable(['image', 'created', 'created by', 'size', 'comment'], all.map((r) => [r.ID, r.CreatedSince, r.CreatedBy, r.Size, r.Comment])),
      headers: HISTORY_FIELD_HEADERS,
    });
  },
});

/** `strata tag SOURCE TARGET`: points a tag at an image. */
export const tagCommand = defineCommand({
  name: 'tag',
  summary: 'Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE',
  usage: 'SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]',
  minArgs: 2,
  maxArgs: 2,
  flags: { runDir: runDirFlag },
  async run({ flags: f, args }) {
    const source = checkImageName(args[0]!);
    parseTagTarget(args[1]!);
    await withImages(f.runDir, (client, api) => client.unary(api.tag, { source, target: args[1]! }));
  },
});

/** `strata rmi REF…`: untags and deletes images, as `docker rmi`. */
export const rmiCommand = defineCommand({
  name: 'rmi',
  summary: 'Remove one or more images',
  description:
    'Untags each IMAGE and deletes the image when no tag is left. An image id or NAME@DIGEST removes every tag of the ' +
    'image; images tagged in several repositories need --force. Blobs are left to the layer-store garbage collection.',
  usage: 'IMAGE...',
  minArgs: 1,
  maxArgs: 1000,
  flags: { force: flags.switch('Remove the image even when it is tagged in several repositories', { short: 'f' }), runDir: runDirFlag },
  async run({ flags: f, args, io }) {
    const names = args.map(checkImageName);
    let failed = false;
    await withImages(f.runDir, async (client, api) => {
      for (const ref of names) {
        try {
          const removed = await client.unary(api.delete, { ref, force: f.force });
          for (const name of removed.untagged) io.stdout.write(`Untagged: ${familiarRef(name)}\n`);
          for (const digest of removed.deleted) io.stdout.write(`Deleted: ${digest}\n`);
        } catch (err) {
          if (!isStrataError(err) || err.kind === 'Unavailable') throw err;
          io.stderr.write(`strata: ${err.message}\n`);
          failed = true;
        }
      }
    });
    return failed ? 1 : 0;
  },
});

/** Every image command, in the order help lists them. */
export const imageCommands = [pullCommand, imagesCommand, imageInspectCommand, historyCommand, tagCommand, rmiCommand];
