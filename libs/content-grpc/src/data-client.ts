import { Agent, request, type AgentOptions, type ClientRequest, type IncomingMessage } from 'node:http';
import type { BlobReader, ImportOptions, Info, ReadRange } from '@strata/content';
import { internal, invalidArgument, unavailable, type StrataError } from '@strata/kit';
import type { Digest } from '@strata/oci';
import { BLOBS_PATH, fromWireError, IMPORTS_PATH, INGESTS_PATH, OFFSET_HEADER, SIZE_HEADER, type ImportedBlob, type ImportRequest } from './data-wire.js';

/** The client of a layer-store's data socket (see createDataHandler). */
export interface DataClient {
  readonly name: string;
  /** Reads a blob or a range of it; raises the service's errors (NotFound, OutOfRange…) before any byte. */
  read(digest: Digest, range?: ReadRange): Promise<BlobReader>;
  /** Starts appending to the ingest ref, held by a Write stream, at offset. */
  upload(ref: string, offset: number): Upload;
  /** Commits a file of the store's imports directory (Store.importFile); raises the service's errors. */
  importFile(name: string, options: ImportOptions): Promise<Info>;
  close(): void;
}

/** One PUT of bytes into an ingest. */
export interface Upload {
  /** Sends data; resolves once it is handed to the socket (data may be reused then). Raises the service's error when it refused the upload. */
  write(data: Uint8Array): Promise<void>;
  /** Ends the body; resolves with the ingest's offset once the service wrote every byte. */
  finish(): Promise<number>;
  /** Breaks the upload off. */
  abort(): void;
}

function wholeNumber(value: unknown, what: string): number {
  if (value === undefined) return 0;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw invalidArgument(`invalid ${what} ${String(value)}: must be a whole number of bytes, 0 or more`);
  }
  return value;
}

const readBody = async (res: IncomingMessage): Promise<string> => {
  const parts: Buffer[] = [];
  for await (const chunk of res) parts.push(chunk as Buffer);
  return Buffer.concat(parts).toString('utf8');
};

class PutUpload implements Upload {
  private readonly req: ClientRequest;
  private readonly answer: Promise<number>;
  private failure: StrataError | undefined;

  constructor(
    private readonly name: string,
    socketPath: string,
    agent: Agent,
    ref: string,
    offset: number,
  ) {
    this.req = request({
      socketPath,
      agent,
      method: 'PUT',
      path: `${INGESTS_PATH}${encodeURIComponent(ref)}`,
      headers: { 'content-type': 'application/octet-stream', [OFFSET_HEADER]: String(offset) },
    });
    this.answer = new Promise<number>((resolve, reject) => {
      const fail = (err: StrataError) => {
        this.failure ??= err;
        reject(this.failure);
      };
      let responded = false;
      this.req.once('response', (res) => {
        responded = true;
        readBody(res).then(
          (body) => {
            if (res.statusCode !== 200) return fail(fromWireError(res.statusCode ?? 0, body, name));
            const offsetAfter = (JSON.parse(body) as { offset?: unknown }).offset;
            if (typeof offsetAfter !== 'number') return fail(internal(`${name} answered an upload of ${ref} without its offset`));
            resolve(offsetAfter);
          },
          (err: Error) => fail(unavailable(`${name} broke off the answer to an upload of ${ref}: ${err.message}`, { cause: err })),
        );
      });
      this.req.on('error', (err) => {
        if (!responded) fail(unavailable(`cannot upload ${ref} to ${name}: ${err.message}`, { cause: err }));
      });
      this.req.once('close', () => {
        if (!responded) fail(unavailable(`${name} closed the upload of ${ref} before answering`));
      });
    });
    this.answer.catch(() => undefined);
  }

  async write(data: Uint8Array): Promise<void> {
    if (this.failure !== undefined) throw this.failure;
    try {
      await new Promise<void>((resolve, reject) => this.req.write(data, (err) => (err ? reject(err) : resolve())));
    } catch {
      // The service answered early (an error) or the connection broke: raise what the answer says.
      await this.answer;
      throw internal(`${this.name} accepted an upload it did not read`);
    }
    if (this.failure !== undefined) throw this.failure;
  }

