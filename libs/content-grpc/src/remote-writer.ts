import type { ClientDuplexStream } from '@grpc/grpc-js';
import { ContentService, WriteAction, type WriteContentRequest, type WriteContentResponse } from '@strata/api/content/v1';
import type { CommitOptions, Info, Status, Writer, WriterOptions } from '@strata/content';
import type { RpcClient } from '@strata/grpc-kit';
import { failedPrecondition, internal, unavailable, type StrataError } from '@strata/kit';
import { CHUNK_BYTES } from './content-service.js';
import { fromProtoInfo, fromProtoStatus } from './convert.js';
import type { DataClient, Upload } from './data-client.js';
import { encodeWriteRequest, preEncodedWrite } from './wire.js';

/** Bytes sent but not yet acknowledged by the server, at most, per writer. */
export const WINDOW_BYTES = 8 * CHUNK_BYTES;

interface Pending {
  resolve: (response: WriteContentResponse) => void;
  reject: (err: StrataError) => void;
  /** Data bytes the request carried. */
  bytes: number;
  /** Offset the server must report after a WRITE. */
  endOffset?: number;
}

/** A Writer over one Write stream; `cancel` breaks the stream (the server keeps the ingest). */
export interface RemoteWriter extends Writer {
  cancel(): void;
}

type RequestFields = Omit<WriteContentRequest, 'data'>;

function request(action: WriteAction, fields: Partial<RequestFields> = {}): RequestFields {
  return { action, ref: '', total: 0, expected: '', offset: 0, labels: {}, ...fields };
}

/**
 * A Writer that keeps one bidirectional Write stream open. Writes are
 * encoded (a copy) into messages of up to 1 MiB, small ones gathered first,
 * and sent without waiting for each answer, but never more than
 * WINDOW_BYTES ahead of the server's acknowledgements, and never past the
 * stream's flow control. An error the server reports for a write already
 * sent is raised by the next call; a write that would pass the announced
 * total is refused at once. status(), truncate(), commit() and close() wait
 * for every answer first.
 *
 * With a data client, the bytes of writes go over the layer-store's data
 * socket instead (one PUT, kept open across writes, into the Writer this
 * stream holds), unless the announced total fits in one message; the stream keeps the control, and status(), truncate(),
 * commit() and close() end the PUT and wait for its answer first. A write
 * resolves once its bytes are handed to the socket.
 */
class StreamWriter implements RemoteWriter {
  private readonly queue: Pending[] = [];
  private wakers: Array<() => void> = [];
  private failure: StrataError | undefined;
  private failureSeen = false;
  private needDrain = false;
  private flushScheduled = false;
  private closed = false;
  private buffer: Buffer[] = [];
  private buffered = 0;
  private unacked = 0;
  /** Bytes sent to the server (stored or in flight). */
  private sent = 0;
  private total = 0;
  /** The PUT carrying writes on the data socket, while one is open. */
  private upload: Upload | undefined;
  readonly ended: Promise<void>;

  constructor(
    readonly ref: string,
    private readonly client: RpcClient,
    private readonly call: ClientDuplexStream<Buffer, WriteContentResponse>,
    private readonly onDone: () => void,
    private readonly data: DataClient | undefined,
  ) {
    call.on('data', (response: WriteContentResponse) => this.answer(response));
    call.on('drain', () => {
      this.needDrain = false;
      this.wake();
    });
    call.on('error', (err) => this.fail(client.translate(err)));
    this.ended = new Promise((resolve) => {
      call.on('status', () => {
        if (this.queue.length > 0) this.fail(unavailable(`${client.name} ended the write of ${ref} before answering`, { fields: { ref } }));
        resolve();
      });
    });
  }

  get offset(): number {
    return this.sent + this.buffered;
  }

  async open(options: WriterOptions): Promise<void> {
    const res = await this.request(
      request(WriteAction.WRITE_ACTION_STAT, { ref: options.ref, total: options.total ?? 0, expected: options.expected ?? '' }),
    );
    this.sent = res.offset;
    this.total = res.total;
  }

