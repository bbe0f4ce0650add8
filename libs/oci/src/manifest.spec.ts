import { describe, expect, it } from 'vitest';
import { digestOf, type Digest } from './digest.js';
import { MAX_INDEX_DEPTH, MAX_MANIFEST_BYTES, checkIndexDepth, parseManifestDocument, type ParseManifestOptions } from './manifest.js';
import { MediaTypes } from './media-types.js';
import { errorOf } from './testing/error-of.js';

const json = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
const digest = (c: string) => `sha256:${c.repeat(64)}` as Digest;
const configBytes = json({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } });

const config = { mediaType: MediaTypes.ociConfig, digest: digestOf(configBytes), size: configBytes.byteLength };
const layer = { mediaType: MediaTypes.ociLayerGzip, digest: digest('1'), size: 1234 };
const manifest = { schemaVersion: 2, mediaType: MediaTypes.ociManifest, config, layers: [layer, { ...layer, digest: digest('2') }] };
const entry = (architecture: string, c: string, variant?: string) => ({
  mediaType: MediaTypes.ociManifest,
  digest: digest(c),
  size: 500,
  platform: variant === undefined ? { architecture, os: 'linux' } : { architecture, os: 'linux', variant },
});
const index = { schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests: [entry('amd64', 'a'), entry('arm64', 'b', 'v8')] };

