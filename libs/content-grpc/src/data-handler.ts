import type { IncomingMessage, ServerResponse } from 'node:http';
import { finished } from 'node:stream/promises';
import { pipeBlob, validateRef, type Provider, type Store, type Writer } from '@strata/content';
import { failedPrecondition, invalidArgument, notFound, unimplemented, type Logger } from '@strata/kit';
import { parseDigest } from '@strata/oci';
import { BLOBS_PATH, IMPORTS_PATH, INGESTS_PATH, OFFSET_HEADER, SIZE_HEADER, toWireError, type ImportedBlob, type ImportRequest } from './data-wire.js';

/** A Writer that a Content Write stream holds open, and whether the data socket is appending to it. */
export interface HeldWriter {
  writer: Writer;
  busy: boolean;
}

/** What createDataHandler serves. */
export interface DataHandlerOptions {
  /** Reads of `GET /v1/blobs/<digest>`. */
  provider: Provider;
  /** The writers open Write streams hold, by ref. */
  held: ReadonlyMap<string, HeldWriter>;
  /** The store whose importFile serves `POST /v1/imports/<name>` (Unimplemented when it has none). */
  importer?: Pick<Store, 'importFile'>;
  logger: Logger;
}

/** A node:http request handler. */
export type DataHandler = (req: IncomingMessage, res: ServerResponse) => void;

const sendJson = (res: ServerResponse, status: number, body: unknown) => {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
};

/** Parses `bytes=a-b` or `bytes=a-` into a store range; InvalidArgument for anything else (one range only). */
function parseRange(value: string | undefined): { offset: number; length?: number } | undefined {
  if (value === undefined) return undefined;
  const m = /^bytes=(\d{1,15})-(\d{1,15})?$/.exec(value.trim());
  if (m === null) throw invalidArgument(`invalid Range ${JSON.stringify(value)}: expected bytes=<first>-[<last>]`);
  const offset = Number(m[1]);
  if (m[2] === undefined) return { offset };
  const last = Number(m[2]);
  if (last < offset) throw invalidArgument(`invalid Range ${JSON.stringify(value)}: the last byte is before the first`);
  return { offset, length: last - offset + 1 };
}

/** Largest body of an import request (a digest, a size and labels). */
const MAX_IMPORT_BODY = 256 * 1024;

/** The JSON body of req, up to MAX_IMPORT_BODY bytes; InvalidArgument for a longer or malformed one. */
async function readImportRequest(req: IncomingMessage): Promise<ImportRequest> {
  const parts: Buffer[] = [];
  let length = 0;
  for await (const chunk of req) {
    length += (chunk as Buffer).length;
    if (length > MAX_IMPORT_BODY) throw invalidArgument(`import request body is over ${MAX_IMPORT_BODY} bytes`);
    parts.push(chunk as Buffer);
  }
  let body: unknown;
  try {
    body = JSON.parse(Buffer.concat(parts).toString('utf8'));
  } catch {
    throw invalidArgument('import request body is not JSON: expected {"expected": "<digest>", "total": <bytes>, "labels": {…}}');
  }
  const { expected, total, labels, growing } = (body ?? {}) as Partial<ImportRequest>;
  if (typeof expected !== 'string' || typeof total !== 'number') {
    throw invalidArgument('import request body needs "expected" (the digest, a string) and "total" (the size, a number)');
  }
  if (labels !== undefined && (typeof labels !== 'object' || labels === null || Object.values(labels).some((v) => typeof v !== 'string'))) {
    throw invalidArgument('import request "labels" must map names to strings');
  }
  if (growing !== undefined && typeof growing !== 'boolean') throw invalidArgument('import request "growing" must be true or false');
  return { expected, total, ...(labels === undefined ? {} : { labels }), ...(growing === true ? { growing } : {}) };
}

/** Writes of an upload's chunks that may wait in the Writer before reading the body pauses (chunks are up to 64 KiB). */
const QUEUED_WRITES = 16;

/**
 * Appends the body of req to writer, each chunk handed to writer.write as
 * it arrives ('data' events: no stream read and promise per chunk; the
 * Writer keeps call order), reading paused while QUEUED_WRITES writes wait.
 * Resolves once every byte is written; raises the first write's failure
 * (the rest of the body is left unread) or the request's (a broken-off body).
 */
async function appendBody(req: IncomingMessage, writer: Writer): Promise<void> {
  let queued = 0;
  let last: Promise<void> = Promise.resolve();
  let writeFailed!: (err: unknown) => void;
  const failed = new Promise<never>((_resolve, reject) => {
    writeFailed = reject;
  });
  failed.catch(() => undefined);
  const onData = (chunk: Buffer) => {
    queued++;
    if (queued === QUEUED_WRITES) req.pause();
    last = writer.write(chunk).then(
      () => {
        queued--;
        if (queued === QUEUED_WRITES / 2 && req.isPaused()) req.resume();
      },
      (err: unknown) => {
        req.off('data', onData);
        req.pause();
        writeFailed(err);
      },
    );
  };
  req.on('data', onData);
  try {
    // failed first: when a write failed, last has settled too.
    await Promise.race([failed, finished(req)]);
    await Promise.race([failed, last]);
  } finally {
    req.off('data', onData);
  }
}

