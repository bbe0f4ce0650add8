import { jetstream, JetStreamApiError } from '@nats-io/jetstream';
import { Kvm, type KV, type KvEntry } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { createNatsConnection, type NatsConnectionHandle } from '@strata/events-nats';
import { failedPrecondition, invalidArgument, isStrataError, pause, StrataError, unavailable, type Logger } from '@strata/kit';
import {
  compareTagRecords,
  tagName,
  tagNotFound,
  validateListTagsOptions,
  validateTagRecord,
  type ListTagsOptions,
  type TagRecord,
  type TagStore,
} from '@strata/images';
import { parseDigest, type Digest } from '@strata/oci';
import { decodeTagKey, encodeTagKey, tagKeyFilter } from './tag-key.js';

/** The KV bucket of the image index unless configured otherwise. */
export const DEFAULT_IMAGES_BUCKET = 'strata_images';

/** Settings of {@link createNatsTagStore}. */
export interface NatsTagStoreOptions {
  /**
   * NATS server URL(s), e.g. `nats://127.0.0.1:4222`. The store connects to
   * them, or, with `connection`, only names them in errors.
   */
  servers: string | string[];
  /** A connection to servers to share (e.g. with other stores); close() leaves it open. */
  connection?: NatsConnectionHandle;
  /** KV bucket name (letters, digits, `-`, `_`); created when missing. `strata_images` by default. */
  bucket?: string;
  /** Copies of the bucket in a NATS cluster when it is created; 1 by default. */
  replicas?: number;
  logger: Logger;
  /** How long an operation waits for a (re)connection before it raises Unavailable; 1 s by default. */
  connectWaitMs?: number;
  /** How long one JetStream request may take; 5 s by default. */
  requestTimeoutMs?: number;
}

/** What a tag's KV value holds: the record as JSON (the name is in the key too, for people reading the bucket). */
interface StoredTag {
  domain: string;
  repository: string;
  tag: string;
  digest: string;
  mediaType: string;
  size: number;
  updatedAt: string;
}

interface Session {
  nc: NatsConnection;
  kv: KV;
}

// JetStream's "wrong last sequence": the key changed since it was read.
const WRONG_LAST_SEQUENCE = 10071;
/** Tries again of an operation that no JetStream server answered (see run). */
const UNANSWERED_RETRIES = 4;
/** A request no server answered: JetStream's publish says `jetstream is not enabled`, a plain request `no responders`. */
const unanswered = (err: unknown): boolean =>
  (err as Error | undefined)?.name === 'JetStreamNotEnabled' || (err as { isNoResponders?: () => boolean } | undefined)?.isNoResponders?.() === true;
const BUCKET_NAME = /^[-\w]+$/;

/**
 * The image index in a NATS JetStream KV bucket, so that every
 * registry-mirror replica sees the same names. One key per tag (see
 * encodeTagKey: `tags.<base64url domain>.<base64url repository>.<base64url tag>`)
 * whose value is the record as JSON; the bucket keeps one revision per key.
 *
 * get and put are one request each; delete is two (it reads the revision
 * and deletes only that one, so NotFound is exact even against a concurrent
 * move). list reads the matching records in one pass over the bucket with a
 * server-side subject filter by domain and/or repository, then sorts and
 * pages them here. tagsOf has no secondary index (KV has no transactions to
 * keep one exact): it reads every tag in the bucket, so its cost grows with
 * the number of tags — fine for deletes, its user, not for a hot path.
 *
 * It returns at once and connects, then opens the bucket, in the background
 * (again after each reconnection). An operation waits up
 * to connectWaitMs for a connection; when NATS is still unreachable, or
 * does not answer, or the connection drops while it runs, it raises
 * Unavailable with a sentence naming the servers; the next operation after
 * NATS is back works again (the bucket is created again if the server lost
 * it). A stored value that is not a tag record raises DataLoss from get and
 * is skipped (with a warning) by list and tagsOf. After close() every
 * operation raises FailedPrecondition. Raises InvalidArgument
 * (synchronously) for invalid options.
 */
