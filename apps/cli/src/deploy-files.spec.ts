// Checks the deployment files without a cluster or a systemd boot:
// deploy/kubernetes against the Kubernetes API schemas (kubernetes-models),
// rendered by `kubectl kustomize` with certificates from make-certs.sh, and
// for what schemas cannot see (selectors, references, host namespaces,
// mutual TLS); deploy/systemd with `systemd-analyze verify`; and that every
// flag and STRATA_* variable given to a Strata service, here and in
// docker-compose.yml, is a setting of that service (read from its --help,
// which prints describeConfig of its config spec).
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { DaemonSet, Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { ConfigMap, Namespace, Secret, Service, type IContainer, type IPodSpec, type IPodTemplateSpec } from 'kubernetes-models/v1';
import { parse, parseAllDocuments } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { NODE_AGENT_NODE_FLAGS } from './stack/services.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const run = promisify(execFile);
const SERVICES = ['layer-store', 'registry-mirror', 'snapshotter', 'node-agent'] as const;
type App = (typeof SERVICES)[number];

/** The settings of an app: flag names (without --) and STRATA_* environment variables. */
interface Settings {
  flags: Set<string>;
  env: Set<string>;
}

/** Reads an app's settings from the describeConfig lines of its --help: `  --flag (env NAME) [default: …]`. */
async function readSettings(app: App): Promise<Settings> {
  const { stdout } = await run(process.execPath, [join(root, 'apps', app, 'bin', `${app}.mjs`), '--help'], { cwd: root });
  const lines = [...stdout.matchAll(/^ {2}--([a-z0-9-]+)(?: \(env ([A-Z0-9_]+)\))?/gm)];
  return { flags: new Set(['config', ...lines.map((m) => m[1]!)]), env: new Set(lines.flatMap((m) => (m[2] ? [m[2]] : []))) };
}

const settings = new Map<App, Settings>();
beforeAll(async () => {
  for (const [app, s] of await Promise.all(SERVICES.map(async (app) => [app, await readSettings(app)] as const))) settings.set(app, s);
  expect(settings.get('node-agent')!.flags).toContain('snapshotter-socket');
});

/** The flags of args that are not settings of app, and flags given without a value. */
function badFlags(app: App, args: readonly string[]): string[] {
  const known = settings.get(app)!.flags;
  const bad: string[] = [];
  args.forEach((arg, i) => {
    if (!arg.startsWith('--')) return;
    const [name, inline] = arg.slice(2).split('=', 2) as [string, string | undefined];
    if (!known.has(name)) bad.push(`${arg}: not a setting of ${app}`);
    else if (inline === undefined && (args[i + 1] === undefined || args[i + 1]!.startsWith('--'))) bad.push(`${arg}: no value`);
  });
  return bad;
}

/** The STRATA_* names among names that are not environment variables of app's settings. */
function badEnv(app: App, names: readonly string[]): string[] {
  const known = settings.get(app)!.env;
  return names.filter((n) => n.startsWith('STRATA_') && !known.has(n)).map((n) => `${n}: not a variable of ${app}`);
}

const LOADERS: Record<App, string> = {
  'layer-store': 'loadLayerStoreConfig',
  'registry-mirror': 'loadRegistryMirrorConfig',
  snapshotter: 'loadSnapshotterConfig',
  'node-agent': 'loadNodeAgentConfig',
};

/** How a service is started: its flags and environment. */
interface Invocation {
  where: string;
  app: App;
  argv: string[];
  env: Record<string, string>;
}

/**
 * Loads each invocation's configuration with the app's own loader (in a
 * child process, since apps are not imported across projects) and returns
 * `where: message` for each that the loader refuses.
 */
async function refusedByLoaders(invocations: readonly Invocation[]): Promise<string[]> {
  const script = `
    const cases = JSON.parse(process.argv[1]);
    const loaders = JSON.parse(process.argv[2]);
    const refused = [];
    for (const c of cases) {
      const config = await import(${JSON.stringify(root)} + 'apps/' + c.app + '/src/config.ts');
      try { config[loaders[c.app]](c.argv, c.env); } catch (err) { refused.push(c.where + ': ' + err.message); }
    }
    process.stdout.write(JSON.stringify(refused));`;
  const { stdout } = await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, JSON.stringify(invocations), JSON.stringify(LOADERS)], {
    cwd: root,
  });
  return JSON.parse(stdout) as string[];
}

