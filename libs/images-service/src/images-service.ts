import type { ServerWritableStream } from '@grpc/grpc-js';
import {
  ImagesService,
  type ImagesServer,
  type ImportRequest,
  type ImportResponse,
  type ImportRootfsRequest,
  type ImportRootfsResponse,
  type PullRequest,
  type PullResponse,
  type PushRequest,
  type PushResponse,
} from '@strata/api/images/v1';
import { bidiStream, serverStream, unary, type ServiceRegistration } from '@strata/grpc-kit';
import type { Logger } from '@strata/kit';
import { createImages, type Images, type ImagesOptions } from './images.js';

/** The Images gRPC service and the operations behind it. */
export interface ImagesServices {
  /** The operations, for callers in the same process. */
  images: Images;
  /** The `strata.images.v1.Images` implementation. */
  server: ImagesServer;
  /** Ready for grpc-kit's createServer. */
  registrations: ServiceRegistration[];
}

/**
 * Serves {@link createImages} as `strata.images.v1.Images`. Errors reach
 * clients only through grpc-kit's status translation (InvalidArgument →
 * INVALID_ARGUMENT with Docker's texts, NotFound → NOT_FOUND…). A Pull the
 * client cancels stops reading its layers; fetches shared with other
 * clients go on. A Push the client cancels stops uploading. Import and
 * ImportRootfs are bidirectional streams: the client sends the bytes and
 * half-closes, the server answers once and ends the call.
 */
export function createImagesService(options: ImagesOptions): ImagesServices {
  const images = createImages(options);
  const logger: Logger = options.logger;
  const server: ImagesServer = {
    pull: serverStream(logger, (request: PullRequest, call: ServerWritableStream<PullRequest, PullResponse>) => {
      const abort = new AbortController();
      call.on('cancelled', () => abort.abort());
      call.on('close', () => abort.abort());
      return images.pull(request, abort.signal);
    }),
    list: unary(logger, (request) => images.list(request)),
    inspect: unary(logger, (request) => images.inspect(request)),
    history: unary(logger, (request) => images.history(request)),
    tag: unary(logger, (request) => images.tag(request)),
    delete: unary(logger, (request) => images.delete(request)),
    push: serverStream(logger, (request: PushRequest, call: ServerWritableStream<PushRequest, PushResponse>) => {
      const abort = new AbortController();
      call.on('cancelled', () => abort.abort());
      call.on('close', () => abort.abort());
      return images.push(request, abort.signal);
    }),
    export: serverStream(logger, (request) => images.export(request)),
    import: bidiStream<ImportRequest, ImportResponse>(logger, async (requests, reply) => reply(await images.import(requests))),
    importRootfs: bidiStream<ImportRootfsRequest, ImportRootfsResponse>(logger, async (requests, reply) => reply(await images.importRootfs(requests))),
  };
  return { images, server, registrations: [{ definition: ImagesService, implementation: server }] };
}
