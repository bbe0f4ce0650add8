import {
  LeasesService,
  WriteAction,
  type ContentServer,
  type LeasesServer,
  type ReadContentResponse,
  type WriteContentRequest,
  type WriteContentResponse,
} from '@strata/api/content/v1';
import { collectGarbage, findInfo, publishingStore, validateRef, type LeaseManager, type Store, type Writer } from '@strata/content';
import { bidiStream, serverStream, unary, type ServiceRegistration } from '@strata/grpc-kit';
import { failedPrecondition, invalidArgument, type EventSink, type Logger } from '@strata/kit';
import { parseDigest, type Digest } from '@strata/oci';
import { toProtoInfo, toProtoLease, toProtoStatus } from './convert.js';
import { createDataHandler, type DataHandler, type HeldWriter } from './data-handler.js';
import { contentDefinition } from './wire.js';

/** Largest data chunk in one Read or Write message: 1 MiB. */
export const CHUNK_BYTES = 1024 * 1024;
const LIST_BATCH = 128;

/** Settings of createContentService. */
export interface ContentServiceOptions {
  logger: Logger;
  /**
   * Where `blob.stored` and `blob.deleted` events go. The service publishes
   * them itself (deletes through the API with reason "delete", garbage
   * collection with reason "gc"), so give it the backend store, not a
   * publishingStore.
   */
  events?: EventSink;
}

/** The two gRPC services of a content store. */
export interface ContentServices {
  content: ContentServer;
  leases: LeasesServer;
  /** Both, ready for grpc-kit's createServer. */
  registrations: ServiceRegistration[];
  /**
   * The bulk data path beside the two services (createDataHandler): reads
   * of blobs, and the bytes of writers that Write streams of this service
   * hold open. Serve it with startDataServer.
   */
  data: DataHandler;
}

const optionalDigest = (value: string): Digest | undefined => (value === '' ? undefined : parseDigest(value));

/**
 * Serves a Store and its LeaseManager as the `strata.content.v1` Content and
 * Leases services (containerd's content service semantics; see
 * content.proto). Digests and refs from requests are validated before the
 * store sees them; errors reach clients only through grpc-kit's status
 * translation. A Write stream that ends or breaks without a COMMIT closes
 * its Writer: the ref is released and the ingest kept for a resume.
 */
