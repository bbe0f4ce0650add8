import { LayerStatus, type PullResponse } from '@strata/api/images/v1';
import { parseReference } from '@strata/oci';
import { familiarRef } from './image-views.js';

/** One line of Docker's JSON progress stream (`docker pull`, `docker push`). */
export interface DockerJsonMessage {
  status?: string;
  id?: string;
  progressDetail?: { current?: number; total?: number };
  errorDetail?: { message: string };
  error?: string;
}

/** Turns the events of one `Images.Pull` stream into Docker's progress messages. */
export interface PullMessages {
  /**
   * The messages an event adds: `Pulling from <path>` (id: tag or digest)
   * once the reference is resolved; per layer (id: the short digest)
   * `Pulling fs layer` when first seen, then `Waiting`, `Downloading` with
   * progressDetail {current, total}, `Verifying Checksum`, `Download
   * complete`, `Already exists`, `Extracting`, `Pull complete`, each state
   * once (downloads as often as they progress); at the end `Digest: …` and
   * `Status: Downloaded newer image for …` or `Status: Image is up to date
   * for …`. `Already exists` lines are held back until a layer downloads,
   * and dropped when the image turns out up to date, as Docker shows it. RESOLVING adds nothing: Docker says nothing before it found the
   * image, so a pull that fails to resolve can still answer with an HTTP
   * error status.
   */
  next(event: PullResponse): DockerJsonMessage[];
}

/** The 12 hex digits Docker names a layer or image by. */
export function shortDigest(digest: string): string {
  const hex = digest.slice(digest.indexOf(':') + 1);
  return hex.slice(0, 12);
}

/** The `Docker JSON message` for an error in a stream that already answered 200. */
export function errorMessage(message: string): DockerJsonMessage {
  return { errorDetail: { message }, error: message };
}

const LAYER_STATE: Partial<Record<LayerStatus, string>> = {
  [LayerStatus.LAYER_STATUS_WAITING]: 'Waiting',
  [LayerStatus.LAYER_STATUS_DOWNLOADING]: 'Downloading',
  [LayerStatus.LAYER_STATUS_VERIFYING]: 'Verifying Checksum',
  [LayerStatus.LAYER_STATUS_STORED]: 'Download complete',
  [LayerStatus.LAYER_STATUS_EXISTS]: 'Already exists',
  [LayerStatus.LAYER_STATUS_UNPACKING]: 'Extracting',
  [LayerStatus.LAYER_STATUS_DONE]: 'Pull complete',
};

/** Creates the mapping of one pull's events to Docker's progress messages. */
export function createPullMessages(): PullMessages {
  const layers = new Map<string, string>();
  let ref = '';
  let digest = '';
  // `Already exists` lines wait until something is downloaded: an image that is up to date shows none, as Docker.
  const held: DockerJsonMessage[] = [];
  let downloading = false;
  return {
    next(event) {
      const e = event.event;
      if (e === undefined) return [];
      switch (e.$case) {
        case 'resolving':
          ref = e.value.ref;
          return [];
        case 'resolved': {
          ref = e.value.ref || ref;
          digest = e.value.target?.digest ?? '';
          try {
            const parsed = parseReference(ref);
            return [{ status: `Pulling from ${parsed.path}`, id: parsed.tag ?? parsed.digest ?? '' }];
          } catch {
            return [{ status: `Pulling ${ref}` }];
          }
        }
        case 'layer': {
          const layer = e.value;
          const id = shortDigest(layer.digest);
          const previous = layers.get(layer.digest);
          const state = LAYER_STATE[layer.status];
          if (state === undefined) return [];
          if (state === 'Pull complete' && previous === 'Already exists') return [];
          if (state === 'Already exists' && previous === undefined && !downloading) {
            layers.set(layer.digest, state);
            held.push({ status: state, progressDetail: {}, id });
            return [];
          }
          downloading = true;
          const out: DockerJsonMessage[] = held.splice(0);
          if (previous === undefined && state !== 'Already exists') out.push({ status: 'Pulling fs layer', progressDetail: {}, id });
          if (state === 'Downloading') {
            layers.set(layer.digest, state);
            out.push({ status: state, progressDetail: { current: layer.offset, total: layer.total }, id });
            return out;
          }
          if (state === previous) return out;
          layers.set(layer.digest, state);
          if (state === 'Pull complete' && previous !== 'Download complete' && previous !== 'Extracting') {
            out.push({ status: 'Download complete', progressDetail: {}, id });
          }
          out.push({ status: state, progressDetail: {}, id });
          return out;
        }
        case 'done': {
          const name = familiarRef(ref || (e.value.image?.repoTags[0] ?? ''));
          const existing = held.splice(0);
          return [
            ...(e.value.upToDate ? [] : existing),
            ...(digest === '' ? [] : [{ status: `Digest: ${digest}` }]),
            { status: `Status: ${e.value.upToDate ? 'Image is up to date for' : 'Downloaded newer image for'} ${name}` },
          ];
        }
      }
    },
  };
}