  async status(): Promise<Status> {
    this.live();
    await this.finishUpload();
    await this.settle();
    return fromProtoStatus((await this.client.unary(ContentService.status, { ref: this.ref })).status);
  }

  async write(data: Uint8Array): Promise<void> {
    this.live();
    this.throwIfFailed();
    if (this.total > 0 && this.offset + data.length > this.total) {
      throw failedPrecondition(
        `cannot write ${data.length} bytes at offset ${this.offset} of ${this.ref}: that passes the announced total of ${this.total} bytes`,
        { fields: { ref: this.ref } },
      );
    }
    if (this.data !== undefined && !this.small()) {
      if (data.length === 0) return;
      this.upload ??= this.data.upload(this.ref, this.sent);
      try {
        await this.upload.write(data);
      } catch (err) {
        this.upload = undefined;
        this.fail(this.client.translate(err));
        this.failureSeen = true;
        throw this.failure;
      }
      this.sent += data.length;
      return;
    }
    for (let pos = 0; pos < data.length; ) {
      if (this.buffered === 0 && data.length - pos >= CHUNK_BYTES) {
        this.send([data.subarray(pos, pos + CHUNK_BYTES)], CHUNK_BYTES);
        pos += CHUNK_BYTES;
        await this.roomInWindow();
        continue;
      }
      const n = Math.min(data.length - pos, CHUNK_BYTES - this.buffered);
      this.buffer.push(Buffer.from(data.subarray(pos, pos + n)));
      this.buffered += n;
      pos += n;
      if (this.buffered === CHUNK_BYTES) {
        this.flushBuffer();
        await this.roomInWindow();
      }
    }
    this.scheduleFlush();
  }

  async truncate(): Promise<void> {
    this.live();
    this.buffer = [];
    this.buffered = 0;
    await this.finishUpload();
    await this.settle();
    await this.request(request(WriteAction.WRITE_ACTION_WRITE, { offset: 0 }));
    this.sent = 0;
  }

  async commit(options: CommitOptions = {}): Promise<Info> {
    this.live();
    this.closed = true;
    try {
      await this.finishUpload();
      const { parts, bytes } = this.take();
      const res = await this.request(
        request(WriteAction.WRITE_ACTION_COMMIT, {
          offset: this.sent,
          total: options.total ?? 0,
          expected: options.expected ?? '',
          labels: { ...(options.labels ?? {}) },
        }),
        parts,
        bytes,
      );
      this.sent += bytes;
      await this.ended;
      return fromProtoInfo(res.info);
    } catch (err) {
      this.call.cancel();
      throw err;
    } finally {
      this.onDone();
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      if (this.failure === undefined) await this.finishUpload().catch(() => undefined);
      if (this.failure === undefined) this.flushBuffer();
      this.call.end();
      await this.ended;
    } finally {
      this.onDone();
    }
    if (this.failure !== undefined && !this.failureSeen) this.throwIfFailed();
  }

  cancel(): void {
    this.closed = true;
    this.upload?.abort();
    this.call.cancel();
  }

  /**
   * Ends the data socket PUT, if one is open, and waits until the service
   * stored its bytes, so that the Write stream may go on from there.
   */
  private async finishUpload(): Promise<void> {
    const upload = this.upload;
    if (upload === undefined) return;
    this.upload = undefined;
    let stored: number;
    try {
      stored = await upload.finish();
    } catch (err) {
      this.fail(this.client.translate(err));
      this.failureSeen = true;
      throw this.failure;
    }
    if (stored !== this.sent) {
      this.fail(internal(`${this.client.name} stored ${stored} bytes of ${this.ref}, expected ${this.sent}`, { fields: { ref: this.ref } }));
      this.call.cancel();
      this.throwIfFailed();
    }
  }

  /**
   * Whether the writer announced a total of at most one message: such a
   * blob (a manifest, a config) goes in the Write stream's messages, which
   * are pipelined with its commit, rather than in a PUT on the data socket,
   * which would cost a request and its answer more.
   */
  private small(): boolean {
    return this.total > 0 && this.total <= CHUNK_BYTES;
  }

  private live(): void {
    if (this.closed) throw failedPrecondition(`writer for ${this.ref} is closed`, { fields: { ref: this.ref } });
  }