export function createContentService(backend: Store, leases: LeaseManager, options: ContentServiceOptions): ContentServices {
  const { logger, events } = options;
  const store = events === undefined ? backend : publishingStore(backend, events);
  const held = new Map<string, HeldWriter>();

  const writeStream = async (
    requests: AsyncIterable<WriteContentRequest>,
    reply: (response: WriteContentResponse) => Promise<void>,
  ): Promise<void> => {
    let writer: Writer | undefined;
    let entry: HeldWriter | undefined;
    let total = 0;
    let committed = false;
    try {
      for await (const req of requests) {
        if (writer === undefined) {
          const ref = validateRef(req.ref);
          const expected = optionalDigest(req.expected);
          writer = await store.writer({ ref, ...(req.total === 0 ? {} : { total: req.total }), ...(expected === undefined ? {} : { expected }) });
          entry = { writer, busy: false };
          held.set(ref, entry);
          total = (await writer.status()).total;
        }
        const w = writer;
        if (entry?.busy === true) {
          throw failedPrecondition(`cannot use the Write stream of ${w.ref} while the data socket writes to it; wait for that upload's answer`, {
            fields: { ref: w.ref },
          });
        }
        if (req.action === WriteAction.WRITE_ACTION_STAT) {
          const status = await w.status();
          await reply({
            action: WriteAction.WRITE_ACTION_STAT,
            startedAt: status.startedAt,
            updatedAt: status.updatedAt,
            offset: status.offset,
            total: status.total,
            digest: '',
          });
          continue;
        }
        if (req.action !== WriteAction.WRITE_ACTION_WRITE && req.action !== WriteAction.WRITE_ACTION_COMMIT) {
          throw invalidArgument(`invalid write action ${req.action}: use STAT, WRITE or COMMIT`);
        }
        if (req.offset !== w.offset) {
          if (req.offset !== 0) {
            throw failedPrecondition(`cannot write ${w.ref} at offset ${req.offset}: ${w.offset} bytes are stored; continue from there`, {
              fields: { ref: w.ref },
            });
          }
          await w.truncate();
        }
        if (req.data.length > 0) await w.write(req.data);
        if (req.action === WriteAction.WRITE_ACTION_WRITE) {
          await reply({ action: WriteAction.WRITE_ACTION_WRITE, offset: w.offset, total, digest: '' });
          continue;
        }
        const expected = optionalDigest(req.expected);
        committed = true;
        const info = await w.commit({
          ...(req.total === 0 ? {} : { total: req.total }),
          ...(expected === undefined ? {} : { expected }),
          labels: req.labels,
        });
        await reply({ action: WriteAction.WRITE_ACTION_COMMIT, offset: info.size, total: info.size, digest: info.digest, info: toProtoInfo(info) });
        return;
      }
    } finally {
      if (writer !== undefined && held.get(writer.ref) === entry) held.delete(writer.ref);
      if (writer !== undefined && !committed) {
        await writer.close().catch((err: unknown) => logger.warn({ err, ref: writer?.ref }, 'cannot close the writer of a broken write stream'));
      }
    }
  };

  const readStream = async function* (req: { digest: string; offset: number; size: number }): AsyncIterable<ReadContentResponse> {
    const digest = parseDigest(req.digest);
    const reader = await store.read(digest, { offset: req.offset, ...(req.size === 0 ? {} : { length: req.size }) });
    const total = reader.size;
    let offset = req.offset;
    let parts: Buffer[] = [];
    let pending = 0;
    let sent = false;
    const take = (): ReadContentResponse => {
      const data = parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts, pending);
      const message = { offset, data, total };
      offset += pending;
      parts = [];
      pending = 0;
      sent = true;
      return message;
    };
    for await (const chunk of reader.chunks) {
      let rest = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      while (rest.length > 0) {
        const n = Math.min(rest.length, CHUNK_BYTES - pending);
        parts.push(rest.subarray(0, n));
        pending += n;
        rest = rest.subarray(n);
        if (pending === CHUNK_BYTES) yield take();
      }
    }
    if (pending > 0 || !sent) yield take();
  };

  const content: ContentServer = {
    info: unary(logger, async (req) => {
      const digest = parseDigest(req.digest);
      if (!req.missingOk) return { info: toProtoInfo(await store.info(digest)) };
      const info = await findInfo(store, digest);
      return { info: info === undefined ? undefined : toProtoInfo(info) };
    }),
    update: unary(logger, async (req) => {
      if (req.info === undefined) throw invalidArgument('update needs info with the digest and the new labels');
      const digest = parseDigest(req.info.digest);
      return { info: toProtoInfo(await store.update(digest, req.info.labels, req.updateMask)) };
    }),
    list: serverStream(logger, async function* (req) {
      let batch: ReturnType<typeof toProtoInfo>[] = [];
      for await (const info of store.walk(req.filters)) {
        batch.push(toProtoInfo(info));
        if (batch.length === LIST_BATCH) {
          yield { info: batch };
          batch = [];
        }
      }
      if (batch.length > 0) yield { info: batch };
    }),
    delete: unary(logger, async (req) => {
      await store.delete(parseDigest(req.digest));
      return {};
    }),
    read: serverStream(logger, readStream),
    status: unary(logger, async (req) => ({ status: toProtoStatus(await store.status(validateRef(req.ref))) })),
    listStatuses: unary(logger, async (req) => ({ statuses: (await store.listStatuses(req.filters)).map(toProtoStatus) })),
    write: bidiStream(logger, writeStream),
    abort: unary(logger, async (req) => {
      await store.abort(validateRef(req.ref));
      return {};
    }),
    garbageCollect: unary(logger, async (req) => {
      const result = await collectGarbage({ store: backend, leases, logger, dryRun: req.dryRun, ...(events === undefined ? {} : { events }) });
      return { deleted: result.deleted, bytesFreed: result.bytesFreed, leasesExpired: result.leasesExpired };
    }),
  };

  const leaseServer: LeasesServer = {
    create: unary(logger, async (req) => {
      const lease = await leases.create({
        ...(req.id === '' ? {} : { id: req.id }),
        ...(req.ttlSeconds === 0 ? {} : { ttlSeconds: req.ttlSeconds }),
        labels: req.labels,
      });
      return { lease: toProtoLease(lease) };
    }),
    delete: unary(logger, async (req) => {
      await leases.delete(req.id);
      return {};
    }),
    list: unary(logger, async (req) => {
      const list = await leases.list();
      const held = req.heldAt === undefined ? [] : [...(await leases.held(req.heldAt))];
      return { leases: list.map(toProtoLease), held };
    }),
    addResource: unary(logger, async (req) => {
      await leases.addResource(req.leaseId, parseDigest(req.digest));
      return {};
    }),
    addResources: unary(logger, async (req) => {
      await leases.addResources(
        req.leaseId,
        req.digests.map((d) => parseDigest(d)),
      );
      return {};
    }),
    deleteResource: unary(logger, async (req) => {
      await leases.deleteResource(req.leaseId, parseDigest(req.digest));
      return {};
    }),
  };

  return {
    content,
    leases: leaseServer,
    data: createDataHandler({ provider: store, held, importer: store, logger: logger.child({ component: 'data-socket' }) }),
    registrations: [
      { definition: contentDefinition, implementation: content },
      { definition: LeasesService, implementation: leaseServer },
    ],
  };
}