/**
 * The HTTP/1.1 handler of the layer-store's data socket: the bulk path for
 * blob bytes beside the Content gRPC API, without gRPC's framing and copies.
 *
 * - `PUT /v1/ingests/<ref>` (ref URI-encoded) with header `Strata-Offset`:
 *   appends the body to the ingest whose Writer a Content Write stream holds
 *   open (the stream keeps the control: open, status, truncate, commit with
 *   its digest and size checks, close). The offset must be the ingest's
 *   (FailedPrecondition otherwise, naming the stored offset); one PUT at a
 *   time per ingest. Answers 200 `{"offset": n}` once every byte is written.
 *   FailedPrecondition when no Write stream holds the ref.
 * - `POST /v1/imports/<name>` with a JSON body `{"expected", "total",
 *   "labels", "growing"}`: commits the file name of the store's imports
 *   directory (Store.importFile: hashed, then linked as the blob; with
 *   growing, read as its writer appends to it, so the answer comes once it
 *   is complete), answering 200 with the blob's Info; Unimplemented when
 *   the store keeps no files.
 * - `GET /v1/blobs/<digest>` with an optional `Range: bytes=a-b` or
 *   `bytes=a-`: the blob's bytes (206 with Content-Range for a range), the
 *   whole size in `Strata-Size`, streamed with backpressure.
 *
 * Digests and refs are validated before use. Errors are JSON
 * `{"kind", "message"}` with the kind's HTTP status (see toWireError):
 * InvalidArgument 400, NotFound 404, FailedPrecondition 412, OutOfRange 416,
 * Unavailable 503, Internal 500 with a generic message.
 */
export function createDataHandler(options: DataHandlerOptions): DataHandler {
  const { provider, held, importer, logger } = options;

  const putIngest = async (req: IncomingMessage, res: ServerResponse, ref: string) => {
    if (req.method !== 'PUT') throw unimplemented(`${req.method ?? ''} is not served on ${INGESTS_PATH}<ref>; use PUT`);
    const offsetText = req.headers[OFFSET_HEADER];
    if (typeof offsetText !== 'string' || !/^\d{1,15}$/.test(offsetText)) {
      throw invalidArgument(`PUT ${INGESTS_PATH}${ref} needs a ${OFFSET_HEADER} header: the ingest offset the body starts at`);
    }
    const entry = held.get(ref);
    if (entry === undefined) {
      throw failedPrecondition(`no writer holds ingest ${ref}: open it with the Content Write call first, then send its bytes here`, { fields: { ref } });
    }
    if (entry.busy) throw failedPrecondition(`ingest ${ref} is already receiving bytes on the data socket`, { fields: { ref } });
    const { writer } = entry;
    if (Number(offsetText) !== writer.offset) {
      throw failedPrecondition(`cannot write ${ref} at offset ${offsetText}: ${writer.offset} bytes are stored; continue from there`, { fields: { ref } });
    }
    entry.busy = true;
    try {
      await appendBody(req, writer);
    } finally {
      entry.busy = false;
    }
    sendJson(res, 200, { offset: writer.offset });
  };

  const getBlob = async (req: IncomingMessage, res: ServerResponse, digestText: string) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') throw unimplemented(`${req.method ?? ''} is not served on ${BLOBS_PATH}<digest>; use GET`);
    const digest = parseDigest(digestText);
    const range = parseRange(req.headers.range);
    const reader = await provider.read(digest, range);
    const offset = range?.offset ?? 0;
    const end = range?.length === undefined ? reader.size : Math.min(reader.size, offset + range.length);
    const headers: Record<string, string | number> = {
      'content-type': 'application/octet-stream',
      'content-length': end - offset,
      [SIZE_HEADER]: reader.size,
    };
    if (range !== undefined) headers['content-range'] = end > offset ? `bytes ${offset}-${end - 1}/${reader.size}` : `bytes */${reader.size}`;
    res.writeHead(range === undefined ? 200 : 206, headers);
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    try {
      await pipeBlob(reader, res);
    } catch (err) {
      logger.debug({ err, digest }, 'blob response ended early');
      res.destroy();
    }
  };

  const postImport = async (req: IncomingMessage, res: ServerResponse, name: string) => {
    if (req.method !== 'POST') throw unimplemented(`${req.method ?? ''} is not served on ${IMPORTS_PATH}<name>; use POST`);
    if (importer?.importFile === undefined) throw unimplemented('this layer-store keeps no blob files on this host to import into; write the blob through an ingest');
    const request = await readImportRequest(req);
    const info = await importer.importFile(name, {
      expected: parseDigest(request.expected),
      total: request.total,
      ...(request.labels === undefined ? {} : { labels: request.labels }),
      ...(request.growing === true ? { growing: true } : {}),
    });
    const answer: ImportedBlob = { digest: info.digest, size: info.size, createdAt: info.createdAt.toISOString(), updatedAt: info.updatedAt.toISOString(), labels: info.labels };
    sendJson(res, 200, answer);
  };

  const route = async (req: IncomingMessage, res: ServerResponse) => {
    const path = req.url ?? '';
    if (path.startsWith(INGESTS_PATH)) {
      let ref: string;
      try {
        ref = decodeURIComponent(path.slice(INGESTS_PATH.length));
      } catch {
        throw invalidArgument(`invalid ingest path ${JSON.stringify(path.slice(0, 300))}: the ref must be URI-encoded`);
      }
      return putIngest(req, res, validateRef(ref));
    }
    if (path.startsWith(BLOBS_PATH)) return getBlob(req, res, path.slice(BLOBS_PATH.length));
    if (path.startsWith(IMPORTS_PATH)) return postImport(req, res, path.slice(IMPORTS_PATH.length));
    throw notFound(`nothing is served at ${JSON.stringify(path.slice(0, 300))}: use ${INGESTS_PATH}<ref>, ${BLOBS_PATH}<digest> or ${IMPORTS_PATH}<name>`);
  };

  return (req, res) => {
    route(req, res).catch((err: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      const { status, body } = toWireError(err, logger);
      // The request body may be unread: answer, then close the connection.
      res.setHeader('connection', 'close');
      sendJson(res, status, body);
      if (!req.complete) res.on('finish', () => req.destroy());
    });
  };
}
