import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorKind, silentLogger } from '@strata/kit';
import { freePort, startProcess, tempDir, waitFor, type TestProcess } from '@strata/kit/testing';
import { createBridgeNetwork, type Attachment, type BridgeNetwork } from './bridge-network.js';
import { mustRun, runCommand } from './command.js';
import { networkLeftovers, uniqueNetworkNames } from './testing/index.js';

const names = uniqueNetworkNames();
const state = tempDir('strata-net-state-');
const files = tempDir('strata-net-files-');
const logger = silentLogger();
let network: BridgeNetwork = createBridgeNetwork({
  ...names,
  stateDir: state.path,
  logger,
  hostResolvConf: join(files.path, 'host-resolv.conf'),
  fallbackNameservers: ['9.9.9.9'],
});
const ids: string[] = [];
const processes: TestProcess[] = [];
const servers: Server[] = [];
/** The "outside world" for the NAT test: a netns behind its own veth. */
const outside = { ns: `stx${names.bridge.slice(3)}`, veth: `vo${names.bridge.slice(3)}`, created: false };

function newId(): string {
  const id = randomBytes(32).toString('hex');
  ids.push(id);
  return id;
}

async function failure(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a failure');
}

async function get(url: string): Promise<string> {
  const res = await fetch(url, { signal: AbortSignal.timeout(3000) });
  return res.text();
}

/** busybox httpd listens on IPv6 and shows IPv4 peers as [::ffff:a.b.c.d]. */
function peer(text: string): string {
  return text.replace(/^\[::ffff:(.*)\]$/, '$1');
}

async function nsRun(ns: string, args: string[]): Promise<string> {
  return mustRun('ip', ['netns', 'exec', ns, ...args]);
}

async function startHttpd(ns: string, port: number, home: string): Promise<TestProcess> {
  const p = startProcess('ip', ['netns', 'exec', ns, 'busybox', 'httpd', '-f', '-p', String(port), '-h', home]);
  processes.push(p);
  await waitFor(
    async () => (await runCommand('ip', ['netns', 'exec', ns, 'busybox', 'wget', '-q', '-O', '-', `http://127.0.0.1:${port}/`])).code === 0,
    () => `httpd in ${ns}: ${p.output()}`,
  );
  return p;
}

/** A non-loopback IPv4 address of the host that is not on a test bridge; the test bridge's gateway otherwise. */
async function hostAddress(): Promise<string> {
  const links = JSON.parse(await mustRun('ip', ['-j', '-4', 'addr', 'show', 'scope', 'global'])) as {
    ifname: string;
    addr_info: { local: string }[];
  }[];
  const found = links.find((l) => !l.ifname.startsWith('stb') && !l.ifname.startsWith('vo') && l.addr_info[0] !== undefined);
  return found?.addr_info[0]?.local ?? network.config.gateway;
}

const web = join(files.path, 'www');

beforeAll(async () => {
  await mkdir(join(web, 'cgi-bin'), { recursive: true });
  await writeFile(join(web, 'index.html'), 'hello from the container\n');
  await writeFile(join(web, 'cgi-bin', 'peer'), '#!/bin/sh\nprintf "Content-Type: text/plain\\r\\n\\r\\n%s" "$REMOTE_ADDR"\n');
  await chmod(join(web, 'cgi-bin', 'peer'), 0o755);
  await writeFile(join(files.path, 'host-resolv.conf'), 'search example.test\nnameserver 127.0.0.53\nnameserver 10.1.2.3\n');
  await network.ensureBridge();
});

afterAll(async () => {
  for (const p of processes) await p.stop('SIGKILL');
  for (const s of servers) await new Promise((r) => s.close(r));
  for (const id of ids) await network.detach(id).catch(() => undefined);
  if (outside.created) {
    await runCommand('ip', ['link', 'del', outside.veth]);
    await runCommand('ip', ['netns', 'del', outside.ns]);
  }
  await network.teardownBridge().catch(() => undefined);
  state.remove();
  files.remove();
});

