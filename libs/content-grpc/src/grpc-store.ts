import { ContentService, LeasesService, type ReadContentResponse } from '@strata/api/content/v1';
import type { BlobReader, GarbageCollectResult, ImportOptions, Info, LeaseManager, Provider, ReadRange, Store } from '@strata/content';
import { createClient, type Target } from '@strata/grpc-kit';
import { failedPrecondition, internal, invalidArgument, isNotFound, isUnavailable, isUnimplemented, type Logger } from '@strata/kit';
import { digestOf, parseDigest, type Digest } from '@strata/oci';
import { fromProtoInfo, fromProtoLease, fromProtoStatus, serverDigest } from './convert.js';
import { createDataClient } from './data-client.js';
import { openRemoteWriter, type RemoteWriter } from './remote-writer.js';
import { contentDefinition } from './wire.js';

/** Settings of createGrpcStore. */
export interface GrpcStoreOptions {
  /** Narrowed with the target; debug messages only. */
  logger: Logger;
  /**
   * The layer-store's data socket (`<run-dir>/layer-store.data.sock`), when
   * it runs on this host: writers send their bytes there, and reads not
   * answered by localBlobs come from there, instead of through gRPC
   * messages. Behaviour and errors stay those of the Store contract.
   */
  dataSocket?: string;
  /**
   * Reads tried first: a read-only view of the committed blobs of a
   * layer-store on this host (createFsBlobProvider of @strata/content-fs
   * over its root). A NotFound from it falls back to the service.
   */
  localBlobs?: Provider;
}

/**
 * A content Store and LeaseManager served by a layer-store over gRPC: the
 * same interfaces, the same error kinds (translated by grpc-kit's
 * fromGrpcError), so callers and the contract suite cannot tell it from a
 * local store. Unavailable, naming the target, when the service cannot be
 * reached.
 */
export interface GrpcStore extends Store {
  readonly leases: LeaseManager;
  /** Info with missing_ok: an absent blob is an answer, not a NOT_FOUND (also from a layer-store without missing_ok). */
  find(digest: Digest): Promise<Info | undefined>;
  /**
   * Runs one garbage collection pass in the service (see collectGarbage).
   * With dryRun, reports what it would delete.
   */
  garbageCollect(options?: { dryRun?: boolean }): Promise<GarbageCollectResult>;
  /**
   * Connects now instead of at the first call, so that call does not wait
   * for the channel: one cheap call (Info of the empty blob, missing_ok),
   * tried again every 200 ms while the service is unavailable, for up to
   * timeoutMs (10 s by default). Resolves once the service answered (any
   * answer but Unavailable); raises Unavailable, naming the target, when it
   * did not in time, and FailedPrecondition when the store is closed first.
   */
  connect(timeoutMs?: number): Promise<void>;
}

const CONNECT_RETRY_MS = 200;

const ttlOf = (ttlSeconds: number | undefined): number => {
  if (ttlSeconds === undefined || ttlSeconds === 0) return 0;
  if (!Number.isFinite(ttlSeconds)) {
    throw invalidArgument(`invalid lease ttl ${ttlSeconds}: must be 0 (none) or a positive number of seconds`);
  }
  return ttlSeconds > 0 ? Math.ceil(ttlSeconds) : Math.floor(ttlSeconds);
};

/**
 * Creates the gRPC client of the Content and Leases services at target (a
 * unix socket, or TCP with mutual TLS). It connects on first use, or on
 * connect(); close() cancels open writers (their ingests stay for a
 * resume) and the channel.
 * With options.dataSocket and options.localBlobs, blob bytes take the bulk
 * paths of a layer-store on the same host (gRPC stays the control API).
 */
