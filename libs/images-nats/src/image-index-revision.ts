import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { createNatsConnection, type NatsConnectionHandle } from '@strata/events-nats';
import { invalidArgument, type Logger } from '@strata/kit';
import { DEFAULT_IMAGES_BUCKET } from './nats-tag-store.js';

/** Settings of {@link createImageIndexRevision}. */
export interface ImageIndexRevisionOptions {
  /** NATS server URL(s); with `connection`, only named in logs. */
  servers: string | string[];
  /** A connection to share; close() leaves it open. */
  connection?: NatsConnectionHandle;
  /** The image index's KV bucket; `strata_images` by default. */
  bucket?: string;
  logger: Logger;
  /** How long one read may take before it answers undefined; 1 s by default. */
  timeoutMs?: number;
}

/** The revision of the image index (see {@link createImageIndexRevision}). */
export interface ImageIndexRevision {
  /**
   * The index's revision now, or undefined when it cannot be read (NATS
   * not connected, no answer in time, no bucket yet): then nothing may be
   * taken from a cache keyed by it.
   */
  current(): Promise<number | undefined>;
  /** Closes the connection it made (not a shared one). Idempotent. */
  close(): Promise<void>;
}

const BUCKET_NAME = /^[-\w]+$/;

/**
 * The revision of the image index: the last sequence of the KV bucket's
 * stream, which every put, delete and purge of a tag moves. Two equal
 * readings mean no tag changed between them, so what was resolved
 * through the index after the first still holds at the second: the
 * node-agent keeps the images it resolved under it. One JetStream request
 * (stream info, without the subjects) per reading.
 */
export function createImageIndexRevision(options: ImageIndexRevisionOptions): ImageIndexRevision {
  const bucket = options.bucket ?? DEFAULT_IMAGES_BUCKET;
  if (!BUCKET_NAME.test(bucket)) throw invalidArgument(`invalid KV bucket name ${JSON.stringify(bucket)}: use letters, digits, "-" and "_"`);
  const timeout = options.timeoutMs ?? 1000;
  const log = options.logger.child({ component: 'image-index-revision', bucket });
  const owned = options.connection === undefined;
  const handle = options.connection ?? createNatsConnection({ servers: options.servers, name: 'strata-image-index-revision', logger: log });
  const stream = `KV_${bucket}`;
  let manager: { nc: NatsConnection; jsm: Promise<JetStreamManager> } | undefined;
  let closed = false;

  return {
    async current() {
      const nc = handle.current();
      if (closed || nc === undefined) return undefined;
      try {
        if (manager?.nc !== nc) manager = { nc, jsm: jetstreamManager(nc, { timeout, checkAPI: false }) };
        const info = await (await manager.jsm).streams.info(stream);
        return info.state.last_seq;
      } catch (err) {
        if (manager?.nc === nc) manager = undefined;
        log.debug({ err: (err as Error)?.message }, 'cannot read the image index revision');
        return undefined;
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      if (owned) await handle.close();
    },
  };
}
