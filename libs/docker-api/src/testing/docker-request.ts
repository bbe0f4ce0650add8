import { request } from 'node:http';
import { connect } from 'node:net';

/** A whole HTTP response from the Docker API socket. */
export interface DockerResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  /** The body parsed as JSON; throws a SyntaxError when it is not JSON. */
  json(): unknown;
}

/**
 * Sends one HTTP request to the unix socket socketPath and reads the whole
 * response. Rejects with the socket's error (ENOENT, ECONNREFUSED…).
 */
export function dockerRequest(
  socketPath: string,
  method: string,
  path: string,
  body?: string | Buffer,
  headers: Record<string, string> = {},
): Promise<DockerResponse> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        socketPath,
        method,
        path,
        headers: { Host: 'docker', ...(body === undefined ? {} : { 'Content-Type': 'application/json' }), ...headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.once('error', reject);
        res.once('end', () => {
          const bytes = Buffer.concat(chunks);
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: bytes, json: () => JSON.parse(bytes.toString('utf8')) });
        });
      },
    );
    req.once('error', reject);
    req.end(body);
  });
}

/**
 * Writes text as is to the unix socket socketPath and answers everything
 * the server sends until it ends the connection (or timeoutMs passes, 5 s by
 * default, after which the connection is destroyed and what came is returned).
 */
export function rawExchange(socketPath: string, text: string, timeoutMs = 5_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(socketPath);
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => socket.destroy(), timeoutMs);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'ECONNRESET' && err.code !== 'EPIPE') {
        clearTimeout(timer);
        reject(err);
      }
    });
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('utf8'));
    });
    socket.write(text);
  });
}
