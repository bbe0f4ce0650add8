import { describe, expect, it } from 'vitest';
import {
  MANIFEST_ACCEPT,
  MediaTypes,
  baseMediaType,
  isConfigMediaType,
  isForeignLayerMediaType,
  isIndexMediaType,
  isLayerMediaType,
  isManifestMediaType,
  layerCompression,
} from './media-types.js';

describe('media types', () => {
  it.each([
    ['application/vnd.oci.image.manifest.v1+json; charset=utf-8', MediaTypes.ociManifest],
    ['  Application/VND.Docker.Distribution.Manifest.v2+JSON ', MediaTypes.dockerManifest],
    ['', ''],
  ])('baseMediaType(%j) is %j', (contentType, expected) => {
    expect(baseMediaType(contentType)).toBe(expected);
  });

  it.each([
    [MediaTypes.ociManifest, 'manifest'],
    [MediaTypes.dockerManifest, 'manifest'],
    [MediaTypes.ociIndex, 'index'],
    [MediaTypes.dockerManifestList, 'index'],
    [MediaTypes.ociConfig, 'config'],
    [MediaTypes.dockerConfig, 'config'],
    [MediaTypes.dockerManifestSchema1Signed, 'other'],
    [MediaTypes.ociLayerGzip, 'layer'],
    ['application/json', 'other'],
  ])('classifies %s as %s', (mediaType, expected) => {
    const kinds = [
      isManifestMediaType(mediaType) && 'manifest',
      isIndexMediaType(mediaType) && 'index',
      isConfigMediaType(mediaType) && 'config',
      isLayerMediaType(mediaType) && 'layer',
    ].filter(Boolean);
    expect(kinds).toEqual(expected === 'other' ? [] : [expected]);
  });

  it.each([
    [MediaTypes.ociLayer, 'none', false],
    [MediaTypes.ociLayerGzip, 'gzip', false],
    [MediaTypes.ociLayerZstd, 'zstd', false],
    [MediaTypes.ociLayerNondistributable, 'none', true],
    [MediaTypes.ociLayerNondistributableGzip, 'gzip', true],
    [MediaTypes.ociLayerNondistributableZstd, 'zstd', true],
    [MediaTypes.dockerLayer, 'none', false],
    [MediaTypes.dockerLayerGzip, 'gzip', false],
    [MediaTypes.dockerLayerZstd, 'zstd', false],
    [MediaTypes.dockerForeignLayerGzip, 'gzip', true],
    [MediaTypes.ociConfig, undefined, false],
    ['application/x-tar', undefined, false],
  ])('layer %s is compressed with %s (foreign: %s)', (mediaType, compression, foreign) => {
    expect(layerCompression(mediaType)).toBe(compression);
    expect(isForeignLayerMediaType(mediaType)).toBe(foreign);
  });

  it('accepts every manifest and index type when asking for a manifest', () => {
    expect(MANIFEST_ACCEPT.split(', ').sort()).toEqual(
      [MediaTypes.ociIndex, MediaTypes.ociManifest, MediaTypes.dockerManifestList, MediaTypes.dockerManifest].sort(),
    );
  });
});