  finish(): Promise<number> {
    if (this.failure === undefined) this.req.end();
    return this.answer;
  }

  abort(): void {
    this.req.destroy();
  }
}

/**
 * Creates the client of the data socket at socketPath: keep-alive HTTP/1.1
 * connections, one per concurrent request. Unavailable when the socket
 * cannot be reached; otherwise the service's errors with their kinds.
 */
export function createDataClient(socketPath: string): DataClient {
  const name = `unix:${socketPath}`;
  // No TLS on a unix socket, so no server name: an empty one spares the agent its check of every request's host for an IP
  // address, whose IPv6 regular expression took ~6 ms to compile at a process's first request (a cold pull's first read).
  const agentOptions: AgentOptions & { servername: string } = { keepAlive: true, maxFreeSockets: 16, servername: '' };
  const agent = new Agent(agentOptions);
  return {
    name,
    async read(digest, range = {}) {
      const offset = wholeNumber(range.offset, 'read offset');
      wholeNumber(range.length, 'read length');
      const headers: Record<string, string> = {};
      if (offset > 0 || (range.length ?? 0) > 0) {
        headers.range = `bytes=${offset}-${range.length ? offset + range.length - 1 : ''}`;
      }
      const res = await new Promise<IncomingMessage>((resolve, reject) => {
        const req = request({ socketPath, agent, method: 'GET', path: `${BLOBS_PATH}${digest}`, headers }, resolve);
        req.once('error', (err) => reject(unavailable(`cannot read ${digest} from ${name}: ${err.message}`, { cause: err, fields: { digest } })));
        req.end();
      });
      if (res.statusCode !== 200 && res.statusCode !== 206) throw fromWireError(res.statusCode ?? 0, await readBody(res), name);
      const size = Number(res.headers[SIZE_HEADER]);
      if (!Number.isSafeInteger(size)) {
        res.destroy();
        throw internal(`${name} answered a read of ${digest} without its size`);
      }
      const expected = Number(res.headers['content-length']);
      return {
        size,
        chunks: (async function* () {
          let received = 0;
          try {
            for await (const chunk of res) {
              received += (chunk as Buffer).length;
              yield chunk as Buffer;
            }
          } catch (err) {
            throw unavailable(`${name} broke off the read of ${digest}: ${(err as Error).message}`, { cause: err, fields: { digest } });
          } finally {
            res.destroy();
          }
          if (received !== expected) throw unavailable(`${name} sent ${received} of ${expected} bytes of ${digest}`, { fields: { digest } });
        })(),
      };
    },
    upload: (ref, offset) => new PutUpload(name, socketPath, agent, ref, offset),
    async importFile(file, options) {
      const body: ImportRequest = {
        expected: options.expected,
        total: options.total,
        ...(options.labels === undefined ? {} : { labels: options.labels }),
        ...(options.growing === true ? { growing: true } : {}),
      };
      const text = JSON.stringify(body);
      const res = await new Promise<IncomingMessage>((resolve, reject) => {
        const req = request(
          { socketPath, agent, method: 'POST', path: `${IMPORTS_PATH}${encodeURIComponent(file)}`, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) } },
          resolve,
        );
        req.once('error', (err) => reject(unavailable(`cannot import ${file} into ${name}: ${err.message}`, { cause: err })));
        req.end(text);
      });
      const answer = await readBody(res);
      if (res.statusCode !== 200) throw fromWireError(res.statusCode ?? 0, answer, name);
      const blob = JSON.parse(answer) as ImportedBlob;
      return { digest: blob.digest as Info['digest'], size: blob.size, createdAt: new Date(blob.createdAt), updatedAt: new Date(blob.updatedAt), labels: blob.labels };
    },
    close: () => agent.destroy(),
  };
}
