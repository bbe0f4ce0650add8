import { resolve } from 'node:path';
import { invalidArgument, optionalStr } from '@strata/kit';

/**
 * The settings of a service whose layer-store may run on the same host:
 * blob bytes then take the layer-store's data socket, and committed blobs
 * are read from its files directly. Spread into a service's config spec.
 */
export const sameHostLayerStoreSpec = {
  layerStoreDataSocket: optionalStr(
    'Data socket of a layer-store on this host (its <run-dir>/layer-store.data.sock): blob bytes are written and read there instead of through gRPC messages.',
    { env: 'STRATA_LAYER_STORE_DATA_SOCKET' },
  ),
  layerStoreRoot: optionalStr(
    'Blob root of a filesystem layer-store on this host (its <state-dir>/layer-store): committed blobs are read from its files directly, with the layer-store as fallback; with the data socket too, the registry-mirror spools blobs it fetches for clients in its imports/ directory, for the layer-store to import.',
    { env: 'STRATA_LAYER_STORE_ROOT' },
  ),
};

/** The same-host layer-store paths of a validated config; each is left out when unset. */
export interface SameHostLayerStore {
  layerStoreDataSocket?: string;
  layerStoreRoot?: string;
}

/**
 * Validates and resolves the {@link sameHostLayerStoreSpec} settings.
 * InvalidArgument, naming the setting, for an empty value.
 */
export function readSameHostLayerStore(raw: { layerStoreDataSocket?: string | undefined; layerStoreRoot?: string | undefined }): SameHostLayerStore {
  if (raw.layerStoreDataSocket === '') throw invalidArgument('config layer-store-data-socket: must not be empty; leave it out to use gRPC only');
  if (raw.layerStoreRoot === '') throw invalidArgument('config layer-store-root: must not be empty; leave it out to read blobs through the layer-store');
  return {
    ...(raw.layerStoreDataSocket === undefined ? {} : { layerStoreDataSocket: resolve(raw.layerStoreDataSocket) }),
    ...(raw.layerStoreRoot === undefined ? {} : { layerStoreRoot: resolve(raw.layerStoreRoot) }),
  };
}