export function createNatsTagStore(options: NatsTagStoreOptions): TagStore {
  const bucket = options.bucket ?? DEFAULT_IMAGES_BUCKET;
  if (!BUCKET_NAME.test(bucket)) {
    throw invalidArgument(`invalid KV bucket name ${JSON.stringify(bucket)}: use letters, digits, "-" and "_"`);
  }
  const replicas = options.replicas ?? 1;
  if (!Number.isSafeInteger(replicas) || replicas < 1 || replicas > 5) {
    throw invalidArgument(`KV bucket replicas must be a whole number from 1 to 5; got ${replicas}`);
  }
  const connectWaitMs = options.connectWaitMs ?? 1000;
  const requestTimeoutMs = options.requestTimeoutMs ?? 5000;
  const serverList = (typeof options.servers === 'string' ? [options.servers] : options.servers).join(', ');
  const log = options.logger.child({ component: 'nats-tag-store', bucket });
  const owned = options.connection === undefined;
  const handle = options.connection ?? createNatsConnection({ servers: options.servers, name: 'strata-images', logger: log });

  const what = `the image index (NATS KV bucket "${bucket}")`;
  const notConnected = () =>
    unavailable(`${what} is unavailable: NATS at ${serverList} is not reachable; check that nats-server is running with JetStream`, {
      fields: { bucket },
    });
  const noAnswer = (cause: unknown) =>
    unavailable(`${what} is unavailable: NATS at ${serverList} did not answer: ${(cause as Error)?.message ?? String(cause)}`, {
      cause,
      fields: { bucket },
    });

  let closed = false;
  let cached: { nc: NatsConnection; generation: number; kv: Promise<KV> } | undefined;

  const openBucket = (nc: NatsConnection): Promise<KV> =>
    new Kvm(jetstream(nc, { timeout: requestTimeoutMs })).create(bucket, {
      history: 1,
      replicas,
      description: 'Strata image index: repository:tag → manifest digest',
    });

  async function session(): Promise<Session> {
    if (closed) throw failedPrecondition(`${what} was closed`);
    const deadline = Date.now() + connectWaitMs;
    let nc = handle.current();
    while (nc === undefined) {
      const left = deadline - Date.now();
      if (left <= 0 || closed) throw closed ? failedPrecondition(`${what} was closed`) : notConnected();
      await handle.changed(left);
      nc = handle.current();
    }
    return { nc, kv: await bucketOf(nc) };
  }

  /** The bucket opened on nc, opened again for a new connection and after a failed open. */
  function bucketOf(nc: NatsConnection): Promise<KV> {
    const generation = handle.generation();
    if (cached === undefined || cached.nc !== nc || cached.generation !== generation) {
      const entry = { nc, generation, kv: openBucket(nc) };
      cached = entry;
      entry.kv.catch(() => {
        if (cached === entry) cached = undefined;
      });
    }
    return cached.kv;
  }

  // The bucket is opened as soon as NATS is connected (and again on each
  // reconnection), so the first operation does not wait for it (~40 ms). A
  // failure is logged; the next operation tries again.
  const openInBackground = () => {
    const nc = handle.current();
    if (closed || nc === undefined) return;
    bucketOf(nc).catch((err: unknown) => {
      if (!closed) log.warn({ err: (err as Error)?.message }, 'cannot open the image index yet; the next operation tries again');
    });
  };
  const stopOpening = handle.onChange(openInBackground);
  openInBackground();

  /**
   * Runs op against the bucket; what NATS raises becomes Unavailable, and a
   * dropped connection ends the wait. A request that no JetStream server
   * answered (a stream just made whose subjects the server does not serve
   * yet, a server starting up: nothing was applied) is tried again, up to
   * UNANSWERED_RETRIES times, 25 ms later and then twice as late each time.
   */
  async function run<T>(op: (session: Session) => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await runOnce(op);
      } catch (err) {
        if (attempt >= UNANSWERED_RETRIES || !(isStrataError(err) && unanswered(err.cause))) throw err;
        log.debug({ attempt }, 'no JetStream server answered; trying again');
        await pause(25 << attempt);
      }
    }
  }

  /** One try of run. */
  async function runOnce<T>(op: (session: Session) => Promise<T>): Promise<T> {
    let current: Session | undefined;
    let stopWatching = () => {};
    try {
      const lost = new Promise<never>((_, reject) => {
        stopWatching = handle.onChange(() => {
          if (current !== undefined && handle.current() !== current.nc) reject(notConnected());
        });
      });
      lost.catch(() => undefined);
      current = await session();
      return await Promise.race([op(current), lost]);
    } catch (err) {
      if (isStrataError(err)) throw err;
      // A server that lost its store needs the bucket made again.
      if (current !== undefined && cached?.nc === current.nc) cached = undefined;
      log.debug({ err: (err as Error)?.message }, 'image index operation failed');
      throw noAnswer(err);
    } finally {
      stopWatching();
    }
  }

  const corrupt = (key: string, reason: string) =>
    new StrataError('DataLoss', `${what} holds a value under ${key} that is not a tag record: ${reason}`, { fields: { bucket, key } });

  /** The record under key, or undefined for a delete marker; raises DataLoss for a value that is not a record. */
  function recordOf(entry: KvEntry): TagRecord | undefined {
    if (entry.operation !== 'PUT') return undefined;
    const name = decodeTagKey(entry.key);
    if (name === undefined) throw corrupt(entry.key, 'the key is not an encoded tag name');
    let stored: StoredTag;
    try {
      stored = entry.json<StoredTag>();
    } catch (err) {
      throw corrupt(entry.key, (err as Error).message);
    }
    if (typeof stored !== 'object' || stored === null) throw corrupt(entry.key, 'not a JSON object');
    const record: TagRecord = {
      ...name,
      digest: stored.digest as Digest,
      mediaType: stored.mediaType,
      size: stored.size,
      updatedAt: new Date(typeof stored.updatedAt === 'string' ? stored.updatedAt : Number.NaN),
    };
    try {
      validateTagRecord(record);
    } catch (err) {
      throw corrupt(entry.key, (err as Error).message);
    }
    return record;
  }

  /** Every tag under filter, read in one pass over the bucket (the last revision of each key). */
  async function scan({ nc, kv }: Session, filter: string): Promise<TagRecord[]> {
    const latest = new Map<string, KvEntry>();
    const entries = await kv.history({ key: filter });
    // When the connection drops, run() raises Unavailable; end the read too.
    const stopWatching = handle.onChange(() => {
      if (handle.current() !== nc) entries.stop();
    });
    try {
      for await (const entry of entries) latest.set(entry.key, entry);
    } finally {
      stopWatching();
      entries.stop();
    }
    const out: TagRecord[] = [];
    for (const entry of latest.values()) {
      try {
        const r = recordOf(entry);
        if (r !== undefined) out.push(r);
      } catch (err) {
        log.warn({ key: entry.key, err: (err as Error).message }, 'skipping a value in the image index that is not a tag record');
      }
    }
    return out.sort(compareTagRecords);
  }

  return {
    async get(domain, repository, tag) {
      const key = encodeTagKey(domain, repository, tag);
      const entry = await run(({ kv }) => kv.get(key));
      return entry === null ? undefined : recordOf(entry);
    },

    async put(record) {
      validateTagRecord(record);
      const key = encodeTagKey(record.domain, record.repository, record.tag);
      const value: StoredTag = {
        domain: record.domain,
        repository: record.repository,
        tag: record.tag,
        digest: record.digest,
        mediaType: record.mediaType,
        size: record.size,
        updatedAt: record.updatedAt.toISOString(),
      };
      await run(({ kv }) => kv.put(key, JSON.stringify(value)));
    },

    async delete(domain, repository, tag) {
      const key = encodeTagKey(domain, repository, tag);
      await run(async ({ kv }) => {
        for (;;) {
          const entry = await kv.get(key);
          if (entry === null || entry.operation !== 'PUT') throw tagNotFound(domain, repository, tag);
          try {
            await kv.delete(key, { previousSeq: entry.revision });
            return;
          } catch (err) {
            // Moved or deleted since it was read: look again.
            if (!(err instanceof JetStreamApiError && err.apiError().err_code === WRONG_LAST_SEQUENCE)) throw err;
            log.debug({ tag: tagName(domain, repository, tag) }, 'tag changed while deleting it; retrying');
          }
        }
      });
    },

    async list(options: ListTagsOptions = {}) {
      validateListTagsOptions(options);
      const { domain, repository, after, limit } = options;
      if (limit === 0) return [];
      const records = await run((session) => scan(session, tagKeyFilter(domain, repository)));
      const out = after === undefined ? records : records.filter((r) => r.tag > after);
      return limit === undefined ? out : out.slice(0, limit);
    },

    async tagsOf(digest: Digest) {
      parseDigest(digest);
      const records = await run((session) => scan(session, tagKeyFilter()));
      return records.filter((r) => r.digest === digest);
    },

    async close() {
      if (closed) return;
      closed = true;
      stopOpening();
      cached = undefined;
      if (owned) await handle.close();
    },
  };
}
