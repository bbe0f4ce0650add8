import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { unavailable } from '@strata/kit';
import { freePort, startProcess, tempDir, waitFor, type TestProcess } from '@strata/kit/testing';
import type { BasicCredentials } from './push.js';

/** The distribution registry binary of Debian's docker-registry package. */
export const DOCKER_REGISTRY_BINARY = '/usr/bin/docker-registry';

/** Settings of {@link startDistributionRegistry}. */
export interface DistributionRegistryOptions {
  /** `none` (default) or `htpasswd`: HTTP basic auth with credentials. */
  auth?: 'none' | 'htpasswd';
  /** The one user of htpasswd auth; `strata` and a random password by default. */
  credentials?: BasicCredentials;
  /** Port on 127.0.0.1; a free one by default. */
  port?: number;
  /** Allow DELETE of manifests and blobs; true by default. */
  deleteEnabled?: boolean;
  /** The registry binary; {@link DOCKER_REGISTRY_BINARY} by default. */
  binary?: string;
}

/** One request as the registry's access log recorded it. */
export interface RegistryRequest {
  method: string;
  /** The path without the query, e.g. `/v2/busybox/blobs/sha256:…`. */
  path: string;
  /** The query string without `?`; empty when there was none. */
  query: string;
  status: number;
  /** Response body bytes. */
  bytes: number;
  userAgent: string;
}

/** A running distribution registry started for a test. */
export interface TestDistributionRegistry {
  /** `http://127.0.0.1:<port>`. */
  readonly url: string;
  /** `127.0.0.1:<port>`, for image references (`${host}/busybox:latest`). */
  readonly host: string;
  readonly port: number;
  /** The temporary directory of its config, htpasswd file and storage; removed by stop(). */
  readonly rootDir: string;
  /** The storage root (`<rootDir>/storage`). */
  readonly storageDir: string;
  /** The user of htpasswd auth, undefined without auth. */
  readonly credentials: BasicCredentials | undefined;
  /** The current registry process id (changes on restart). */
  pid(): number;
  /**
   * The requests logged so far, oldest first, across restarts. A request's
   * line is written after its response, so call {@link settleRequestLog}
   * before counting requests that just finished.
   */
  requestLog(): RegistryRequest[];
  /** Waits until every request answered before this call is in requestLog(), by sending a marker request. */
  settleRequestLog(): Promise<void>;
  /** Forgets the requests logged so far. */
  clearRequestLog(): void;
  /**
   * Ends the registry and starts it again on the same port and storage,
   * running whileDown (if given) in between, when nothing listens: for
   * "upstream down" tests.
   */
  restart(whileDown?: () => void | Promise<void>): Promise<void>;
  /** Ends the registry by its pid and removes rootDir. Idempotent. */
  stop(): Promise<void>;
}

const ACCESS_LINE = /^\S+ \S+ \S+ \[[^\]]*\] "(\S+) (\S+) [^"]*" (\d{3}) (\d+|-) "[^"]*" "([^"]*)"/;
const MARKER = 'strata-log-marker';
const BCRYPT_ALPHABET = './ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** Parses one line of the registry's access log (Apache combined format); undefined for other lines. */
export function parseAccessLogLine(line: string): RegistryRequest | undefined {
  const m = ACCESS_LINE.exec(line);
  if (m === null) return undefined;
  const [, method = '', target = '', status = '0', bytes = '-', userAgent = ''] = m;
  const q = target.indexOf('?');
  return {
    method,
    path: q === -1 ? target : target.slice(0, q),
    query: q === -1 ? '' : target.slice(q + 1),
    status: Number(status),
    bytes: bytes === '-' ? 0 : Number(bytes),
    userAgent,
  };
}

/**
 * A bcrypt hash of password (cost 5, `$2y$`) as htpasswd writes it, made by
 * the C library's crypt() through perl (perl-base is in every Debian).
 * Raises Unavailable when that crypt() lacks bcrypt.
 */
export async function bcryptHash(password: string): Promise<string> {
  const salt = Array.from(randomBytes(21), (b) => BCRYPT_ALPHABET[b % 64]).join('') + '.Oeu'[randomBytes(1)[0]! % 4];
  const setting = `$2y$05$${salt}`;
  const hash = await new Promise<string>((resolve, reject) => {
    const child = execFile('perl', ['-e', 'my $p = <STDIN>; chomp $p; print crypt($p, $ARGV[0]) // ""', setting], (err, stdout) =>
      err === null ? resolve(stdout) : reject(err),
    );
    child.stdin?.end(`${password}\n`);
  }).catch((cause: unknown) => {
    throw unavailable(`cannot hash a password for htpasswd: perl failed (${(cause as Error).message})`, { cause });
  });
  if (!hash.startsWith('$2y$05$') || hash.length !== 60) {
    throw unavailable(`cannot hash a password for htpasswd: this system's crypt() has no bcrypt (got ${JSON.stringify(hash)})`);
  }
  return hash;
}

