import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from '@strata/kit';
import { dockerError } from './docker-error.js';

/** The Docker Engine API version served when a path carries none (and the highest accepted). */
export const DOCKER_API_VERSION = '1.44';

/** The oldest Docker Engine API version accepted in a `/vX.Y/` path prefix. */
export const DOCKER_MIN_API_VERSION = '1.24';

/**
 * What a route handler gets for one request. Handlers answer through json()
 * or by writing res themselves (streams), or take the connection over with
 * hijack(). Errors thrown (DockerError, StrataError or anything) are written
 * by the server as `{"message": …}` with dockerStatusOf's status when nothing
 * was sent yet, and end the connection otherwise.
 */
export interface DockerContext {
  req: IncomingMessage;
  /** The response; for an `Upgrade: tcp` request, a response bound to the raw socket (use it only for errors). */
  res: ServerResponse;
  /** Path parameters, percent-decoded. */
  params: Record<string, string>;
  query: URLSearchParams;
  /** The API version from the `/vX.Y/` prefix, or DOCKER_API_VERSION. */
  apiVersion: string;
  /** A child logger carrying the method and path. */
  logger: Logger;
  /** True when the client asked to take the connection over (`Connection: Upgrade`, `Upgrade: tcp`). */
  upgrade: boolean;
  /**
   * The body parsed as a JSON object; `{}` for an empty body. DockerError 400
   * for malformed JSON or a body that is not an object, 413 over the body cap.
   * Reads the body once; later calls answer the same value.
   */
  readJson<T = unknown>(): Promise<T>;
  /** Writes value as JSON with status (no body for 204/304 or undefined). */
  json(status: number, value?: unknown): void;
  /**
   * Takes the connection over for a raw stream (attach, exec start): for an
   * upgrade request writes `101 UPGRADED` and answers the socket itself
   * (stdin readable, output writable; any body is consumed first); otherwise
   * writes `200` with contentType and answers a stream whose writes are the
   * response body and whose readable side is already ended.
   */
  hijack(contentType: string): Promise<Duplex>;
}

/** One endpoint: `{x}` matches one path segment, `{x:*}` one or more (image names with slashes). */
export interface DockerRoute {
  method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'DELETE';
  /** For example `/containers/{id}/json` or `/images/{name:*}/json`; without the `/vX.Y` prefix. */
  path: string;
  handle(ctx: DockerContext): Promise<void>;
}

/** What {@link DockerRouter.match} found. */
export type RouteMatch =
  | { kind: 'found'; route: DockerRoute; params: Record<string, string>; apiVersion: string }
  | { kind: 'not-found' };

/** Finds the route for a request. */
export interface DockerRouter {
  /**
   * The route for method and the raw (still percent-encoded) path without
   * query. DockerError 400 for an API version outside
   * [DOCKER_MIN_API_VERSION, DOCKER_API_VERSION] or a malformed escape in a
   * parameter.
   */
  match(method: string, rawPath: string): RouteMatch;
}

interface CompiledRoute {
  route: DockerRoute;
  pattern: RegExp;
  names: string[];
  rank: number;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function compile(route: DockerRoute): CompiledRoute {
  if (!route.path.startsWith('/')) throw new Error(`Docker route path ${route.path} must start with /`);
  const names: string[] = [];
  let rank = 0;
  const source = route.path.replace(/\{([A-Za-z_][A-Za-z0-9_]*)(:\*)?\}|[^{]+/g, (part, name: string | undefined, rest: string | undefined) => {
    if (name === undefined) return escapeRegExp(part);
    names.push(name);
    rank = Math.max(rank, rest ? 2 : 1);
    return rest ? '(.+?)' : '([^/]+)';
  });
  return { route, pattern: new RegExp(`^${source}$`), names, rank };
}

function versionNumber(version: string): [number, number] {
  const [major, minor] = version.split('.').map(Number);
  return [major ?? 0, minor ?? 0];
}

/** Compares two `X.Y` API versions: negative when a < b, 0 when equal, positive when a > b. */
export function compareApiVersions(a: string, b: string): number {
  const [amaj, amin] = versionNumber(a);
  const [bmaj, bmin] = versionNumber(b);
  return amaj !== bmaj ? amaj - bmaj : amin - bmin;
}

function checkVersion(version: string): void {
  if (compareApiVersions(version, DOCKER_API_VERSION) > 0) {
    throw dockerError(400, `client version ${version} is too new. Maximum supported API version is ${DOCKER_API_VERSION}`);
  }
  if (compareApiVersions(version, DOCKER_MIN_API_VERSION) < 0) {
    throw dockerError(
      400,
      `client version ${version} is too old. Minimum supported API version is ${DOCKER_MIN_API_VERSION}, please upgrade your client to a newer version`,
    );
  }
}

function decode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    throw dockerError(400, `malformed percent-encoding in request path segment ${JSON.stringify(value)}`);
  }
}

/**
 * A router over routes: literal paths win over `{x}` parameters, which win
 * over `{x:*}`; among equals, the first listed wins. Paths may carry a
 * `/vX.Y` prefix (the request's API version) or none (DOCKER_API_VERSION).
 * Throws (a programming error) for a route path not starting with `/`.
 */
export function createDockerRouter(routes: readonly DockerRoute[]): DockerRouter {
  const compiled = routes.map(compile).sort((a, b) => a.rank - b.rank);
  return {
    match(method, rawPath) {
      let path = rawPath;
      let apiVersion = DOCKER_API_VERSION;
      const versioned = /^\/v(\d+\.\d+)(\/.*)$/.exec(rawPath);
      if (versioned) {
        apiVersion = versioned[1] as string;
        path = versioned[2] as string;
        checkVersion(apiVersion);
      }
      if (path.length > 1 && path.endsWith('/')) path = path.slice(0, -1);
      for (const c of compiled) {
        if (c.route.method !== method) continue;
        const m = c.pattern.exec(path);
        if (!m) continue;
        const params: Record<string, string> = {};
        c.names.forEach((name, i) => {
          params[name] = decode(m[i + 1] as string);
        });
        return { kind: 'found', route: c.route, params, apiVersion };
      }
      return { kind: 'not-found' };
    },
  };
}