function appOfImage(image: string | undefined): App | undefined {
  const m = /^strata\/([a-z-]+):[\w.-]+$/.exec(image ?? '');
  return SERVICES.find((s) => s === m?.[1]);
}

// ---------------------------------------------------------------- Kubernetes

const k8sDir = join(root, 'deploy/kubernetes');

interface Kustomization {
  namespace: string;
  resources: string[];
  secretGenerator?: Array<{ name: string; type?: string; files: string[] }>;
}

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [key: string]: unknown;
}

type Workload = K8sObject & {
  spec: { selector: { matchLabels: Record<string, string> }; template: IPodTemplateSpec; serviceName?: string; replicas?: number };
};
type ServiceObject = K8sObject & {
  spec: { clusterIP?: string; selector: Record<string, string>; ports: Array<{ name: string; port: number; targetPort: string | number }> };
};

const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  'v1/Namespace': Namespace,
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'apps/v1/Deployment': Deployment,
  'apps/v1/StatefulSet': StatefulSet,
  'apps/v1/DaemonSet': DaemonSet,
};
const WORKLOADS = ['Deployment', 'StatefulSet', 'DaemonSet'];

function parseDocuments(text: string, where: string): K8sObject[] {
  return parseAllDocuments(text).map((doc) => {
    if (doc.errors.length > 0) throw new Error(`${where}: ${doc.errors[0]!.message}`);
    return doc.toJS() as K8sObject;
  });
}

const kustomization = parse(readFileSync(join(k8sDir, 'kustomization.yaml'), 'utf8')) as Kustomization;
const objects = kustomization.resources.flatMap((file) => parseDocuments(readFileSync(join(k8sDir, file), 'utf8'), file));
const named = (kind: string) => objects.filter((o) => o.kind === kind);
const workloads = objects.filter((o) => WORKLOADS.includes(o.kind)) as Workload[];
const services = named('Service') as ServiceObject[];
const workload = (name: string) => workloads.find((w) => w.metadata.name === name)!;
const podSpec = (name: string) => workload(name).spec.template.spec!;
const container = (spec: IPodSpec, name: string) => spec.containers.find((c) => c.name === name)!;
const argValue = (c: IContainer, flag: string) => c.args![c.args!.indexOf(flag) + 1];

/** The errors of a set of manifests that a schema cannot see. */
function referenceErrors(set: readonly K8sObject[], generatedSecrets: readonly string[]): string[] {
  const errors: string[] = [];
  const names = (kind: string) => new Set(set.filter((o) => o.kind === kind).map((o) => o.metadata.name));
  const configMaps = names('ConfigMap');
  const secrets = new Set([...names('Secret'), ...generatedSecrets]);
  const headless = new Set((set.filter((o) => o.kind === 'Service') as ServiceObject[]).filter((s) => s.spec.clusterIP === 'None').map((s) => s.metadata.name));
  for (const w of set.filter((o) => WORKLOADS.includes(o.kind)) as Workload[]) {
    const where = `${w.kind} ${w.metadata.name}`;
    const spec = w.spec.template.spec!;
    const volumes = new Set([...(spec.volumes ?? []).map((v) => v.name), ...((w.spec as { volumeClaimTemplates?: K8sObject[] }).volumeClaimTemplates ?? []).map((v) => v.metadata.name)]);
    for (const v of spec.volumes ?? []) {
      if (v.configMap && !configMaps.has(v.configMap.name!)) errors.push(`${where}: volume ${v.name} names ConfigMap ${v.configMap.name}, not in the set`);
      if (v.secret && !secrets.has(v.secret.secretName!)) errors.push(`${where}: volume ${v.name} names Secret ${v.secret.secretName}, not in the set`);
    }
    if (w.kind === 'StatefulSet' && !headless.has(w.spec.serviceName!)) errors.push(`${where}: serviceName ${w.spec.serviceName} is no headless Service of the set`);
    for (const c of [...spec.containers, ...(spec.initContainers ?? [])]) {
      for (const m of c.volumeMounts ?? []) if (!volumes.has(m.name)) errors.push(`${where}/${c.name}: mounts volume ${m.name}, not declared`);
      for (const e of c.env ?? []) {
        const ref = e.valueFrom?.secretKeyRef?.name ?? e.valueFrom?.configMapKeyRef?.name;
        if (e.valueFrom?.secretKeyRef && !secrets.has(ref!)) errors.push(`${where}/${c.name}: env ${e.name} names Secret ${ref}, not in the set`);
        if (e.valueFrom?.configMapKeyRef && !configMaps.has(ref!)) errors.push(`${where}/${c.name}: env ${e.name} names ConfigMap ${ref}, not in the set`);
      }
    }
  }
  return errors;
}