function configYaml(rootDir: string, port: number, options: DistributionRegistryOptions): string {
  const q = (s: string) => JSON.stringify(s);
  const lines = [
    'version: 0.1',
    'log:',
    '  level: warn',
    '  formatter: json',
    '  accesslog:',
    '    disabled: false',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${q(join(rootDir, 'storage'))}`,
    '  delete:',
    `    enabled: ${options.deleteEnabled ?? true}`,
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: false',
    'http:',
    `  addr: ${q(`127.0.0.1:${port}`)}`,
    `  secret: ${q(randomBytes(16).toString('hex'))}`,
  ];
  if (options.auth === 'htpasswd') {
    lines.push('auth:', '  htpasswd:', '    realm: strata-test', `    path: ${q(join(rootDir, 'htpasswd'))}`);
  }
  return `${lines.join('\n')}\n`;
}

async function answers(url: string): Promise<boolean> {
  const response = await fetch(`${url}/v2/`, { signal: AbortSignal.timeout(1000) });
  await response.arrayBuffer();
  return response.status === 200 || response.status === 401;
}

/**
 * Starts Debian's distribution registry (`docker-registry serve CONFIG`) on
 * 127.0.0.1 with its own temporary storage and a generated config: log
 * level warn, JSON application logs, the access log on stdout (parsed into
 * requestLog(), so tests can count upstream requests), deletes enabled, and
 * optionally htpasswd basic auth. Resolves once `GET /v2/` answers. Raises
 * an Error with the registry's output when it exits or does not answer in
 * time, and Unavailable when htpasswd auth cannot hash its password;
 * nothing is left behind then.
 */
export async function startDistributionRegistry(options: DistributionRegistryOptions = {}): Promise<TestDistributionRegistry> {
  const root = tempDir('strata-registry-');
  const binary = options.binary ?? DOCKER_REGISTRY_BINARY;
  const log: RegistryRequest[] = [];
  let proc: TestProcess | undefined;
  let stopped = false;
  let markers = 0;
  const credentials =
    options.auth === 'htpasswd' ? (options.credentials ?? { username: 'strata', password: randomBytes(12).toString('hex') }) : undefined;

  const launch = async (port: number, url: string): Promise<TestProcess> => {
    const started = startProcess(binary, ['serve', join(root.path, 'config.yml')]);
    let partial = '';
    started.child.stdout?.on('data', (chunk: Buffer) => {
      const lines = (partial + chunk.toString('utf8')).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        const request = parseAccessLogLine(line);
        if (request !== undefined) log.push(request);
      }
    });
    const exitedEarly = started.exited.then((code) => {
      throw new Error(`docker-registry on port ${port} exited (${code}) before it answered:\n${started.output()}`);
    });
    try {
      await Promise.race([waitFor(() => answers(url), () => `docker-registry on port ${port} to answer GET /v2/:\n${started.output()}`), exitedEarly]);
    } catch (err) {
      await started.stop('SIGKILL');
      throw err;
    } finally {
      exitedEarly.catch(() => undefined);
    }
    return started;
  };

  let port: number;
  try {
    port = options.port ?? (await freePort());
    mkdirSync(join(root.path, 'storage'), { mode: 0o700 });
    if (credentials !== undefined) {
      writeFileSync(join(root.path, 'htpasswd'), `${credentials.username}:${await bcryptHash(credentials.password)}\n`, { mode: 0o600 });
    }
    writeFileSync(join(root.path, 'config.yml'), configYaml(root.path, port, options), { mode: 0o600 });
    proc = await launch(port, `http://127.0.0.1:${port}`);
  } catch (err) {
    root.remove();
    throw err;
  }
  const url = `http://127.0.0.1:${port}`;
  let current: TestProcess = proc;

  return {
    url,
    host: `127.0.0.1:${port}`,
    port,
    rootDir: root.path,
    storageDir: join(root.path, 'storage'),
    credentials,
    pid: () => current.pid,
    requestLog: () => log.filter((r) => !r.query.startsWith(MARKER)),
    clearRequestLog: () => {
      log.length = 0;
    },
    async settleRequestLog() {
      const marker = `${MARKER}=${++markers}`;
      const response = await fetch(`${url}/v2/?${marker}`);
      await response.arrayBuffer();
      await waitFor(
        () => log.some((r) => r.query === marker),
        () => `the registry's access log to show the request /v2/?${marker}`,
        5000,
        10,
      );
    },
    async restart(whileDown) {
      if (stopped) throw new Error(`docker-registry on port ${port} was stopped; start a new one`);
      await current.stop();
      try {
        await whileDown?.();
      } finally {
        current = await launch(port, url);
      }
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await current.stop();
      root.remove();
    },
  };
}
