import { Agent as HttpAgent, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { Readable } from 'node:stream';
import { rootCertificates } from 'node:tls';
import { StrataError, canceled, failedPrecondition, invalidArgument, isStrataError, unavailable, type Logger } from '@strata/kit';
import { checkTarget, publicOnlyLookup, type AddressPolicy } from './address-policy.js';
import type { ResolvedUpstream } from './upstream-config.js';

/** Most redirects one request follows. */
export const MAX_REDIRECTS = 5;

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** Chunks of a body read ahead of its consumer before reading pauses (about 1 MiB of 64 KiB reads). */
const BODY_QUEUE = 16;
const EMPTY = Buffer.alloc(0);

/** A request body: bytes (replayable on redirects and auth retries) or a stream (sent once). */
export type RequestBody = Uint8Array | AsyncIterable<Uint8Array>;

/** One request to the upstream (redirects are followed by the transport). */
export interface HttpRequest {
  method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  url: URL;
  headers?: Record<string, string>;
  /** Sent only to the upstream's own origin, never to a host a redirect points at. */
  authorization?: string | undefined;
  body?: RequestBody | undefined;
  signal?: AbortSignal | undefined;
  /** Names the request in errors: `GET manifest busybox:latest`. */
  label: string;
}

/** An answer; read or destroy body. */
export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** The URL that answered, after redirects. */
  url: URL;
  body: IncomingMessage;
  /** A header's value (the first one when repeated). */
  header(name: string): string | undefined;
}

/** Settings of {@link createTransport}. */
export interface TransportOptions {
  /** Time to a response's headers, and longest pause of a body being read; ms. */
  timeoutMs: number;
  userAgent: string;
  logger: Logger;
}

/** HTTP to one upstream with manual redirects; see {@link createTransport}. */
export interface Transport {
  readonly policy: AddressPolicy;
  send(request: HttpRequest): Promise<HttpResponse>;
  /**
   * Sends a request to a URL outside the upstream's origin that the upstream
   * named (a token realm), checked with the address policy; no redirects.
   */
  sendElsewhere(request: HttpRequest, purpose: string): Promise<HttpResponse>;
  /** Iterates body in chunks, failing with Unavailable when no data came for timeoutMs while one was awaited. */
  chunks(response: HttpResponse, label: string): AsyncGenerator<Uint8Array>;
  /** Reads body whole, at most limit bytes; over it, calls tooLarge(received) and raises what it returns. */
  readAll(response: HttpResponse, label: string, limit: number, tooLarge: (received: number) => StrataError): Promise<Uint8Array>;
  /** Ends the keep-alive connections. */
  close(): void;
}

function firstHeader(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}

function connectError(upstream: string, label: string, url: URL, err: unknown): StrataError {
  if (isStrataError(err)) return err;
  const error = err as NodeJS.ErrnoException;
  if (error.name === 'AbortError') return canceled(`upstream ${upstream}: ${label} canceled`, { cause: err });
  const code = typeof error.code === 'string' ? error.code : undefined;
  const tls = code !== undefined && /CERT|TLS|SSL|SELF_SIGNED/.test(code);
  const reason = tls ? `the TLS certificate of ${url.host} is not trusted (${error.message}); configure the upstream's CA` : error.message;
  return unavailable(`upstream ${upstream}: ${label} failed: ${reason}`, { cause: err, fields: { upstream, url: url.origin, code } });
}

/**
 * HTTP(S) to one upstream over keep-alive agents of its own, trusting the
 * system's CAs plus the upstream's `ca`. Redirects (301, 302, 303, 307,
 * 308; at most {@link MAX_REDIRECTS}) are followed by hand: the
 * Authorization header goes only to the upstream's own origin, every other
 * target passes the address policy ({@link checkTarget}, and
 * {@link publicOnlyLookup} when it connects), an https hop never leads to
 * http, and 303 (or 301/302 after a POST) becomes a GET without a body. A
 * streamed body cannot follow a 307/308 (FailedPrecondition). Errors:
 * Unavailable when the upstream cannot be reached, times out or breaks the
 * connection; PermissionDenied for a refused target; FailedPrecondition for
 * too many redirects; Canceled when the request's signal aborts.
 */
