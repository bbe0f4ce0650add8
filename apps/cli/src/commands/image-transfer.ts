import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { once } from 'node:events';
import type { ClientDuplexStream } from '@grpc/grpc-js';
import type { LayerStatus, PushResponse } from '@strata/api/images/v1';
import { aborted, invalidArgument, notFound } from '@strata/kit';
import { parseReference, type Reference } from '@strata/oci';
import { archiveOutput } from '../framework/archive-output.js';
import { defineCommand } from '../framework/command.js';
import { flags } from '../framework/flags.js';
import { shortId } from '../framework/human-units.js';
import { UsageError } from '../framework/usage-error.js';
import { runDirFlag } from './common-flags.js';
import { checkImageName, familiarRef, parseTagTarget } from './image-views.js';
import { withImages } from './images.js';

/** Bytes per message when streaming a file to the mirror. */
const CHUNK_BYTES = 256 * 1024;

/** Writes messages to a client stream with backpressure, half-closes it, and returns its one answer. */
async function sendAll<Req, Res>(call: ClientDuplexStream<Req, Res>, messages: AsyncIterable<Req>, translate: (err: unknown) => Error): Promise<Res> {
  const answers: Res[] = [];
  const received = (async () => {
    for await (const answer of call as AsyncIterable<Res>) answers.push(answer);
  })();
  received.catch(() => undefined);
  try {
    for await (const message of messages) {
      if (!call.write(message)) await Promise.race([once(call, 'drain'), received]);
    }
    call.end();
    await received;
  } catch (err) {
    call.cancel();
    await received.catch(() => undefined);
    throw translate(err);
  }
  const answer = answers[0];
  if (answer === undefined) throw aborted('the registry-mirror ended the call without an answer; run the command again');
  return answer;
}

/** Chunks of at most CHUNK_BYTES of a byte stream. */
async function* pieces(source: AsyncIterable<Uint8Array>): AsyncGenerator<Buffer> {
  for await (const chunk of source) {
    for (let at = 0; at < chunk.length; at += CHUNK_BYTES) yield Buffer.from(chunk.subarray(at, at + CHUNK_BYTES));
  }
}

/** `docker push`'s words for a blob's state (states: the generated enum); undefined for states it does not print. */
function pushState(status: LayerStatus, mountedFrom: string | undefined, states: typeof LayerStatus): string | undefined {
  switch (status) {
    case states.LAYER_STATUS_WAITING:
      return 'Preparing';
    case states.LAYER_STATUS_PUSHING:
      return 'Pushing';
    case states.LAYER_STATUS_PUSHED:
      return 'Pushed';
    case states.LAYER_STATUS_EXISTS:
      return 'Layer already exists';
    case states.LAYER_STATUS_MOUNTED:
      return mountedFrom === undefined ? 'Mounted' : `Mounted from ${mountedFrom}`;
    default:
      return undefined;
  }
}

/** `strata push NAME[:TAG] [TARGET]`: uploads an image to a registry, as `docker push`. */
export const pushCommand = defineCommand({
  name: 'push',
  summary: 'Upload an image to a registry',
  description:
    'Pushes IMAGE (a reference or image id) from the layer-store to a registry through the registry-mirror: to TARGET ' +
    '(host/repository[:tag]) when given, else to its own repository and tag. The registry is one of the mirror\'s ' +
    'upstreams (with their credentials) or a loopback registry (plain HTTP). Blobs the registry has are not sent again. ' +
    'Prints a line per blob state and `<tag>: digest: <digest> size: <size>` at the end.',
  usage: 'IMAGE [TARGET]',
  minArgs: 1,
  maxArgs: 2,
  flags: { quiet: flags.switch('Print only the digest line', { short: 'q' }), runDir: runDirFlag },
  async run({ flags: f, args, io }) {
    const ref = checkImageName(args[0]!);
    const target = args[1] === undefined ? undefined : parseTagTarget(args[1]);
    let shownTarget: Reference | undefined = target;
    if (shownTarget === undefined && !/^(?:sha256:)?[a-f0-9]{12,64}$/.test(ref)) shownTarget = parseReference(ref);
    if (!f.quiet && shownTarget !== undefined) io.stdout.write(`The push refers to repository [${shownTarget.name}]\n`);
    const states = new Map<number, string>();
    let done: Extract<PushResponse['event'], { $case: 'done' }>['value'] | undefined;
    let mountedFrom: string | undefined;
    const { LayerStatus: layerStates } = await import('@strata/api/images/v1');
    await withImages(f.runDir, async (client, api) => {
      for await (const event of client.serverStream(api.push, { ref, target: args[1] ?? '' })) {
        const e = event.event;
        if (e?.$case === 'resolved') {
          const source = e.value.ref.includes('/') ? parseReference(e.value.ref) : undefined;
          const to = parseReference(e.value.target);
          if (source !== undefined && source.domain === to.domain && source.path !== to.path) mountedFrom = source.path;
        }
        if (e?.$case === 'done') done = e.value;
        if (e?.$case !== 'layer' || f.quiet) continue;
        const state = pushState(e.value.status, mountedFrom, layerStates);
        if (state === undefined || states.get(e.value.index) === state) continue;
        states.set(e.value.index, state);
        io.stdout.write(`${shortId(e.value.digest)}: ${state}\n`);
      }
    });
    if (done === undefined) throw aborted(`the push of ${familiarRef(ref)} ended before it was done; run it again`);
    const tag = parseReference(done.target).tag ?? 'latest';
    io.stdout.write(`${tag}: digest: ${done.digest} size: ${done.size}\n`);
  },
});

