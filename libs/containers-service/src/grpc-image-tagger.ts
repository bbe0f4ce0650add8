import { ImagesService } from '@strata/api/images/v1';
import type { RpcClient } from '@strata/grpc-kit';
import { internal, isNotFound, notFound } from '@strata/kit';
import type { ImageTagger } from './commit.js';

/**
 * The ImageTagger of the registry-mirror's Images API through client (a
 * gRPC client of `<runDir>/registry-mirror.sock`): Images.Tag with the
 * source `<repository>@<manifest digest>`, which the mirror finds in the
 * layer-store by digest. NotFound "No such image: …" when the mirror cannot
 * read the manifest; other errors are the client's.
 */
export function createGrpcImageTagger(client: RpcClient): ImageTagger {
  return {
    async tag(reference, manifest) {
      const source = `${reference.name}@${manifest}`;
      try {
        const response = await client.unary(ImagesService.tag, { source, target: reference.toString() });
        if (response.digest !== manifest) throw internal(`the registry-mirror tagged ${response.target} with ${response.digest}, not ${manifest}`);
        return response.target;
      } catch (err) {
        if (isNotFound(err)) throw notFound(`No such image: ${source}`, { cause: err, fields: { ref: source } });
        throw err;
      }
    },
  };
}