describe('parseManifestDocument', () => {
  it('parses an OCI image manifest', () => {
    const parsed = parseManifestDocument(json(manifest), MediaTypes.ociManifest);
    expect(parsed).toEqual({ kind: 'manifest', mediaType: MediaTypes.ociManifest, document: manifest });
  });

  it('parses a Docker schema 2 manifest and a Docker manifest list', () => {
    const docker = {
      schemaVersion: 2,
      mediaType: MediaTypes.dockerManifest,
      config: { ...config, mediaType: MediaTypes.dockerConfig },
      layers: [{ ...layer, mediaType: MediaTypes.dockerLayerGzip }],
    };
    expect(parseManifestDocument(json(docker), MediaTypes.dockerManifest)).toEqual({
      kind: 'manifest',
      mediaType: MediaTypes.dockerManifest,
      document: docker,
    });
    const list = { ...index, mediaType: MediaTypes.dockerManifestList };
    expect(parseManifestDocument(json(list), `${MediaTypes.dockerManifestList}; charset=utf-8`)).toEqual({
      kind: 'index',
      mediaType: MediaTypes.dockerManifestList,
      document: list,
    });
  });

  it.each([
    ['a manifest without mediaType or Content-Type', { ...manifest, mediaType: undefined }, undefined, 'manifest', MediaTypes.ociManifest],
    ['an index without mediaType or Content-Type', { ...index, mediaType: undefined }, undefined, 'index', MediaTypes.ociIndex],
    [
      'an index without mediaType, by Content-Type',
      { ...index, mediaType: undefined },
      MediaTypes.dockerManifestList,
      'index',
      MediaTypes.dockerManifestList,
    ],
    ['a manifest served as application/json', manifest, 'application/json', 'manifest', MediaTypes.ociManifest],
    ['a manifest served as octet-stream', manifest, 'application/octet-stream', 'manifest', MediaTypes.ociManifest],
    ['a Content-Type in upper case', manifest, 'Application/VND.OCI.Image.Manifest.v1+JSON', 'manifest', MediaTypes.ociManifest],
  ])('tells the kind of %s', (_name, document, contentType, kind, mediaType) => {
    const parsed = parseManifestDocument(json(document), contentType);
    expect({ kind: parsed.kind, mediaType: parsed.mediaType }).toEqual({ kind, mediaType });
  });

  it('keeps only known fields and reads null as absent', () => {
    const text = JSON.stringify({
      ...manifest,
      annotations: null,
      subject: null,
      extra: { anything: true },
      layers: [{ ...layer, urls: null, annotations: { 'org.opencontainers.image.title': 'x', PROTO: 'y' }, unknown: 1 }],
    }).replace('"PROTO"', '"__proto__"');
    const parsed = parseManifestDocument(new TextEncoder().encode(text));
    expect(parsed.kind).toBe('manifest');
    if (parsed.kind !== 'manifest') return;
    const [first] = parsed.document.layers;
    expect({ ...parsed.document, layers: [] }).toEqual({ schemaVersion: 2, mediaType: MediaTypes.ociManifest, config, layers: [] });
    expect(Object.keys(first!)).toEqual(['mediaType', 'digest', 'size', 'annotations']);
    const annotations = first!.annotations!;
    expect(Object.getPrototypeOf(annotations)).toBe(Object.prototype);
    expect(Object.entries(annotations)).toEqual([
      ['org.opencontainers.image.title', 'x'],
      ['__proto__', 'y'],
    ]);
  });

  it('parses artifacts: artifactType, subject, inline data, foreign urls, platform details', () => {
    const data = Buffer.from('{}');
    const artifact = {
      schemaVersion: 2,
      mediaType: MediaTypes.ociManifest,
      artifactType: 'application/vnd.example.sbom+json',
      config: { mediaType: MediaTypes.ociEmpty, digest: digestOf(data), size: 2, data: data.toString('base64') },
      layers: [{ ...layer, mediaType: MediaTypes.ociLayerNondistributableGzip, urls: ['https://example.com/layer'] }],
      subject: { mediaType: MediaTypes.ociManifest, digest: digest('c'), size: 10 },
      annotations: { a: 'b' },
    };
    expect(parseManifestDocument(json(artifact), MediaTypes.ociManifest).document).toEqual(artifact);
    const detailed = {
      schemaVersion: 2,
      manifests: [
        {
          ...entry('amd64', 'd'),
          platform: { architecture: 'amd64', os: 'windows', 'os.version': '10.0.17763.1', 'os.features': ['win32k'], features: ['sse4'] },
        },
      ],
    };
    expect(parseManifestDocument(json(detailed)).document).toEqual(detailed);
  });

  it('accepts exactly maxBytes and an index of exactly maxManifests entries', () => {
    const bytes = new Uint8Array(MAX_MANIFEST_BYTES).fill(0x20);
    bytes.set(json(manifest));
    expect(parseManifestDocument(bytes).kind).toBe('manifest');
    const wide = { ...index, manifests: Array.from({ length: 1000 }, () => entry('amd64', 'e')) };
    const parsed = parseManifestDocument(json(wide));
    expect(parsed.kind === 'index' && parsed.document.manifests).toHaveLength(1000);
    expect(parseManifestDocument(json(index), undefined, { maxManifests: 2 }).kind).toBe('index');
  });

  it('checks the expected digest of exactly the bytes it parses', () => {
    const bytes = json(manifest);
    expect(parseManifestDocument(bytes, undefined, { expectedDigest: digestOf(bytes) }).kind).toBe('manifest');
  });

  const replace = (patch: Record<string, unknown>) => json({ ...manifest, ...patch });
  const replaceLayer = (patch: Record<string, unknown>) => json({ ...manifest, layers: [{ ...layer, ...patch }] });
  const replaceEntry = (patch: Record<string, unknown>) => json({ ...index, manifests: [{ ...entry('amd64', 'a'), ...patch }] });
  const tooBig = new Uint8Array(MAX_MANIFEST_BYTES + 1).fill(0x20);
  const gzip = new Uint8Array([0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03]);
  const schema1 = 'Docker schema 1 manifests are not supported; push the image again with a current client (schema 2 or OCI)';
  const confusion =
    'manifest has both "manifests" and "layers"/"config"; a document must be an image manifest or an image index, not both (CVE-2021-41190)';

  it.each<[string, Uint8Array, string | undefined, ParseManifestOptions, string]>([
    // Oversized documents and bytes that are no manifest.
    ['an oversized manifest', tooBig, undefined, {}, `manifest is ${MAX_MANIFEST_BYTES + 1} bytes, over the limit of ${MAX_MANIFEST_BYTES} bytes`],
    [
      'a manifest over a lower limit',
      json(manifest),
      undefined,
      { maxBytes: 100 },
      `manifest is ${json(manifest).byteLength} bytes, over the limit of 100 bytes`,
    ],
    ['a layer asked for on the manifests endpoint (bytes)', gzip, undefined, {}, 'manifest is not valid UTF-8 text'],
    [
      'a layer asked for on the manifests endpoint (type)',
      gzip,
      MediaTypes.ociLayerGzip,
      {},
      `Content-Type "${MediaTypes.ociLayerGzip}" is not an image manifest or index media type`,
    ],
    [
      'a config served as a manifest',
      configBytes,
      MediaTypes.ociConfig,
      {},
      `Content-Type "${MediaTypes.ociConfig}" is not an image manifest or index media type`,
    ],
    ['a byte order mark', new Uint8Array([0xef, 0xbb, 0xbf, ...json(manifest)]), undefined, {}, 'manifest is not valid JSON'],
    ['truncated JSON', json(manifest).subarray(0, 50), undefined, {}, 'manifest is not valid JSON'],
    ['an array', json([manifest]), undefined, {}, 'manifest must be a JSON object, got an array'],
    ['null', json(null), undefined, {}, 'manifest must be a JSON object, got null'],
    ['a string', json('manifest'), undefined, {}, 'manifest must be a JSON object, got "manifest"'],
    [
      'bytes that do not hash to the expected digest',
      json(manifest),
      undefined,
      { expectedDigest: digest('f') },
      `manifest content has digest ${digestOf(json(manifest))}, not the expected ${digest('f')}`,
    ],
    // Versions.
    ['a schema 1 Content-Type', json(manifest), MediaTypes.dockerManifestSchema1Signed, {}, schema1],
    ['schemaVersion 1', replace({ schemaVersion: 1, mediaType: undefined }), undefined, {}, schema1],
    ['a schema 1 mediaType', replace({ mediaType: MediaTypes.dockerManifestSchema1 }), undefined, {}, schema1],
    ['schemaVersion 3', replace({ schemaVersion: 3 }), undefined, {}, 'manifest field schemaVersion must be 2, got 3'],
    ['schemaVersion "2"', replace({ schemaVersion: '2' }), undefined, {}, 'manifest field schemaVersion must be 2, got "2"'],
    ['no schemaVersion', replace({ schemaVersion: undefined }), undefined, {}, 'manifest is missing field schemaVersion'],
    // Manifest/index confusion (CVE-2021-41190).
    ['manifests and layers', json({ ...index, layers: [layer] }), undefined, {}, confusion],
    ['manifests and config', json({ ...index, config }), MediaTypes.ociIndex, {}, confusion],
    ['manifests and layers as a manifest', json({ ...manifest, manifests: [] }), MediaTypes.ociManifest, {}, confusion],
    [
      'a mediaType that disagrees with the Content-Type',
      json(index),
      MediaTypes.ociManifest,
      {},
      `manifest mediaType "${MediaTypes.ociIndex}" disagrees with its Content-Type "${MediaTypes.ociManifest}"; refused (CVE-2021-41190)`,
    ],
    [
      'a Docker mediaType under an OCI Content-Type',
      replace({ mediaType: MediaTypes.dockerManifest }),
      MediaTypes.ociManifest,
      {},
      `manifest mediaType "${MediaTypes.dockerManifest}" disagrees with its Content-Type "${MediaTypes.ociManifest}"; refused (CVE-2021-41190)`,
    ],
    [
      'a mediaType that is no manifest type',
      replace({ mediaType: MediaTypes.ociLayer }),
      undefined,
      {},
      `manifest field mediaType is "${MediaTypes.ociLayer}", not an image manifest or index media type`,
    ],
    ['a mediaType of the wrong type', replace({ mediaType: 7 }), undefined, {}, 'manifest field mediaType must be a string, got 7'],
    [
      'image fields under an index Content-Type',
      replace({ mediaType: undefined }),
      MediaTypes.ociIndex,
      {},
      'image index must not have "layers" or "config" (CVE-2021-41190)',
    ],
    [
      'manifests under a manifest Content-Type',
      json({ ...index, mediaType: undefined }),
      MediaTypes.dockerManifest,
      {},
      'image manifest must not have "manifests" (CVE-2021-41190)',
    ],
    [
      'neither manifests nor layers',
      json({ schemaVersion: 2 }),
      undefined,
      {},
      'manifest has neither "manifests" nor "config" and "layers"; it is not an image manifest or index',
    ],
    [
      'a key that differs from "layers" only in case',
      json({ ...index, Layers: [layer] }),
      undefined,
      {},
      'manifest field Layers differs from layers only in case; other parsers read it as layers, so it is refused',
    ],
    [
      'a key that differs from "mediaType" only in case',
      json({ ...manifest, mediatype: MediaTypes.ociIndex }),
      undefined,
      {},
      'manifest field mediatype differs from mediaType only in case; other parsers read it as mediaType, so it is refused',
    ],
    // Wrongly typed fields and malformed descriptors.
    ['no config', replace({ config: undefined }), undefined, {}, 'image manifest is missing field config'],
    ['config null', replace({ config: null }), undefined, {}, 'image manifest is missing field config'],
    ['no layers', replace({ layers: undefined }), MediaTypes.ociManifest, {}, 'image manifest is missing field layers'],
    ['layers as an object', replace({ layers: { 0: layer } }), undefined, {}, 'image manifest field layers must be an array, got an object'],
    ['a layer that is a string', replace({ layers: ['x'] }), undefined, {}, 'image manifest field layers[0] must be an object, got "x"'],
    ['a negative size', replaceLayer({ size: -1 }), undefined, {}, 'image manifest field layers[0].size must be a non-negative integer, got -1'],
    ['a fractional size', replaceLayer({ size: 1.5 }), undefined, {}, 'image manifest field layers[0].size must be a non-negative integer, got 1.5'],
    [
      'a size as a string',
      replaceLayer({ size: '100' }),
      undefined,
      {},
      'image manifest field layers[0].size must be a non-negative integer, got "100"',
    ],
    [
      'an unsafe size',
      replaceLayer({ size: 2 ** 53 }),
      undefined,
      {},
      'image manifest field layers[0].size must be a non-negative integer, got 9007199254740992',
    ],
    ['no size', replaceLayer({ size: undefined }), undefined, {}, 'image manifest is missing field layers[0].size'],
    [
      'a digest with a path in it',
      replaceLayer({ digest: 'sha256:../..' }),
      undefined,
      {},
      'image manifest field layers[0].digest is not a valid digest: invalid digest "sha256:../..": expected algorithm:hex, e.g. sha256:<64 hex>',
    ],
    [
      'an upper-case digest',
      replaceLayer({ digest: `sha256:${'A'.repeat(64)}` }),
      undefined,
      {},
      `image manifest field layers[0].digest is not a valid digest: invalid digest "sha256:${'A'.repeat(64)}": hex must be lower-case`,
    ],
    [
      'a digest that is a number',
      replace({ config: { ...config, digest: 5 } }),
      undefined,
      {},
      'image manifest field config.digest must be a digest string, got 5',
    ],
    [
      'a config without mediaType',
      replace({ config: { ...config, mediaType: undefined } }),
      undefined,
      {},
      'image manifest is missing field config.mediaType',
    ],
    [
      'a malformed media type',
      replaceLayer({ mediaType: 'not a type' }),
      undefined,
      {},
      'image manifest field layers[0].mediaType must be a media type like type/subtype, got "not a type"',
    ],
    ['urls that are not strings', replaceLayer({ urls: [5] }), undefined, {}, 'image manifest field layers[0].urls[0] must be a string, got 5'],
    [
      'urls that are a string',
      replaceLayer({ urls: 'https://x' }),
      undefined,
      {},
      'image manifest field layers[0].urls must be an array, got "https://x"',
    ],
    [
      'an annotation that is not a string',
      replace({ annotations: { a: 1 } }),
      undefined,
      {},
      'image manifest field annotations["a"] must be a string, got 1',
    ],
    [
      'inline data that is not base64',
      replace({ config: { ...config, data: '!!' } }),
      undefined,
      {},
      'image manifest field config.data must be base64, got "!!"',
    ],
    [
      'inline data that does not match the digest',
      replace({ config: { ...config, data: Buffer.from('{"x":1}').toString('base64') } }),
      undefined,
      {},
      "image manifest field config.data does not match the descriptor's digest and size",
    ],
    [
      'a descriptor key that differs only in case',
      replaceLayer({ Digest: digest('9') }),
      undefined,
      {},
      'image manifest field layers[0].Digest differs from layers[0].digest only in case; other parsers read it as layers[0].digest, so it is refused',
    ],
    [
      'a malformed subject',
      replace({ subject: { mediaType: MediaTypes.ociManifest, digest: 'x', size: 1 } }),
      undefined,
      {},
      'image manifest field subject.digest is not a valid digest: invalid digest "x": expected algorithm:hex, e.g. sha256:<64 hex>',
    ],
    [
      'a malformed artifactType',
      replace({ artifactType: 'sbom' }),
      undefined,
      {},
      'image manifest field artifactType must be a media type like type/subtype, got "sbom"',
    ],
    // Indexes.
    ['manifests as a string', json({ ...index, manifests: 'x' }), undefined, {}, 'image index field manifests must be an array, got "x"'],
    [
      'a platform without os',
      replaceEntry({ platform: { architecture: 'amd64' } }),
      undefined,
      {},
      'image index is missing field manifests[0].platform.os',
    ],
    [
      'a platform with a numeric architecture',
      replaceEntry({ platform: { architecture: 64, os: 'linux' } }),
      undefined,
      {},
      'image index field manifests[0].platform.architecture must be a string, got 64',
    ],
    [
      'a platform that is an array',
      replaceEntry({ platform: [] }),
      undefined,
      {},
      'image index field manifests[0].platform must be an object, got an array',
    ],
    [
      'an index with too many entries',
      json({ ...index, manifests: Array.from({ length: 1001 }, () => entry('amd64', 'a')) }),
      undefined,
      {},
      'image index lists 1001 manifests, over the limit of 1000',
    ],
    ['an index over a lower fan-out cap', json(index), undefined, { maxManifests: 1 }, 'image index lists 2 manifests, over the limit of 1'],
  ])('refuses %s', (_name, bytes, contentType, options, message) => {
    expect(errorOf(() => parseManifestDocument(bytes, contentType, options))).toEqual({ kind: 'InvalidArgument', message });
  });

  it('refuses a huge document before decoding it', () => {
    const started = performance.now();
    const huge = new Uint8Array(64 * 1024 * 1024);
    expect(errorOf(() => parseManifestDocument(huge))).toEqual({
      kind: 'InvalidArgument',
      message: `manifest is ${huge.byteLength} bytes, over the limit of ${MAX_MANIFEST_BYTES} bytes`,
    });
    expect(performance.now() - started).toBeLessThan(500);
  });
});

describe('checkIndexDepth', () => {
  it.each([1, 2, 3, MAX_INDEX_DEPTH])('allows an index at depth %i', (depth) => {
    expect(() => checkIndexDepth(depth)).not.toThrow();
  });

  it.each([
    [5, undefined, 'image index nested 5 deep, over the limit of 4'],
    [3, 2, 'image index nested 3 deep, over the limit of 2'],
    [0, undefined, 'index depth must be a positive integer, got 0'],
    [1.5, undefined, 'index depth must be a positive integer, got 1.5'],
  ])('refuses depth %s (limit %s)', (depth, max, message) => {
    expect(errorOf(() => checkIndexDepth(depth, max))).toEqual({ kind: 'InvalidArgument', message });
  });
});