export function createGrpcStore(target: Target, options: GrpcStoreOptions): GrpcStore {
  const client = createClient(target);
  const logger = options.logger.child({ target: client.name });
  /**
   * connect() while it runs: a call made meanwhile (a layer-store still
   * starting) waits for it, then goes ahead either way. Without the wait it
   * failed at once with the channel's last error (ENOENT of a socket not
   * made yet) during the channel's reconnect backoff.
   */
  let connecting: Promise<void> | undefined;
  const connected = async () => {
    if (connecting !== undefined) await connecting.catch(() => undefined);
  };
  const unary: typeof client.unary = async (method, request, callOptions) => {
    await connected();
    return client.unary(method, request, callOptions);
  };
  const writers = new Set<RemoteWriter>();
  let closed = false;

  const data = options.dataSocket === undefined ? undefined : createDataClient(options.dataSocket);
  const { localBlobs } = options;

  const grpcRead = async (digest: Digest, range: ReadRange = {}): Promise<BlobReader> => {
    await connected();
    const stream = client.serverStream(contentDefinition.read, { digest, offset: range.offset ?? 0, size: range.length ?? 0 });
    const iterator = stream[Symbol.asyncIterator]();
    const first = await iterator.next();
    if (first.done === true) throw internal(`${client.name} answered a read of ${digest} with nothing`, { fields: { digest } });
    const head: ReadContentResponse = first.value;
    return {
      size: head.total,
      chunks: (async function* () {
        try {
          if (head.data.length > 0) yield head.data;
          for (;;) {
            const next = await iterator.next();
            if (next.done === true) return;
            yield next.value.data;
          }
        } finally {
          await iterator.return?.();
        }
      })(),
    };
  };

  const read = async (digest: Digest, range: ReadRange = {}): Promise<BlobReader> => {
    if (localBlobs !== undefined) {
      try {
        return await localBlobs.read(digest, range);
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
    if (data === undefined) return grpcRead(digest, range);
    await connected();
    return data.read(parseDigest(digest), range);
  };

  const leases: LeaseManager = {
    async create({ id, ttlSeconds, labels }) {
      const res = await unary(LeasesService.create, { id: id ?? '', ttlSeconds: ttlOf(ttlSeconds), labels: { ...(labels ?? {}) } });
      return fromProtoLease(res.lease);
    },
    async delete(id) {
      await unary(LeasesService.delete, { id });
    },
    async list() {
      return (await unary(LeasesService.list, { heldAt: undefined })).leases.map(fromProtoLease);
    },
    async addResource(id, digest) {
      await unary(LeasesService.addResource, { leaseId: id, digest });
    },
    async addResources(id, digests) {
      const all = digests.map((d) => parseDigest(d));
      try {
        await unary(LeasesService.addResources, { leaseId: id, digests: all });
      } catch (err) {
        if (!isUnimplemented(err)) throw err;
        // A layer-store from before AddResources: one call per digest (then not one change: an error may leave some added).
        for (const d of new Set(all)) await this.addResource(id, d);
      }
    },
    async deleteResource(id, digest) {
      await unary(LeasesService.deleteResource, { leaseId: id, digest });
    },
    async held(now = new Date()) {
      return new Set((await unary(LeasesService.list, { heldAt: now })).held.map(serverDigest));
    },
    async expire(now = new Date()) {
      let n = 0;
      for (const lease of await this.list()) {
        if (lease.expiresAt === undefined || lease.expiresAt > now) continue;
        try {
          await this.delete(lease.id);
          n++;
        } catch (err) {
          if (!isNotFound(err)) throw err;
        }
      }
      return n;
    },
  };

  return {
    leases,
    read,
    async info(digest) {
      return fromProtoInfo((await unary(ContentService.info, { digest, missingOk: false })).info);
    },
    async find(digest) {
      try {
        const { info } = await unary(ContentService.info, { digest, missingOk: true });
        return info === undefined ? undefined : fromProtoInfo(info);
      } catch (err) {
        // A layer-store from before missing_ok answers NOT_FOUND.
        if (isNotFound(err)) return undefined;
        throw err;
      }
    },
    async update(digest, labels, fieldPaths = []) {
      const info = { digest, size: 0, labels: { ...labels }, createdAt: undefined, updatedAt: undefined };
      return fromProtoInfo((await unary(ContentService.update, { info, updateMask: [...fieldPaths] })).info);
    },
    async *walk(filters = []): AsyncIterable<Info> {
      await connected();
      for await (const batch of client.serverStream(ContentService.list, { filters: [...filters] })) {
        for (const info of batch.info) yield fromProtoInfo(info);
      }
    },
    async delete(digest) {
      await unary(ContentService.delete, { digest });
    },
    ...(data === undefined ? {} : { importFile: (name: string, importOptions: ImportOptions) => data.importFile(name, importOptions) }),
    async writer(writerOptions) {
      await connected();
      const writer: RemoteWriter = await openRemoteWriter(client, writerOptions, () => writers.delete(writer), data);
      writers.add(writer);
      return writer;
    },
    async status(ref) {
      return fromProtoStatus((await unary(ContentService.status, { ref })).status);
    },
    async listStatuses(filters = []) {
      return (await unary(ContentService.listStatuses, { filters: [...filters] })).statuses.map(fromProtoStatus);
    },
    async abort(ref) {
      await unary(ContentService.abort, { ref });
    },
    async garbageCollect(gcOptions = {}) {
      const res = await unary(ContentService.garbageCollect, { dryRun: gcOptions.dryRun ?? false });
      return { deleted: res.deleted.map(serverDigest), bytesFreed: res.bytesFreed, leasesExpired: res.leasesExpired };
    },
    async connect(timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      const empty = digestOf('');
      const attempt = (async () => {
        for (;;) {
          if (closed) throw failedPrecondition(`the client of ${client.name} was closed`);
          try {
            await client.unary(ContentService.info, { digest: empty, missingOk: true }, { deadline: Math.max(deadline, Date.now() + 1000) });
            return;
          } catch (err) {
            if (closed) throw failedPrecondition(`the client of ${client.name} was closed`);
            if (!isUnavailable(err)) return;
            if (Date.now() + CONNECT_RETRY_MS >= deadline) throw err;
          }
          await new Promise((resolve) => setTimeout(resolve, CONNECT_RETRY_MS).unref());
        }
      })();
      connecting ??= attempt;
      try {
        await attempt;
      } finally {
        if (connecting === attempt) connecting = undefined;
      }
    },
    async close() {
      closed = true;
      if (writers.size > 0) logger.debug({ writers: writers.size }, 'closing with open writers; their ingests stay for a resume');
      for (const w of writers) w.cancel();
      writers.clear();
      client.close();
      data?.close();
    },
  };
}
