import { invalidArgument } from '@strata/kit';
import { layerCompression, parseDigest, type Descriptor } from '@strata/oci';

/**
 * Checks a layer descriptor before anything is read: a supported layer
 * media type (tar, gzip, zstd; OCI or Docker), a valid digest, a whole
 * size. InvalidArgument naming the fault.
 */
export function checkLayerDescriptor(layer: Descriptor): Descriptor {
  if (layerCompression(layer.mediaType) === undefined) {
    throw invalidArgument(`unsupported layer media type ${JSON.stringify(layer.mediaType)}: expected an OCI or Docker layer (tar, tar+gzip, tar+zstd)`, {
      fields: { mediaType: layer.mediaType },
    });
  }
  const digest = parseDigest(layer.digest);
  if (!Number.isSafeInteger(layer.size) || layer.size < 0) throw invalidArgument(`layer ${digest} has an invalid size ${layer.size}`);
  return { mediaType: layer.mediaType, digest, size: layer.size };
}