describe('bridge network (real bridge, veths, netns and iptables)', () => {
  let a: Attachment;
  let b: Attachment;
  let fixedPort: number;

  it('sets up the bridge and its chains once, however often ensureBridge runs', async () => {
    await network.ensureBridge();
    await createBridgeNetwork({ ...names, stateDir: state.path, logger }).ensureBridge();
    const { chains, bridge, gateway } = network.config;
    const saved = await mustRun('iptables-save', []);
    const count = (needle: string) => saved.split('\n').filter((l) => l.includes(needle)).length;
    expect(count(`-A PREROUTING -m addrtype --dst-type LOCAL -j ${chains.dnat}`)).toBe(1);
    expect(count(`-A OUTPUT -m addrtype --dst-type LOCAL -j ${chains.dnat}`)).toBe(1);
    expect(count(`-A POSTROUTING -j ${chains.postrouting}`)).toBe(1);
    expect(count(`-A FORWARD -j ${chains.forward}`)).toBe(1);
    expect(count(`-A ${chains.postrouting} -s ${network.config.subnet} ! -o ${bridge} -j MASQUERADE`)).toBe(1);
    expect(await readFile('/proc/sys/net/ipv4/ip_forward', 'utf8')).toBe('1\n');
    expect(await readFile(`/proc/sys/net/ipv4/conf/${bridge}/route_localnet`, 'utf8')).toBe('1\n');
    expect(await mustRun('ip', ['-4', '-o', 'addr', 'show', 'dev', bridge])).toContain(`inet ${gateway}/24`);
    expect(['nf_tables', 'legacy']).toContain(await network.iptablesVariant());
  });

  it('publishes a container port on 127.0.0.1 and on the host address, picking a free port for -p 0:80', async () => {
    fixedPort = await freePort();
    const etc = join(files.path, 'etc-a');
    await mkdir(etc);
    a = await network.attach({ id: newId(), hostname: 'web', ports: [`${fixedPort}:80`, '0:80', '127.0.0.1::80/tcp'], etcDir: etc });
    expect(a.ip).toMatch(/^10\.\d+\.\d+\.2$/);
    expect(a.netnsPath).toBe(`/run/netns/${names.netnsPrefix}${a.id.slice(0, 12)}`);
    expect(a.veth).toBe(`veth${a.id.slice(0, 11)}`);
    const [fixed, picked, local] = a.ports;
    expect(fixed).toEqual({ hostIp: '0.0.0.0', hostPort: fixedPort, containerPort: 80, protocol: 'tcp' });
    expect(picked?.hostPort).toBeGreaterThan(0);
    expect(picked?.hostPort).not.toBe(fixedPort);
    expect(local?.hostIp).toBe('127.0.0.1');

    await startHttpd(`${names.netnsPrefix}${a.id.slice(0, 12)}`, 80, web);
    const host = await hostAddress();
    expect(await get(`http://127.0.0.1:${fixedPort}/`)).toBe('hello from the container\n');
    expect(await get(`http://${host}:${fixedPort}/`)).toBe('hello from the container\n');
    expect(await get(`http://127.0.0.1:${picked?.hostPort}/`)).toBe('hello from the container\n');
    expect(await get(`http://127.0.0.1:${local?.hostPort}/`)).toBe('hello from the container\n');
    await expect(get(`http://${host}:${local?.hostPort}/`)).rejects.toThrow();

    expect(await readFile(join(etc, 'hostname'), 'utf8')).toBe('web\n');
    expect(await readFile(join(etc, 'hosts'), 'utf8')).toContain(`${a.ip}\tweb\n`);
    expect(await readFile(join(etc, 'resolv.conf'), 'utf8')).toBe('search example.test\nnameserver 10.1.2.3\n');
  });

  it('lets containers reach each other across the bridge', async () => {
    b = await network.attach({ id: newId() });
    expect(b.ip).not.toBe(a.ip);
    const nsB = `${names.netnsPrefix}${b.id.slice(0, 12)}`;
    expect(await nsRun(nsB, ['busybox', 'ping', '-c', '1', '-W', '2', a.ip ?? ''])).toContain('1 packets received');
    expect(await nsRun(nsB, ['busybox', 'wget', '-q', '-O', '-', `http://${a.ip}/`])).toBe('hello from the container\n');
    expect(await nsRun(nsB, ['busybox', 'wget', '-q', '-O', '-', `http://${a.ip}/cgi-bin/peer`]).then(peer)).toBe(b.ip);
  });

  it('masquerades outbound traffic leaving by another device', async () => {
    const octets = network.config.subnet.split('.');
    const third = (Number(octets[2]) + 1) % 256;
    const outsideHost = `10.${octets[1]}.${third}.1`;
    const outsideIp = `10.${octets[1]}.${third}.2`;
    outside.created = true;
    await mustRun('ip', ['netns', 'add', outside.ns]);
    await mustRun('ip', ['link', 'add', outside.veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', outside.ns]);
    await mustRun('ip', ['addr', 'add', `${outsideHost}/30`, 'dev', outside.veth]);
    await mustRun('ip', ['link', 'set', outside.veth, 'up']);
    await mustRun('ip', ['-n', outside.ns, 'addr', 'add', `${outsideIp}/30`, 'dev', 'eth0']);
    await mustRun('ip', ['-n', outside.ns, 'link', 'set', 'eth0', 'up']);
    await mustRun('ip', ['-n', outside.ns, 'link', 'set', 'lo', 'up']);
    await startHttpd(outside.ns, 8081, web);

    const nsB = `${names.netnsPrefix}${b.id.slice(0, 12)}`;
    const seen = await nsRun(nsB, ['busybox', 'wget', '-q', '-O', '-', `http://${outsideIp}:8081/cgi-bin/peer`]);
    expect(peer(seen)).toBe(outsideHost);
    const counters = await mustRun('iptables', ['-w', '-t', 'nat', '-L', network.config.chains.postrouting, '-v', '-n', '-x']);
    const masq = counters.split('\n').find((l) => l.includes('MASQUERADE') && l.includes(network.config.subnet));
    expect(Number(masq?.trim().split(/\s+/)[0])).toBeGreaterThan(0);
  });

  it('refuses a host port that a container or a host program holds, and leaves nothing behind', async () => {
    const byContainer = newId();
    let err = await failure(network.attach({ id: byContainer, ports: [`127.0.0.1:${fixedPort}:8080`] }));
    expect(errorKind(err)).toBe('FailedPrecondition');
    expect((err as Error).message).toBe(`port ${fixedPort}/tcp is already allocated by container ${a.id.slice(0, 12)}`);

    const server = createServer();
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '0.0.0.0', r));
    const busy = (server.address() as { port: number }).port;
    err = await failure(network.attach({ id: byContainer, ports: [`${busy}:80`] }));
    expect(errorKind(err)).toBe('FailedPrecondition');
    expect((err as Error).message).toBe(`port ${busy}/tcp is already allocated on 0.0.0.0: a program on the host uses it; choose another host port`);

    err = await failure(network.attach({ id: byContainer, ports: ['192.0.2.254:8080:80'] }));
    expect(errorKind(err)).toBe('InvalidArgument');
    expect((err as Error).message).toBe('cannot publish on 192.0.2.254: it is not an address of this host');

    expect(await network.get(byContainer)).toBeUndefined();
    expect(await networkLeftovers(network.config, [byContainer])).toEqual([]);
  });

  it('gives mode none a namespace with only lo up, and mode host nothing', async () => {
    const none = await network.attach({ id: newId(), mode: 'none' });
    expect(none.ip).toBeUndefined();
    const links = await mustRun('ip', ['-n', `${names.netnsPrefix}${none.id.slice(0, 12)}`, '-o', 'link', 'show']);
    expect(links.trim().split('\n')).toHaveLength(1);
    expect(links).toMatch(/^1: lo: <LOOPBACK,UP,LOWER_UP>/);
    const host = await network.attach({ id: newId(), mode: 'host' });
    expect(host.netnsPath).toBeUndefined();
    const err = await failure(network.attach({ id: newId(), mode: 'host', ports: ['80'] }));
    expect(errorKind(err)).toBe('InvalidArgument');
    expect((err as Error).message).toBe('published ports need the bridge network mode, not host');
    await network.detach(none.id);
    await network.detach(host.id);
    expect(await networkLeftovers(network.config, [none.id, host.id])).toEqual([]);
  });

  it('undoes a half-done attach and refuses a device name that is taken', async () => {
    const id = newId();
    const err = await failure(network.attach({ id, ports: ['0:80'], etcDir: join(files.path, 'missing', 'etc') }));
    expect(errorKind(err)).toBe('Internal');
    expect((err as Error).message).toMatch(new RegExp(`^attaching container ${id} failed: ENOENT: no such file or directory`));
    expect(await network.get(id)).toBeUndefined();
    expect(await networkLeftovers(network.config, [id])).toEqual([]);

    const taken = newId();
    await mustRun('ip', ['link', 'add', `veth${taken.slice(0, 11)}`, 'type', 'veth', 'peer', 'name', `vp${taken.slice(0, 11)}`]);
    try {
      const refused = await failure(network.attach({ id: taken }));
      expect(errorKind(refused)).toBe('FailedPrecondition');
      expect((refused as Error).message).toBe(`device veth${taken.slice(0, 11)} already exists: remove it or choose another id`);
      expect(await network.get(taken)).toBeUndefined();
    } finally {
      await runCommand('ip', ['link', 'del', `veth${taken.slice(0, 11)}`]);
    }
  });

  it('gives concurrent attaches distinct addresses and host ports', async () => {
    const made = await Promise.all([newId(), newId(), newId(), newId()].map((id) => network.attach({ id, ports: ['80', '0:53/udp'] })));
    try {
      expect(new Set(made.map((m) => m.ip)).size).toBe(4);
      const hostPorts = made.flatMap((m) => m.ports.map((p) => `${p.hostPort}/${p.protocol}`));
      expect(new Set(hostPorts).size).toBe(8);
      const dnat = await mustRun('iptables', ['-w', '-t', 'nat', '-S', network.config.chains.dnat]);
      for (const m of made) {
        for (const p of m.ports) expect(dnat).toContain(`--dport ${p.hostPort} -m comment --comment "strata:${m.id}" -j DNAT --to-destination ${m.ip}:${p.containerPort}`);
      }
    } finally {
      await Promise.all(made.map((m) => network.detach(m.id)));
    }
    expect(await networkLeftovers(network.config, made.map((m) => m.id))).toEqual([]);
  });

  it('readies a spare that a bridge attach claims without iproute2, with its ports and files, and that detach removes', async () => {
    const id = newId();
    await network.prepareSpare(id);
    const ns = `${names.netnsPrefix}${id.slice(0, 12)}`;
    expect(await network.spares()).toContain(id);
    expect(await network.get(id)).toBeUndefined();
    expect((await network.list()).map((x) => x.id)).not.toContain(id);
    expect(await nsRun(ns, ['ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0'])).toMatch(/inet 10\.\d+\.\d+\.\d+\/24/);
    expect(await nsRun(ns, ['ip', 'route', 'show', 'default'])).toContain(`default via ${network.config.gateway}`);

    const port = await freePort();
    const etc = join(files.path, 'etc-spare');
    await mkdir(etc);
    const before = await stat(`/run/netns/${ns}`);
    const claimed = await network.attach({ id, hostname: 'spare', ports: [`${port}:80`], etcDir: etc });
    // The same namespace, not one made again.
    expect((await stat(`/run/netns/${ns}`)).ino).toBe(before.ino);
    expect(claimed.netnsPath).toBe(`/run/netns/${ns}`);
    expect(await network.spares()).not.toContain(id);
    expect(await readFile(join(etc, 'hostname'), 'utf8')).toBe('spare\n');
    expect(await readFile(join(etc, 'hosts'), 'utf8')).toContain(`${claimed.ip}\tspare\n`);
    await startHttpd(ns, 80, web);
    expect(await get(`http://127.0.0.1:${port}/`)).toBe('hello from the container\n');

    await network.detach(id);
    expect(await networkLeftovers(network.config, [id])).toEqual([]);
    expect(await network.get(id)).toBeUndefined();
  });

  it('claims a spare without ports while its record is written, and with ports only once it is', async () => {
    const stateFile = join(state.path, `${names.bridge}.json`);
    const onDisk = async (id: string) => (JSON.parse(await readFile(stateFile, 'utf8')) as { attachments: Record<string, { hostname: string }> }).attachments[id];
    const [quiet, published] = [newId(), newId()];
    await network.prepareSpare(quiet);
    await network.prepareSpare(published);
    try {
      const a = await network.attach({ id: quiet, hostname: 'quiet' });
      expect(a.recorded).toBeInstanceOf(Promise);
      expect((await network.get(quiet))?.hostname).toBe('quiet');
      await a.recorded;
      expect((await onDisk(quiet))?.hostname).toBe('quiet');

      const port = await freePort();
      const b = await network.attach({ id: published, hostname: 'published', ports: [`${port}:80`] });
      // The rule exists, so the record was on disk before attach resolved.
      expect((await onDisk(published))?.hostname).toBe('published');
      await expect(b.recorded).resolves.toBeUndefined();
    } finally {
      await network.detach(quiet);
      await network.detach(published);
    }
    expect(await networkLeftovers(network.config, [quiet, published])).toEqual([]);
  });

  it('removes a spare whose id is attached in another mode, and spares when the bridge is torn down', async () => {
    const id = newId();
    await network.prepareSpare(id);
    const none = await network.attach({ id, mode: 'none' });
    expect(none.ip).toBeUndefined();
    expect(await nsRun(`${names.netnsPrefix}${id.slice(0, 12)}`, ['ip', '-o', 'link', 'show'])).not.toContain('eth0');
    await network.detach(id);
    expect(await networkLeftovers(network.config, [id])).toEqual([]);

    const spare = newId();
    await network.prepareSpare(spare);
    expect(await network.spares()).toEqual([spare]);
    // teardownBridge refuses while containers are attached, after it removed the spares.
    await expect(network.teardownBridge()).rejects.toThrow(/still has \d+ attached container/);
    expect(await network.spares()).toEqual([]);
    expect(await networkLeftovers(network.config, [spare])).toEqual([]);
  });

  it('detaches after an agent restart from the durable record, even with parts already gone, and twice', async () => {
    const restarted = createBridgeNetwork({ ...names, stateDir: state.path, logger });
    expect(await restarted.get(a.id)).toEqual({ ...a, etcFiles: undefined });
    const listed = (await restarted.list()).map((x) => x.id);
    expect(listed).toEqual(expect.arrayContaining([a.id, b.id]));

    await mustRun('ip', ['link', 'del', b.veth ?? '']);
    await restarted.detach(b.id);
    await restarted.detach(a.id);
    await restarted.detach(a.id);
    expect(await restarted.list()).toEqual([]);
    expect(await networkLeftovers(network.config, [a.id, b.id])).toEqual([]);
    const dnat = await mustRun('iptables', ['-w', '-t', 'nat', '-S', network.config.chains.dnat]);
    expect(dnat.split('\n').filter((l) => l.startsWith('-A'))).toEqual([]);
    await expect(get(`http://127.0.0.1:${fixedPort}/`)).rejects.toThrow();

    const again = await restarted.attach({ id: newId() });
    expect(again.ip).not.toBe(b.ip);
    await restarted.detach(again.id);
    network = restarted;
  });

  it('tears the bridge and every chain down', async () => {
    await network.teardownBridge();
    expect(await networkLeftovers(network.config, ids, { bridgeToo: true })).toEqual([]);
    await network.teardownBridge();
  });
});