export function createTransport(upstream: ResolvedUpstream, options: TransportOptions): Transport {
  const policy: AddressPolicy = {
    upstream: upstream.host,
    secure: upstream.baseUrl.protocol === 'https:',
    allowPrivateHosts: upstream.allowPrivateHosts,
  };
  const httpAgent = new HttpAgent({ keepAlive: true });
  const httpsAgent = new HttpsAgent({
    keepAlive: true,
    ...(upstream.ca === undefined ? {} : { ca: [...rootCertificates, Buffer.from(upstream.ca).toString('utf8')] }),
  });
  const base = upstream.baseUrl;
  const log = options.logger;

  const once = (method: string, url: URL, headers: Record<string, string>, body: RequestBody | undefined, request: HttpRequest, checked: boolean) =>
    new Promise<IncomingMessage>((resolve, reject) => {
      const secure = url.protocol === 'https:';
      const send = secure ? httpsRequest : httpRequest;
      const req = send(url, {
        method,
        headers: { 'user-agent': options.userAgent, ...headers },
        agent: secure ? httpsAgent : httpAgent,
        ...(checked ? { lookup: publicOnlyLookup(policy, 'redirect', url) } : {}),
        ...(request.signal === undefined ? {} : { signal: request.signal }),
      });
      req.setTimeout(options.timeoutMs, () => {
        req.destroy(unavailable(`upstream ${upstream.host}: ${request.label}: no answer from ${url.host} within ${options.timeoutMs} ms`));
      });
      req.on('error', (err) => reject(connectError(upstream.host, request.label, url, err)));
      req.on('response', (res) => {
        req.setTimeout(0);
        resolve(res);
      });
      if (body === undefined) req.end();
      else if (body instanceof Uint8Array) req.end(body);
      else {
        const source = Readable.from(body, { objectMode: false });
        source.on('error', (err) => req.destroy(err));
        source.pipe(req);
      }
    });

  const wrap = (res: IncomingMessage, url: URL): HttpResponse => ({
    status: res.statusCode ?? 0,
    headers: res.headers,
    url,
    body: res,
    header: (name) => firstHeader(res.headers, name),
  });

  const send = async (request: HttpRequest): Promise<HttpResponse> => {
    let url = request.url;
    let method: string = request.method;
    let body = request.body;
    if (url.origin !== base.origin) checkTarget(policy, 'request', url);
    for (let hop = 0; ; hop++) {
      const own = url.origin === base.origin;
      const headers: Record<string, string> = { ...request.headers };
      if (own && request.authorization !== undefined) headers.authorization = request.authorization;
      if (body === undefined) delete headers['content-length'];
      const res = await once(method, url, headers, body, request, !own && !policy.allowPrivateHosts);
      const status = res.statusCode ?? 0;
      const location = firstHeader(res.headers, 'location');
      if (!REDIRECTS.has(status) || location === undefined) return wrap(res, url);
      res.resume();
      if (hop >= MAX_REDIRECTS) {
        throw failedPrecondition(`upstream ${upstream.host}: ${request.label}: more than ${MAX_REDIRECTS} redirects`, {
          fields: { upstream: upstream.host },
        });
      }
      let next: URL;
      try {
        next = new URL(location, url);
      } catch {
        throw invalidArgument(`upstream ${upstream.host}: ${request.label}: redirect to an invalid URL ${JSON.stringify(location.slice(0, 200))}`);
      }
      if (next.origin !== base.origin) checkTarget({ ...policy, secure: url.protocol === 'https:' }, 'redirect', next);
      if (status === 303 || ((status === 301 || status === 302) && method === 'POST')) {
        method = method === 'HEAD' ? 'HEAD' : 'GET';
        body = undefined;
      } else if (body !== undefined && !(body instanceof Uint8Array)) {
        throw failedPrecondition(`upstream ${upstream.host}: ${request.label}: redirected with ${status}, and a streamed body cannot be sent again`);
      }
      log.debug({ status, from: url.origin, to: next.origin, hop: hop + 1 }, 'following redirect');
      url = next;
    }
  };

  const sendElsewhere = async (request: HttpRequest, purpose: string): Promise<HttpResponse> => {
    checkTarget(policy, purpose, request.url);
    const headers: Record<string, string> = { ...request.headers };
    if (request.authorization !== undefined) headers.authorization = request.authorization;
    const res = await once(request.method, request.url, headers, request.body, request, !policy.allowPrivateHosts && request.url.origin !== base.origin);
    return wrap(res, request.url);
  };

  /*
   * The body's 'data' events fill a queue the generator drains (Node's
   * async iterator of a stream costs a few promises and read() calls more
   * per chunk, ~10-30 ms of CPU for a 105 MB blob's 1600 chunks). Reading
   * pauses while BODY_QUEUE chunks wait. One idle timer per body, pushed
   * back as each chunk is awaited (a timer and a race per chunk cost more
   * than the rest of the loop). When it fires while a chunk is awaited, it
   * destroys the body with Unavailable, which the awaited chunk raises;
   * while the consumer holds a chunk it only re-arms itself. It is unref'd:
   * while a chunk is awaited the connection keeps the process alive, and an
   * abandoned body does not.
   */
  async function* chunks(response: HttpResponse, label: string): AsyncGenerator<Uint8Array> {
    const body = response.body;
    const queue: Buffer[] = [];
    let head = 0;
    let ended = false;
    let failure: { error: unknown } | undefined;
    let wake: (() => void) | undefined;
    const notify = () => {
      const resolve = wake;
      wake = undefined;
      resolve?.();
    };
    const onData = (chunk: Buffer) => {
      queue.push(chunk);
      if (queue.length - head >= BODY_QUEUE) body.pause();
      notify();
    };
    const onEnd = () => {
      ended = true;
      notify();
    };
    const onError = (error: unknown) => {
      failure ??= { error };
      notify();
    };
    const onClose = () => {
      if (!body.complete) failure ??= { error: new Error('the body ended early') };
      ended = true;
      notify();
    };
    body.on('data', onData);
    body.on('end', onEnd);
    body.on('error', onError);
    body.on('close', onClose);
    let received = 0;
    let awaiting = false;
    const timer = setTimeout(function stalled() {
      if (!awaiting) {
        timer.refresh();
        return;
      }
      body.destroy(unavailable(`upstream ${upstream.host}: ${label}: no data from ${response.url.host} for ${options.timeoutMs} ms after ${received} bytes`));
    }, options.timeoutMs).unref();
    try {
      while (true) {
        if (head < queue.length) {
          const chunk = queue[head] as Buffer;
          queue[head++] = EMPTY;
          if (head === queue.length) {
            queue.length = 0;
            head = 0;
            if (body.isPaused() && !ended) body.resume();
          }
          received += chunk.length;
          yield chunk;
          continue;
        }
        if (failure !== undefined) {
          const err = failure.error;
          if (isStrataError(err)) throw err;
          throw unavailable(`upstream ${upstream.host}: ${label}: the connection broke after ${received} bytes: ${(err as Error).message}`, {
            cause: err,
            fields: { upstream: upstream.host },
          });
        }
        if (ended) return;
        awaiting = true;
        timer.refresh();
        try {
          await new Promise<void>((resolve) => (wake = resolve));
        } finally {
          awaiting = false;
        }
      }
    } finally {
      clearTimeout(timer);
      body.off('data', onData);
      body.off('end', onEnd);
      body.off('error', onError);
      body.off('close', onClose);
      if (!body.complete) body.destroy();
    }
  }

  const readAll = async (response: HttpResponse, label: string, limit: number, tooLarge: (received: number) => StrataError): Promise<Uint8Array> => {
    const parts: Buffer[] = [];
    let received = 0;
    for await (const chunk of chunks(response, label)) {
      received += chunk.length;
      if (received > limit) throw tooLarge(received);
      parts.push(Buffer.from(chunk));
    }
    return Buffer.concat(parts);
  };

  return {
    policy,
    send,
    sendElsewhere,
    chunks,
    readAll,
    close() {
      httpAgent.destroy();
      httpsAgent.destroy();
    },
  };
}