/** `strata save [-o FILE] IMAGE…`: an archive of images, as `docker save`. */
export const saveCommand = defineCommand({
  name: 'save',
  summary: 'Save one or more images to a tar archive (streamed to STDOUT by default)',
  description:
    'Writes an archive of the images: --format oci-archive (default) is an OCI image layout that also carries Docker\'s ' +
    'manifest.json, which `strata load`, `docker load` and `skopeo copy oci-archive:FILE` read; docker-archive is Docker\'s ' +
    'legacy layout with uncompressed layers (`skopeo copy docker-archive:FILE`). Digests are kept. Without -o the ' +
    'archive goes to STDOUT, which must not be a terminal.',
  usage: 'IMAGE...',
  minArgs: 1,
  maxArgs: 1000,
  flags: {
    output: flags.string('Write to a file, instead of STDOUT', { short: 'o', placeholder: 'FILE' }),
    format: flags.oneOf('Archive format', ['oci-archive', 'docker-archive'], { default: 'oci-archive' }),
    runDir: runDirFlag,
  },
  async run({ flags: f, args, io }) {
    const refs = args.map(checkImageName);
    const archive = archiveOutput(io, f.output);
    let ok = false;
    try {
      await withImages(f.runDir, async (client, api) => {
        for await (const { data } of client.serverStream(api.export, { refs, format: f.format })) await archive.write(data);
      });
      ok = true;
    } finally {
      await archive.finish(ok);
    }
  },
});

/** The bytes of FILE, or of stdin for `-` / no file; NotFound / InvalidArgument with Docker's words when there are none. */
async function input(file: string | undefined, stdin: (AsyncIterable<Uint8Array> & { isTTY?: boolean }) | undefined): Promise<AsyncIterable<Uint8Array>> {
  if (file !== undefined && file !== '-') {
    try {
      await stat(file);
    } catch {
      throw notFound(`open ${file}: no such file or directory`);
    }
    return createReadStream(file, { highWaterMark: CHUNK_BYTES });
  }
  if (stdin === undefined || stdin.isTTY === true) throw invalidArgument('requested load from stdin, but stdin is empty');
  return stdin;
}

/** `strata load [-i FILE]`: loads images from an archive, as `docker load`. */
export const loadCommand = defineCommand({
  name: 'load',
  summary: 'Load an image from a tar archive or STDIN',
  description:
    'Loads the images of an archive (OCI image layout with or without Docker\'s manifest.json, or a docker-archive as ' +
    '`docker save` and skopeo write it; plain or gzipped) into the layer-store and tags the names it carries. Every ' +
    'digest is checked; nothing is tagged when something does not match.',
  minArgs: 0,
  maxArgs: 0,
  flags: {
    input: flags.string('Read from tar archive file, instead of STDIN', { short: 'i', placeholder: 'FILE' }),
    quiet: flags.switch('Suppress the load output', { short: 'q' }),
    runDir: runDirFlag,
  },
  async run({ flags: f, io }) {
    const source = await input(f.input, io.stdin);
    const response = await withImages(f.runDir, async (client, api) => {
      const call = client.bidiStream(api.import);
      return sendAll(call, (async function* () {
        for await (const data of pieces(source)) yield { data };
      })(), client.translate);
    });
    if (f.quiet) return;
    for (const image of response.images) {
      if (image.repoTags.length === 0) io.stdout.write(`Loaded image ID: ${image.id}\n`);
      for (const name of image.repoTags) io.stdout.write(`Loaded image: ${familiarRef(name)}\n`);
    }
  },
});

/** `strata image import TAR|DIR|- REF`: a single-layer image from a root filesystem, as `docker import`. */
export const imageImportCommand = defineCommand({
  name: 'image import',
  summary: 'Import the contents from a tarball or a directory to create a filesystem image',
  description:
    'Makes a single-layer image of a root filesystem: a tar file (plain or gzipped), a directory (archived as it is, ' +
    'owners and modes kept) or `-` for a tar on STDIN, and tags it REPOSITORY[:TAG]. --change applies Dockerfile ' +
    'instructions (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR) to its config. ' +
    'Prints the image id.',
  usage: 'TAR|DIR|- REPOSITORY[:TAG]',
  minArgs: 2,
  maxArgs: 2,
  flags: {
    change: flags.list('Apply Dockerfile instruction to the created image (repeatable)', { short: 'c', placeholder: 'INSTRUCTION' }),
    message: flags.string('Set commit message for imported image', { short: 'm', placeholder: 'TEXT' }),
    runDir: runDirFlag,
  },
  async run({ flags: f, args, io }) {
    const [path, name] = args as [string, string];
    const target = parseTagTarget(name);
    let source: AsyncIterable<Uint8Array>;
    if (path === '-') source = await input(undefined, io.stdin);
    else {
      let isDirectory: boolean;
      try {
        isDirectory = (await stat(path)).isDirectory();
      } catch {
        throw new UsageError(`${path}: no such file or directory`);
      }
      if (isDirectory) {
        const { createDirectoryTar } = await import('@strata/tar');
        source = createDirectoryTar(path);
      } else source = createReadStream(path, { highWaterMark: CHUNK_BYTES });
    }
    const response = await withImages(f.runDir, async (client, api) => {
      const call = client.bidiStream(api.importRootfs);
      return sendAll(call, (async function* () {
        yield { part: { $case: 'header' as const, value: { ref: target.toString(), changes: f.change, message: f.message ?? '' } } };
        for await (const data of pieces(source)) yield { part: { $case: 'data' as const, value: data } };
      })(), client.translate);
    });
    io.stdout.write(`${response.id}\n`);
  },
});

/** The commands that move images in and out, in the order help lists them. */
export const imageTransferCommands = [pushCommand, saveCommand, loadCommand, imageImportCommand];