  private throwIfFailed(): void {
    if (this.failure !== undefined) {
      this.failureSeen = true;
      throw this.failure;
    }
  }

  private wake(): void {
    const wakers = this.wakers;
    this.wakers = [];
    for (const w of wakers) w();
  }

  private async until(ready: () => boolean): Promise<void> {
    while (!ready()) {
      this.throwIfFailed();
      await new Promise<void>((resolve) => this.wakers.push(resolve));
    }
    this.throwIfFailed();
  }

  private fail(err: StrataError): void {
    this.failure ??= err;
    for (const p of this.queue.splice(0)) p.reject(this.failure);
    this.wake();
  }

  private answer(response: WriteContentResponse): void {
    const p = this.queue.shift();
    if (p === undefined) {
      this.fail(internal(`${this.client.name} sent an answer nobody asked for on the write of ${this.ref}`));
      this.call.cancel();
      return;
    }
    this.unacked -= p.bytes;
    if (p.endOffset !== undefined && response.offset !== p.endOffset) {
      this.fail(internal(`${this.client.name} stored ${response.offset} bytes of ${this.ref}, expected ${p.endOffset}`, { fields: { ref: this.ref } }));
      this.call.cancel();
      return;
    }
    p.resolve(response);
    this.wake();
  }

  private request(message: RequestFields, parts: readonly Uint8Array[] = [], bytes = 0, endOffset?: number): Promise<WriteContentResponse> {
    if (this.failure !== undefined) {
      this.failureSeen = true;
      return Promise.reject(this.failure);
    }
    const answered = new Promise<WriteContentResponse>((resolve, reject) =>
      this.queue.push({ resolve, reject, bytes, ...(endOffset === undefined ? {} : { endOffset }) }),
    );
    this.unacked += bytes;
    if (!this.call.write(encodeWriteRequest(message, parts))) this.needDrain = true;
    return answered;
  }

  /** Takes the gathered bytes out of the buffer. */
  private take(): { parts: Buffer[]; bytes: number } {
    const taken = { parts: this.buffer, bytes: this.buffered };
    this.buffer = [];
    this.buffered = 0;
    return taken;
  }

  /** Sends parts (bytes in all) as a WRITE at the sent offset without waiting for its answer. */
  private send(parts: readonly Uint8Array[], bytes: number): void {
    if (bytes === 0) return;
    const offset = this.sent;
    this.sent += bytes;
    this.request(request(WriteAction.WRITE_ACTION_WRITE, { offset }), parts, bytes, this.sent).catch(() => undefined);
  }

  private flushBuffer(): void {
    const { parts, bytes } = this.take();
    this.send(parts, bytes);
  }

  /**
   * Sends what is gathered once the current burst of writes is over (after
   * pending I/O callbacks), so small writes share messages but bytes do not
   * linger in the client.
   */
  private scheduleFlush(): void {
    if (this.flushScheduled || this.buffered === 0) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      if (!this.closed && this.failure === undefined) this.flushBuffer();
    });
  }

  /** Waits until the server has answered enough and the stream takes more. */
  private async roomInWindow(): Promise<void> {
    await this.until(() => this.unacked <= WINDOW_BYTES && !this.needDrain);
  }

  /** Sends the gathered bytes and waits until the server has answered everything. */
  private async settle(): Promise<void> {
    this.flushBuffer();
    await this.until(() => this.queue.length === 0);
  }
}

/**
 * Opens a Write stream for options.ref and learns the stored offset (a
 * resumed ingest continues there). Raises what the server raises: Unavailable
 * when another writer holds the ref, AlreadyExists, InvalidArgument.
 * onDone runs when the opened writer is committed or closed.
 */
export async function openRemoteWriter(client: RpcClient, options: WriterOptions, onDone: () => void, data?: DataClient): Promise<RemoteWriter> {
  const call = client.bidiStream(preEncodedWrite);
  const writer = new StreamWriter(options.ref, client, call, onDone, data);
  try {
    await writer.open(options);
  } catch (err) {
    writer.cancel();
    throw err;
  }
  return writer;
}