/** The Secret keys that secret (a Secret object or a secretGenerator entry) provides. */
function generatedKeys(name: string): string[] {
  const generator = kustomization.secretGenerator?.find((g) => g.name === name);
  return (generator?.files ?? []).map((f) => f.split('=')[0]!);
}

describe('deploy/kubernetes', () => {
  it('lists every manifest of the directory in kustomization.yaml, all in namespace strata', () => {
    const files = readdirSync(k8sDir).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml');
    expect([...kustomization.resources].sort()).toEqual(files.sort());
    expect(kustomization.namespace).toBe('strata');
    for (const o of objects) if (o.kind !== 'Namespace') expect(o.metadata.namespace, `${o.kind} ${o.metadata.name}`).toBe('strata');
    const ids = objects.map((o) => `${o.kind}/${o.metadata.name}`);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it.each(objects.map((o) => [`${o.kind} ${o.metadata.name}`, o] as const))('%s is valid under the Kubernetes API schema', (_name, o) => {
    const Model = MODELS[`${o.apiVersion}/${o.kind}`];
    expect(Model, `${o.apiVersion} ${o.kind} is a kind this set uses`).toBeDefined();
    expect(() => new Model!(o as never).validate()).not.toThrow();
  });

  it('rejects what the schema check is for (a port as a string, a container without a name)', () => {
    const broken = structuredClone(workload('strata-layer-store')) as Workload;
    broken.spec.template.spec!.containers[0]!.ports = [{ containerPort: '7443' as unknown as number }];
    expect(() => new Deployment(broken as never).validate()).toThrow(/containerPort must be integer/);
    delete (broken.spec.template.spec!.containers[0] as { name?: string }).name;
    expect(() => new Deployment(broken as never).validate()).toThrow(/containers\/0 must have required property name/);
  });

  it('selects pods by labels they carry, and every Service selects pods with the ports it targets', () => {
    for (const w of workloads) {
      expect(w.spec.template.metadata?.labels, `${w.kind} ${w.metadata.name}`).toMatchObject(w.spec.selector.matchLabels);
    }
    for (const s of services) {
      const pods = workloads.filter((w) => Object.entries(s.spec.selector).every(([k, v]) => w.spec.template.metadata?.labels?.[k] === v));
      expect(pods.length, `Service ${s.metadata.name} selects a workload`).toBe(1);
      const ports = pods[0]!.spec.template.spec!.containers.flatMap((c) => c.ports ?? []);
      for (const p of s.spec.ports) {
        expect(ports.map((cp) => (typeof p.targetPort === 'string' ? cp.name : cp.containerPort)), `Service ${s.metadata.name} port ${p.name}`).toContain(p.targetPort);
      }
    }
  });

  it('refers only to ConfigMaps, Secrets, headless Services and volumes of the set', () => {
    expect(referenceErrors(objects, (kustomization.secretGenerator ?? []).map((g) => g.name))).toEqual([]);
    expect(referenceErrors(objects, [])).toEqual(['Deployment strata-layer-store: volume tls names Secret strata-layer-store-tls, not in the set']);
  });

  it("runs Strata images with flags and STRATA_ variables of their apps' configurations", () => {
    const strata = workloads.flatMap((w) => w.spec.template.spec!.containers.map((c) => [`${w.metadata.name}/${c.name}`, c] as const));
    const apps = new Set<App>();
    for (const [where, c] of strata) {
      if (c.image?.startsWith('strata/') !== true) continue;
      const app = appOfImage(c.image);
      expect(app, `${where}: ${c.image} is strata/<app>:<tag>`).toBeDefined();
      apps.add(app!);
      expect(c.name, where).toBe(app);
      expect(badFlags(app!, c.args ?? []), where).toEqual([]);
      expect(badEnv(app!, (c.env ?? []).map((e) => e.name)), where).toEqual([]);
    }
    expect([...apps].sort()).toEqual([...SERVICES].sort());
  });

  it.skipIf(!existsSync('/usr/bin/openssl'))("gives each Strata container arguments and environment that its app's configuration loader accepts", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'strata-k8s-load-'));
    try {
      await run('bash', [join(k8sDir, 'make-certs.sh'), dir]);
      const invocations: Invocation[] = [];
      for (const w of workloads) {
        const spec = w.spec.template.spec!;
        for (const c of spec.containers.filter((c) => appOfImage(c.image) !== undefined)) {
          // Files of mounted Secrets are read at start: point their mount at certificates make-certs.sh issued.
          const secretMounts = (c.volumeMounts ?? []).filter((m) => spec.volumes?.find((v) => v.name === m.name)?.secret).map((m) => `${m.mountPath}/`);
          const fromSecret = (arg: string) => secretMounts.find((p) => arg.startsWith(p));
          const files: Record<string, string> = { 'tls.crt': 'layer-store.crt', 'tls.key': 'layer-store.key', 'ca.crt': 'ca.crt' };
          const argv = (c.args ?? []).map((a) => (fromSecret(a) ? join(dir, files[a.slice(fromSecret(a)!.length)] ?? 'missing') : a));
          const env = Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value ?? `from-${Object.keys(e.valueFrom ?? {})[0]}`]));
          invocations.push({ where: `${w.metadata.name}/${c.name}`, app: appOfImage(c.image)!, argv, env });
        }
      }
      expect(invocations.length).toBe(7);
      expect(await refusedByLoaders(invocations)).toEqual([]);
      const [store] = invocations;
      expect(await refusedByLoaders([{ ...store!, argv: [...store!.argv, '--tls-ca', '/nonexistent.pem'] }])).toEqual([
        `${store!.where}: config tls-ca: cannot read /nonexistent.pem: ENOENT: no such file or directory, open '/nonexistent.pem'`,
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('runs NATS as a 3-node JetStream cluster whose routes name every pod through the headless Service', async () => {
    const nats = workload('strata-nats');
    expect([nats.kind, nats.spec.replicas, nats.spec.serviceName]).toEqual(['StatefulSet', 3, 'strata-nats-headless']);
    const config = (named('ConfigMap').find((c) => c.metadata.name === 'strata-nats-config') as K8sObject & { data: Record<string, string> }).data['nats.conf']!;
    expect(config).toMatch(/jetstream \{[^}]*store_dir: \/data\/jetstream/);
    const routes = [...config.matchAll(/nats:\/\/([a-z0-9-]+)\.strata-nats-headless\.strata\.svc\.cluster\.local:6222/g)].map((m) => m[1]);
    expect(routes).toEqual(['strata-nats-0', 'strata-nats-1', 'strata-nats-2']);
    const c = container(nats.spec.template.spec!, 'nats');
    expect(c.args).toEqual(['-c', '/etc/nats/nats.conf']);
    expect(c.volumeMounts).toContainEqual({ name: 'config', mountPath: '/etc/nats', readOnly: true });
    expect(c.env?.find((e) => e.name === 'POD_NAME')?.valueFrom?.fieldRef?.fieldPath).toBe('metadata.name');
  });

  it.skipIf(!existsSync('/usr/sbin/nats-server'))('has a NATS configuration that nats-server -t accepts', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'strata-nats-conf-'));
    try {
      const data = (named('ConfigMap')[0] as K8sObject & { data: Record<string, string> }).data;
      const file = join(dir, 'nats.conf');
      await import('node:fs/promises').then((fs) => fs.writeFile(file, data['nats.conf']!));
      const { stdout, stderr } = await run('/usr/sbin/nats-server', ['-t', '-c', file], { env: { POD_NAME: 'strata-nats-0' } });
      expect(stdout + stderr).toContain('is valid');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('runs MinIO distributed over 4 pods that its server arguments name', () => {
    const minio = workload('strata-minio');
    expect([minio.kind, minio.spec.replicas, minio.spec.serviceName]).toEqual(['StatefulSet', 4, 'strata-minio-headless']);
    const args = container(minio.spec.template.spec!, 'minio').args!;
    expect(args[0]).toBe('server');
    const m = /^http:\/\/strata-minio-\{0\.\.\.(\d+)\}\.strata-minio-headless\.strata\.svc\.cluster\.local\/data$/.exec(args[1]!);
    expect(Number(m?.[1]) + 1).toBe(minio.spec.replicas);
    expect((minio.spec as { podManagementPolicy?: string }).podManagementPolicy).toBe('Parallel');
  });

  it('serves the layer-store on TCP only with mutual TLS from a mounted Secret, its blobs in MinIO', () => {
    const spec = podSpec('strata-layer-store');
    const c = container(spec, 'layer-store');
    expect(workload('strata-layer-store').kind).toBe('Deployment');
    expect([argValue(c, '--backend'), argValue(c, '--s3-endpoint'), argValue(c, '--tcp-listen')]).toEqual(['s3', 'http://strata-minio:9000', '0.0.0.0:7443']);
    const mount = c.volumeMounts!.find((m) => m.name === 'tls')!;
    const secret = spec.volumes!.find((v) => v.name === 'tls')!.secret!.secretName!;
    const files = { '--tls-cert': 'tls.crt', '--tls-key': 'tls.key', '--tls-ca': 'ca.crt' };
    for (const [flag, key] of Object.entries(files)) expect(argValue(c, flag), flag).toBe(`${mount.mountPath}/${key}`);
    expect(generatedKeys(secret).sort()).toEqual(Object.values(files).sort());
    expect(spec.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000, fsGroup: 1000 });
    expect(services.find((s) => s.metadata.name === 'strata-layer-store')!.spec.ports).toEqual([{ name: 'grpc-mtls', port: 7443, targetPort: 'grpc-mtls' }]);
  });

  it('runs the registry-mirror as a Deployment with a layer-store on the same bucket beside it, sharing the socket directory', () => {
    const spec = podSpec('strata-registry-mirror');
    expect(workload('strata-registry-mirror').kind).toBe('Deployment');
    const mirror = container(spec, 'registry-mirror');
    const store = container(spec, 'layer-store');
    expect([argValue(store, '--backend'), argValue(store, '--s3-bucket')]).toEqual(['s3', argValue(container(podSpec('strata-layer-store'), 'layer-store'), '--s3-bucket')]);
    expect(store.args).not.toContain('--tcp-listen');
    const runVolume = (c: IContainer) => c.volumeMounts!.find((m) => m.mountPath === '/run/strata')?.name;
    expect(runVolume(mirror)).toBe('run');
    expect(runVolume(store)).toBe('run');
    expect(argValue(mirror, '--layer-store-data-socket')).toBe('/run/strata/layer-store.data.sock');
  });

  it("runs the snapshotter and node-agent privileged in a DaemonSet in the host's network and pid namespaces, on the host's /run/strata and /var/lib/strata", () => {
    const node = workload('strata-node');
    const spec = node.spec.template.spec!;
    expect([node.kind, spec.hostNetwork, spec.hostPID, spec.dnsPolicy]).toEqual(['DaemonSet', true, true, 'ClusterFirstWithHostNet']);
    const hostPath = (volume: string) => spec.volumes!.find((v) => v.name === volume)?.hostPath?.path;
    for (const name of ['snapshotter', 'node-agent']) {
      const c = container(spec, name);
      expect(c.securityContext, name).toMatchObject({ privileged: true, runAsUser: 0 });
      const state = c.volumeMounts!.find((m) => m.mountPath === '/var/lib/strata')!;
      expect([hostPath(state.name), state.mountPropagation], name).toEqual(['/var/lib/strata', 'Bidirectional']);
      expect(hostPath(c.volumeMounts!.find((m) => m.mountPath === '/run/strata')!.name), name).toBe('/run/strata');
    }
    const agent = container(spec, 'node-agent');
    expect(agent.env?.find((e) => e.name === 'NODE_OPTIONS')?.value).toBe(NODE_AGENT_NODE_FLAGS.join(' '));
    const mounts = Object.fromEntries(agent.volumeMounts!.map((m) => [m.mountPath, hostPath(m.name)]));
    expect(mounts).toMatchObject({
      '/run/netns': '/run/netns',
      '/sys/fs/cgroup': '/sys/fs/cgroup',
      '/run/xtables.lock': '/run/xtables.lock',
      [argValue(agent, '--runc-root')!]: '/run/strata-runc',
    });
    for (const name of ['layer-store', 'registry-mirror']) {
      expect(container(spec, name).securityContext, name).toMatchObject({ allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
    }
    expect(argValue(container(spec, 'registry-mirror'), '--listen')).toBe('127.0.0.1:5050');
  });

  it('names only Services of the set in the URLs it gives the services', () => {
    const hosts = new Set(services.flatMap((s) => [s.metadata.name, `${s.metadata.name}.strata.svc.cluster.local`]));
    const urls = workloads.flatMap((w) =>
      w.spec.template.spec!.containers.flatMap((c) => [...(c.args ?? []), ...(c.env ?? []).map((e) => e.value ?? '')]),
    );
    const named = urls.flatMap((u) => [...u.matchAll(/^(?:nats|https?):\/\/([a-z0-9.-]+):\d+/g)].map((m) => m[1]!));
    expect(named.length).toBeGreaterThan(0);
    expect(named.filter((h) => !hosts.has(h))).toEqual([]);
  });

  const tools = ['/usr/bin/openssl', '/usr/bin/kubectl'].every((p) => existsSync(p));
  it.skipIf(!tools)('renders with `kubectl kustomize` once make-certs.sh has issued certificates that openssl verifies', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'strata-k8s-'));
    try {
      cpSync(k8sDir, dir, { recursive: true, filter: (src) => !src.startsWith(join(k8sDir, 'tls') + '/') });
      await run('bash', [join(dir, 'make-certs.sh')]);
      const tls = join(dir, 'tls');
      const verified = await run('openssl', ['verify', '-CAfile', join(tls, 'ca.crt'), join(tls, 'layer-store.crt'), join(tls, 'client.crt')]);
      expect(verified.stdout).toBe(`${join(tls, 'layer-store.crt')}: OK\n${join(tls, 'client.crt')}: OK\n`);
      const text = await run('openssl', ['x509', '-noout', '-ext', 'subjectAltName,extendedKeyUsage', '-in', join(tls, 'layer-store.crt')]);
      expect(text.stdout).toContain('DNS:strata-layer-store.strata.svc.cluster.local');
      expect(text.stdout).toContain('TLS Web Server Authentication');

      const { stdout } = await run('/usr/bin/kubectl', ['kustomize', dir]);
      // kustomize wraps base64 at 76 columns, which the API server's decoder skips and the schema's "byte" format does not.
      const rendered = parseDocuments(stdout, 'kubectl kustomize').map((o) =>
        o.kind === 'Secret' && o.data !== undefined ? { ...o, data: Object.fromEntries(Object.entries(o.data as Record<string, string>).map(([k, v]) => [k, v.replace(/\s/g, '')])) } : o,
      );
      expect(rendered.length).toBe(objects.length + 1);
      for (const o of rendered) expect(() => new MODELS[`${o.apiVersion}/${o.kind}`]!(o as never).validate(), `${o.kind} ${o.metadata.name}`).not.toThrow();
      expect(referenceErrors(rendered, [])).toEqual([]);
      const secret = rendered.find((o) => o.kind === 'Secret' && o.metadata.name === 'strata-layer-store-tls') as K8sObject & { type: string; data: Record<string, string> };
      expect(secret.type).toBe('kubernetes.io/tls');
      expect(Buffer.from(secret.data['ca.crt']!, 'base64').toString()).toBe(readFileSync(join(tls, 'ca.crt'), 'utf8'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// ---------------------------------------------------------------- systemd

const unitDir = join(root, 'deploy/systemd');
const units = readdirSync(unitDir).filter((f) => f.endsWith('.service')).sort();

/** A unit file as section → key → values (keys may repeat). */
function readUnit(file: string): Record<string, Record<string, string[]>> {
  const unit: Record<string, Record<string, string[]>> = {};
  let section = '';
  for (const line of readFileSync(join(unitDir, file), 'utf8').split('\n')) {
    const header = /^\[(\w+)\]$/.exec(line);
    if (header) unit[(section = header[1]!)] = {};
    else if (/^[A-Za-z]/.test(line)) {
      const [key, value] = [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)];
      ((unit[section]![key] ??= []) as string[]).push(value);
    }
  }
  return unit;
}
const words = (values: string[] | undefined) => (values ?? []).flatMap((v) => v.split(/\s+/)).filter((w) => w !== '');

/** KEY=value lines of an env file. */
function readEnv(path: string): Record<string, string> {
  return Object.fromEntries(
    readFileSync(path, 'utf8')
      .split('\n')
      .filter((l) => /^[A-Z_][A-Z0-9_]*=/.test(l))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
}

describe('deploy/systemd', () => {
  it('has a unit for NATS and each Strata service', () => {
    expect(units).toEqual(['strata-layer-store.service', 'strata-nats.service', 'strata-node-agent.service', 'strata-registry-mirror.service', 'strata-snapshotter.service']);
  });

  it.skipIf(!existsSync('/usr/bin/systemd-analyze'))('passes systemd-analyze verify', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'strata-units-'));
    try {
      for (const unit of units) cpSync(join(unitDir, unit), join(dir, unit));
      const { stdout, stderr } = await run('/usr/bin/systemd-analyze', ['verify', ...units.map((u) => join(dir, u))]);
      expect(stdout + stderr).toBe('');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('orders each service after what it calls, requiring only what it cannot work without (NATS is wanted, never required)', () => {
    const deps = Object.fromEntries(units.map((u) => [u.replace('.service', ''), readUnit(u).Unit!] as const));
    const after = (u: string) => words(deps[u]!.After);
    const requires = (u: string) => words(deps[u]!.Requires);
    expect(requires('strata-registry-mirror')).toEqual(['strata-layer-store.service']);
    expect(requires('strata-node-agent')).toEqual(['strata-snapshotter.service']);
    expect(after('strata-node-agent')).toEqual(expect.arrayContaining(['strata-nats.service', 'strata-snapshotter.service', 'strata-registry-mirror.service']));
    expect(after('strata-snapshotter')).toContain('strata-layer-store.service');
    for (const u of Object.keys(deps).filter((u) => u !== 'strata-nats')) {
      expect(after(u), u).toContain('strata-nats.service');
      expect(words(deps[u]!.Wants), u).toContain('strata-nats.service');
      expect(requires(u), u).not.toContain('strata-nats.service');
    }
  });

  it('lets containers outlive the node-agent: KillMode=process, Delegate=yes, the host mount namespace', () => {
    const service = readUnit('strata-node-agent.service').Service!;
    expect([service.KillMode, service.Delegate, service.Restart]).toEqual([['process'], ['yes'], ['always']]);
    for (const key of ['PrivateTmp', 'ProtectSystem', 'PrivateMounts', 'PrivateDevices', 'ProtectHome', 'MountFlags']) expect(service[key], key).toBeUndefined();
  });

  it.each(SERVICES.map((app) => [app] as const))('runs %s from its bin with an env file of its settings', (app) => {
    const service = readUnit(`strata-${app}.service`).Service!;
    const flags = app === 'node-agent' ? NODE_AGENT_NODE_FLAGS.map((f) => `${f} `).join('') : '';
    expect(service.ExecStart).toEqual([`/usr/bin/node ${flags}/opt/strata/apps/${app}/bin/${app}.mjs`]);
    expect(existsSync(join(root, 'apps', app, 'bin', `${app}.mjs`))).toBe(true);
    expect(service.EnvironmentFile).toEqual([`/etc/strata/${app}.env`]);
    const env = readEnv(join(unitDir, 'env', `${app}.env`));
    expect(Object.keys(env).length).toBeGreaterThan(0);
    expect(badEnv(app, Object.keys(env))).toEqual([]);
    expect(Object.keys(env).filter((k) => !k.startsWith('STRATA_'))).toEqual([]);
    expect([env.STRATA_RUN_DIR, env.STRATA_NATS_URL]).toEqual(['/run/strata', 'nats://127.0.0.1:4222']);
  });

  it("has env files that the apps' configuration loaders accept", async () => {
    const invocations = SERVICES.map((app) => ({ where: `${app}.env`, app, argv: [], env: readEnv(join(unitDir, 'env', `${app}.env`)) }));
    expect(await refusedByLoaders(invocations)).toEqual([]);
  });

  it('runs the layer-store and registry-mirror as user strata, writing only directories tmpfiles makes theirs', () => {
    const tmpfiles = readFileSync(join(unitDir, 'strata-tmpfiles.conf'), 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('d '))
      .map((l) => l.split(/\s+/));
    const dirs = Object.fromEntries(tmpfiles.map(([, path, mode, user, group]) => [path!, { mode: mode!, user: user!, group: group! }]));
    expect(readFileSync(join(unitDir, 'strata-sysusers.conf'), 'utf8')).toMatch(/^u strata /m);
    for (const app of ['layer-store', 'registry-mirror']) {
      const service = readUnit(`strata-${app}.service`).Service!;
      expect([service.User, service.Group, service.ProtectSystem], app).toEqual([['strata'], ['strata'], ['strict']]);
      for (const path of words(service.ReadWritePaths)) {
        const dir = dirs[path];
        expect(dir, `${app} writes ${path}`).toBeDefined();
        expect(dir!.user === 'strata' || dir!.group === 'strata', `${path} is writable by strata`).toBe(true);
      }
    }
    expect(dirs['/var/lib/strata/layer-store']!.mode).toBe('0700');
    expect(dirs['/run/strata']!.mode).toBe('0770');
  });

  it.skipIf(!existsSync('/usr/sbin/nats-server'))('has a NATS configuration that nats-server -t accepts: JetStream, loopback only', async () => {
    const file = join(unitDir, 'nats.conf');
    const { stdout, stderr } = await run('/usr/sbin/nats-server', ['-t', '-c', file]);
    expect(stdout + stderr).toContain('is valid');
    const text = readFileSync(file, 'utf8');
    expect(text).toMatch(/^listen: 127\.0\.0\.1:4222$/m);
    expect(text).toMatch(/store_dir: \/var\/lib\/strata-nats/);
    expect(readUnit('strata-nats.service').Service!.StateDirectory).toEqual(['strata-nats']);
  });
});

// ---------------------------------------------------------------- compose

describe('docker-compose.yml settings', () => {
  const compose = parse(readFileSync(join(root, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
    services: Record<string, { build?: { args?: { SERVICE?: string } }; command?: string[]; environment?: Record<string, string> }>;
  };

  it("gives each Strata service only flags and STRATA_ variables of its app's configuration", () => {
    const built = Object.entries(compose.services).filter(([, s]) => s.build);
    expect(built.map(([, s]) => s.build!.args!.SERVICE).sort()).toEqual([...SERVICES].sort());
    for (const [name, s] of built) {
      const app = s.build!.args!.SERVICE as App;
      expect(badFlags(app, s.command ?? []), name).toEqual([]);
      expect(badEnv(app, Object.keys(s.environment ?? {})), name).toEqual([]);
    }
  });

  it("gives each Strata service a command and environment that its app's configuration loader accepts", async () => {
    const built = Object.entries(compose.services).filter(([, s]) => s.build);
    const invocations = built.map(([name, s]) => ({
      where: name,
      app: s.build!.args!.SERVICE as App,
      argv: s.command ?? [],
      env: Object.fromEntries(Object.entries(s.environment ?? {}).map(([k, v]) => [k, v.replace(/\$\{[A-Z_]+:-([^}]*)\}/g, '$1')])),
    }));
    expect(await refusedByLoaders(invocations)).toEqual([]);
  });

  it('starts the node-agent with the Node.js flags `strata up` gives it', () => {
    expect(compose.services['node-agent']?.environment?.NODE_OPTIONS).toBe(NODE_AGENT_NODE_FLAGS.join(' '));
  });
});
