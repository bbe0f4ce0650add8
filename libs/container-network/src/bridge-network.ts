import { access, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { failedPrecondition, internal, invalidArgument, isStrataError, type Logger } from '@strata/kit';
import { mustRun } from './command.js';
import { DEFAULT_NAMESERVERS, validateHostname, writeEtcFiles, type DnsSettings, type EtcFiles } from './etc-files.js';
import { Iptables, type IptablesVariant } from './iptables.js';
import { Ipam, type AttachmentRecord, type NetworkMode } from './ipam.js';
import {
  ALL_ADDRESSES,
  formatPublishedPort,
  parsePortMapping,
  portsCollide,
  probeHostPort,
  type PortMapping,
  type PublishedPort,
} from './ports.js';
import { formatIPv4, parseSubnet, subnetsOverlap, type Subnet } from './subnet.js';

/** Where `ip netns add NAME` puts a named network namespace. */
export const NETNS_DIR = '/run/netns';

/** The names of the network devices of the calling process's namespace, from /proc/self/net/dev (one line per device, up or down). */
async function hostLinks(): Promise<Set<string>> {
  const text = await readFile('/proc/self/net/dev', 'utf8');
  const names = new Set<string>();
  for (const line of text.split('\n').slice(2)) {
    const at = line.indexOf(':');
    if (at > 0) names.add(line.slice(0, at).trim());
  }
  return names;
}

/** Options of {@link createBridgeNetwork}. */
export interface BridgeNetworkOptions {
  /** Directory of the durable state (`<bridge>.json`: address allocations and what each attach created). */
  stateDir: string;
  logger: Logger;
  /** Bridge device name, at most 15 characters; default `strata0`. */
  bridge?: string;
  /** IPv4 subnet of the bridge; default `10.88.0.0/16` (clear of Docker's 172.17.0.0/16). Its first address is the gateway. */
  subnet?: string;
  /** Prefix of Strata's own iptables chains (`<prefix>-DNAT`, `-POSTROUTING`, `-FORWARD`); default `STRATA`. */
  chainPrefix?: string;
  /** Prefix of the named network namespaces (`<prefix><first 12 characters of the id>`); default `strata-`. */
  netnsPrefix?: string;
  /** The iptables program; default `iptables` (whichever variant the host's alternatives select). */
  iptables?: string;
  /** The iproute2 program; default `ip`. */
  ip?: string;
  /** The host's resolv.conf, copied into containers; default `/etc/resolv.conf`. */
  hostResolvConf?: string;
  /** Nameservers for containers when the host's are all loopback addresses; default 8.8.8.8 and 8.8.4.4. */
  fallbackNameservers?: readonly string[];
}

/** The settled configuration of a bridge network. */
export interface NetworkConfig {
  bridge: string;
  subnet: string;
  /** The bridge's address, the containers' default route. */
  gateway: string;
  prefixLength: number;
  chains: { dnat: string; postrouting: string; forward: string };
  netnsPrefix: string;
}

/** What to attach. */
export interface AttachRequest {
  /** Container id: 12 to 64 lowercase hex characters. */
  id: string;
  /** Default `bridge`. */
  mode?: NetworkMode;
  /** Default: the first 12 characters of the id. */
  hostname?: string;
  /** `-p` arguments (`8080:80`, `127.0.0.1:8080:80/udp`, `80`…) or parsed mappings; bridge mode only. */
  ports?: readonly (string | PortMapping)[];
  /** When set, hosts, hostname and resolv.conf for the container are written into this existing directory. */
  etcDir?: string;
  /** More /etc/hosts entries, `NAME:IP` (checked by the caller); IP `host-gateway` is the bridge's gateway address. */
  extraHosts?: readonly string[];
  /** resolv.conf settings instead of the host's. */
  dns?: DnsSettings;
}

/** A container's networking as set up. */
export interface Attachment {
  id: string;
  mode: NetworkMode;
  hostname: string;
  /** Its address on the bridge (bridge mode). */
  ip?: string;
  gateway?: string;
  prefixLength?: number;
  /**
   * Path of its network namespace (bridge and none modes) for the runtime
   * spec's `linux.namespaces: [{ type: 'network', path }]`; absent in host
   * mode, where the spec has no network namespace.
   */
  netnsPath?: string;
  /** Host end of its veth pair (bridge mode). */
  veth?: string;
  /** Published ports, host ports picked. */
  ports: PublishedPort[];
  /** Files written when the request had an etcDir. */
  etcFiles?: EtcFiles;
  /**
   * Set by attach when it resolved before the attachment's record was on
   * disk (a spare claimed without published ports: nothing was made from
   * it); settles once it is, rejecting when the write failed. A caller
   * awaits it before it records anything that relies on the attachment
   * after a crash (the container itself).
   */
  recorded?: Promise<void>;
}

/**
 * Container networking on one kernel bridge: a veth per container into a
 * named network namespace, addresses from a subnet, outbound NAT and
 * published ports through iptables (see README.md for the rule layout).
 */
export interface BridgeNetwork {
  readonly config: NetworkConfig;
  /**
   * Creates the bridge if missing, gives it the gateway address, brings it
   * up, enables IPv4 forwarding and route_localnet on the bridge, and
   * installs Strata's chains and the jumps to them, each only when missing.
   * Safe to call any number of times. Raises FailedPrecondition when the
   * subnet overlaps a route of another device, Unavailable when ip or
   * iptables is missing, Internal when one of them fails.
   */
  ensureBridge(): Promise<void>;
  /**
   * Removes the spares, the jumps, Strata's chains and the bridge. Raises
   * FailedPrecondition while containers are attached. Leaves ip_forward on
   * (other bridges on the host may need it).
   */
  teardownBridge(): Promise<void>;
  /**
   * Sets up a container's networking and records it durably first, so that
   * detach can undo a half-done attach after a crash (the claim of a spare
   * without published ports makes nothing: attach resolves while it is
   * written, see Attachment.recorded). A failed attach undoes
   * what it did. Raises InvalidArgument for a bad id, hostname, port mapping
   * or host address, or ports outside bridge mode; AlreadyExists when the id
   * is attached; FailedPrecondition when a host port is already allocated
   * (by another container or a program on the host) or a derived device or
   * namespace name is taken; ResourceExhausted when the subnet is full.
   */
  attach(request: AttachRequest): Promise<Attachment>;
  /**
   * Readies a bridge attachment for a container not created yet, a spare:
   * its namespace, the veth into the bridge, its address and default route,
   * recorded durably like an attachment. A bridge attach of that id then
   * claims it and only adds the ports, hostname and files, without running
   * iproute2; detach removes a spare like any attachment. Raises like
   * attach.
   */
  prepareSpare(id: string): Promise<void>;
  /** The ids of the spares on record, those of an earlier process included. */
  spares(): Promise<string[]>;
  /**
   * Removes everything attach created for id (port rules, veth, namespace,
   * address), from the durable record; idempotent, also for ids never
   * attached. Raises Internal when a removal fails (the record is kept so a
   * retry finishes the job).
   */
  detach(id: string): Promise<void>;
  /** The attachment of id (a spare is none), or undefined. */
  get(id: string): Promise<Attachment | undefined>;
  /** Every attachment, the spares left out. */
  list(): Promise<Attachment[]>;
  /** The variant of the iptables program in use. */
  iptablesVariant(): Promise<IptablesVariant>;
}

const ID = /^[0-9a-f]{12,64}$/;
const DEVICE = /^[a-zA-Z0-9_.-]{1,15}$/;
const CHAIN_PREFIX = /^[A-Za-z0-9_]{1,16}$/;
const NETNS_PREFIX = /^[a-zA-Z0-9_.-]{0,32}$/;

function validateId(id: string): string {
  if (!ID.test(id)) throw invalidArgument(`invalid container id ${JSON.stringify(id)}: expected 12 to 64 lowercase hex characters`);
  return id;
}

/** The comment that tags every iptables rule made for container id. */
export function ruleComment(id: string): string {
  return `strata:${id}`;
}

/** The `iptables -t nat -A <prefix>-DNAT` arguments publishing port p of a container at ip. */
export function dnatRule(id: string, ip: string, p: PublishedPort): string[] {
  return [
    '-p',
    p.protocol,
    ...(p.hostIp === ALL_ADDRESSES ? [] : ['-d', `${p.hostIp}/32`]),
    '-m',
    p.protocol,
    '--dport',
    String(p.hostPort),
    '-m',
    'comment',
    '--comment',
    ruleComment(id),
    '-j',
    'DNAT',
    '--to-destination',
    `${ip}:${p.containerPort}`,
  ];
}

/**
 * Creates the bridge network described by options. Nothing on the host
 * changes until ensureBridge or attach runs. Raises InvalidArgument for a
 * bad bridge name, subnet or prefix.
 */
export function createBridgeNetwork(options: BridgeNetworkOptions): BridgeNetwork {
  const bridge = options.bridge ?? 'strata0';
  if (!DEVICE.test(bridge)) throw invalidArgument(`invalid bridge name ${JSON.stringify(bridge)}: at most 15 letters, digits, '.', '_' or '-'`);
  const subnet: Subnet = parseSubnet(options.subnet ?? '10.88.0.0/16');
  const prefix = options.chainPrefix ?? 'STRATA';
  if (!CHAIN_PREFIX.test(prefix)) throw invalidArgument(`invalid chain prefix ${JSON.stringify(prefix)}: at most 16 letters, digits or '_'`);
  const netnsPrefix = options.netnsPrefix ?? 'strata-';
  if (!NETNS_PREFIX.test(netnsPrefix)) throw invalidArgument(`invalid netns prefix ${JSON.stringify(netnsPrefix)}`);
  const ip = options.ip ?? 'ip';
  const iptables = new Iptables(options.iptables ?? 'iptables');
  const hostResolvConf = options.hostResolvConf ?? '/etc/resolv.conf';
  const fallbackNameservers = options.fallbackNameservers ?? DEFAULT_NAMESERVERS;
  const log = options.logger.child({ bridge });
  const ipam = new Ipam(join(options.stateDir, `${bridge}.json`), subnet);
  const gateway = formatIPv4(subnet.gateway);
  const config: NetworkConfig = {
    bridge,
    subnet: subnet.cidr,
    gateway,
    prefixLength: subnet.prefixLength,
    chains: { dnat: `${prefix}-DNAT`, postrouting: `${prefix}-POSTROUTING`, forward: `${prefix}-FORWARD` },
    netnsPrefix,
  };
  const { chains } = config;

  const jumps: { table: 'nat' | 'filter'; chain: string; spec: string[] }[] = [
    { table: 'nat', chain: 'PREROUTING', spec: ['-m', 'addrtype', '--dst-type', 'LOCAL', '-j', chains.dnat] },
    { table: 'nat', chain: 'OUTPUT', spec: ['-m', 'addrtype', '--dst-type', 'LOCAL', '-j', chains.dnat] },
    { table: 'nat', chain: 'POSTROUTING', spec: ['-j', chains.postrouting] },
    { table: 'filter', chain: 'FORWARD', spec: ['-j', chains.forward] },
  ];
  const chainRules: { table: 'nat' | 'filter'; chain: string; spec: string[] }[] = [
    { table: 'nat', chain: chains.postrouting, spec: ['-s', subnet.cidr, '!', '-o', bridge, '-j', 'MASQUERADE'] },
    {
      table: 'nat',
      chain: chains.postrouting,
      spec: ['-s', '127.0.0.0/8', '-o', bridge, '-m', 'addrtype', '--src-type', 'LOCAL', '-j', 'MASQUERADE'],
    },
    { table: 'filter', chain: chains.forward, spec: ['-i', bridge, '-j', 'ACCEPT'] },
    {
      table: 'filter',
      chain: chains.forward,
      spec: ['-o', bridge, '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', '-j', 'ACCEPT'],
    },
    { table: 'filter', chain: chains.forward, spec: ['-o', bridge, '-m', 'conntrack', '--ctstate', 'DNAT', '-j', 'ACCEPT'] },
  ];

  /** True when the agent's network namespace has a device called name (every device, up or down, is in /proc/self/net/dev). */
  async function linkExists(name: string): Promise<boolean> {
    return (await hostLinks()).has(name);
  }

  async function netnsExists(name: string): Promise<boolean> {
    try {
      await access(join(NETNS_DIR, name));
      return true;
    } catch {
      return false;
    }
  }

  async function checkRoutes(): Promise<void> {
    const routes = JSON.parse(await mustRun(ip, ['-j', '-4', 'route', 'show'])) as { dst?: string; dev?: string }[];
    for (const route of routes) {
      if (route.dst === undefined || route.dst === 'default' || route.dev === bridge) continue;
      const dst = route.dst.includes('/') ? route.dst : `${route.dst}/32`;
      let other: Subnet;
      try {
        other = parseSubnet(dst);
      } catch {
        continue;
      }
      if (subnetsOverlap(subnet, other)) {
        throw failedPrecondition(`subnet ${subnet.cidr} overlaps ${route.dst} on ${route.dev ?? 'another device'}: configure another subnet for ${bridge}`, {
          fields: { subnet: subnet.cidr },
        });
      }
    }
  }

  async function setUp(): Promise<void> {
    if (!(await linkExists(bridge))) {
      await checkRoutes();
      await mustRun(ip, ['link', 'add', 'name', bridge, 'type', 'bridge']);
      log.info({ subnet: subnet.cidr }, 'created bridge');
    }
    await mustRun(ip, ['addr', 'replace', `${gateway}/${subnet.prefixLength}`, 'dev', bridge]);
    await mustRun(ip, ['link', 'set', bridge, 'up']);
    await writeFile('/proc/sys/net/ipv4/ip_forward', '1');
    await writeFile(`/proc/sys/net/ipv4/conf/${bridge}/route_localnet`, '1');
    await iptables.ensureChain('nat', chains.dnat);
    await iptables.ensureChain('nat', chains.postrouting);
    await iptables.ensureChain('filter', chains.forward);
    for (const r of chainRules) await iptables.ensureRule(r.table, r.chain, r.spec);
    for (const j of jumps) await iptables.ensureRule(j.table, j.chain, j.spec, true);
  }

  let ensured: Promise<void> | undefined;
  function ensureBridge(): Promise<void> {
    ensured ??= setUp().catch((err: unknown) => {
      ensured = undefined;
      throw err;
    });
    return ensured;
  }

  const idLocks = new Map<string, Promise<unknown>>();
  function perId<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const prev = idLocks.get(id) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const settled = next.catch(() => undefined);
    idLocks.set(id, settled);
    void settled.then(() => {
      if (idLocks.get(id) === settled) idLocks.delete(id);
    });
    return next;
  }

  function vethName(id: string): string {
    return `veth${id.slice(0, 11)}`;
  }

  function attachmentOf(r: AttachmentRecord): Attachment {
    const a: Attachment = { id: r.id, mode: r.mode, hostname: r.hostname, ports: r.ports.map((p) => ({ ...p })) };
    if (r.ip !== undefined) {
      a.ip = r.ip;
      a.gateway = gateway;
      a.prefixLength = subnet.prefixLength;
    }
    if (r.netns !== undefined) a.netnsPath = join(NETNS_DIR, r.netns);
    if (r.veth !== undefined) a.veth = r.veth;
    return a;
  }

  async function resolvePorts(
    id: string,
    requested: readonly PortMapping[],
    others: readonly AttachmentRecord[],
  ): Promise<PublishedPort[]> {
    const taken: { port: PortMapping; owner: string }[] = others.flatMap((r) => r.ports.map((port) => ({ port, owner: r.id })));
    const out: PublishedPort[] = [];
    for (const want of requested) {
      let chosen: PublishedPort | undefined;
      if (want.hostPort !== 0) {
        const clash = taken.find((t) => portsCollide(t.port, want));
        if (clash !== undefined) {
          throw failedPrecondition(
            `port ${want.hostPort}/${want.protocol} is already allocated${clash.owner === id ? ' twice in this request' : ` by container ${clash.owner.slice(0, 12)}`}`,
            { fields: { container: id, port: want.hostPort } },
          );
        }
        const probe = await probeHostPort(want.hostIp, want.hostPort, want.protocol);
        if (probe === 'EADDRINUSE') {
          throw failedPrecondition(
            `port ${want.hostPort}/${want.protocol} is already allocated on ${want.hostIp}: a program on the host uses it; choose another host port`,
            { fields: { container: id, port: want.hostPort } },
          );
        }
        if (typeof probe === 'string') throw hostAddressError(want, probe);
        chosen = { ...want };
      } else {
        for (let attempt = 0; attempt < 100 && chosen === undefined; attempt++) {
          const probe = await probeHostPort(want.hostIp, 0, want.protocol);
          if (typeof probe === 'string') throw hostAddressError(want, probe);
          const candidate = { ...want, hostPort: probe };
          if (!taken.some((t) => portsCollide(t.port, candidate))) chosen = candidate;
        }
        if (chosen === undefined) throw failedPrecondition(`no free host port for ${want.containerPort}/${want.protocol}`);
      }
      taken.push({ port: chosen, owner: id });
      out.push(chosen);
    }
    return out;
  }

  function hostAddressError(want: PortMapping, code: string) {
    if (code === 'EADDRNOTAVAIL') {
      return invalidArgument(`cannot publish on ${want.hostIp}: it is not an address of this host`);
    }
    return internal(`cannot check host port ${want.hostIp}:${want.hostPort}/${want.protocol}: ${code}`);
  }

  /**
   * Removes the DNAT rules of id: those its record names, then any other
   * rule tagged with its comment. A record without ports means attach added
   * no rule (rules are only ever added from the record's ports, after it was
   * written), so the chain is not even listed then.
   */
  async function removeRules(id: string, record: AttachmentRecord | undefined): Promise<void> {
    if (record !== undefined && record.ports.length === 0) return;
    if (record?.ip !== undefined) {
      for (const p of record.ports) await iptables.deleteRule('nat', chains.dnat, dnatRule(id, record.ip, p));
    }
    const comment = ruleComment(id);
    for (const rule of await iptables.listRules('nat', chains.dnat)) {
      const at = rule.indexOf('--comment');
      if (at >= 0 && rule[at + 1] === comment) await iptables.deleteRule('nat', chains.dnat, rule);
    }
  }

  /**
   * Removes what the record of id names and then the record. The veth and
   * the namespace go in one `ip -force -batch`: a failing line does not
   * stop the others. They are not looked for first, as both are there but
   * after a crash or a detach that failed half-way; a failure then counts
   * only when one of them is still there afterwards, and the record stays
   * for a retry.
   */
  async function undo(id: string): Promise<void> {
    const record = await ipam.get(id);
    await removeRules(id, record);
    if (record === undefined) return;
    const { veth, netns } = record;
    const commands = [...(veth === undefined ? [] : [`link del ${veth}`]), ...(netns === undefined ? [] : [`netns del ${netns}`])];
    if (commands.length > 0) {
      try {
        await ipBatch(commands, { force: true });
      } catch (err) {
        if ((veth !== undefined && (await linkExists(veth))) || (netns !== undefined && (await netnsExists(netns)))) throw err;
      }
    }
    await ipam.remove(id);
    log.debug({ container: id }, 'detached');
  }

  /**
   * Runs iproute2 commands (`link add …`, one per line) in one `ip -batch`
   * process, in the namespace netns when given. It stops at the first line
   * that fails, unless force (then every line runs); a failure raises
   * Internal with the lines and ip's messages. Names and addresses in the
   * lines are validated (device and namespace names, the subnet's
   * addresses), so no line holds a space or a newline of its own.
   */
  async function ipBatch(commands: readonly string[], options: { netns?: string; force?: boolean } = {}): Promise<void> {
    const args = [...(options.netns === undefined ? [] : ['-n', options.netns]), ...(options.force === true ? ['-force'] : []), '-batch', '-'];
    await mustRun(ip, args, `${commands.join('\n')}\n`);
  }

  /**
   * Makes the namespace and, in bridge mode, the veth pair (eth0 inside),
   * the address and the default route: one `ip -batch` on the host, one in
   * the namespace, instead of one process per step.
   */
  async function plumb(record: AttachmentRecord): Promise<void> {
    const ns = record.netns;
    if (ns === undefined) return;
    const bridged = record.mode === 'bridge' && record.veth !== undefined && record.ip !== undefined;
    await ipBatch([
      `netns add ${ns}`,
      ...(bridged ? [`link add ${record.veth} type veth peer name eth0 netns ${ns}`, `link set ${record.veth} master ${bridge}`, `link set ${record.veth} up`] : []),
    ]);
    await ipBatch(
      ['link set lo up', ...(bridged ? [`addr add ${record.ip}/${subnet.prefixLength} dev eth0`, 'link set eth0 up', `route add default via ${gateway}`] : [])],
      { netns: ns },
    );
  }

  /** Adds the DNAT rule of each published port of a bridge attachment. */
  async function publish(record: AttachmentRecord): Promise<void> {
    if (record.ip === undefined) return;
    for (const p of record.ports) await iptables.ensureRule('nat', chains.dnat, dnatRule(record.id, record.ip, p));
  }

  /**
   * Records id's attachment durably (before anything is made, so that
   * detach can undo a half-done one): its namespace and veth names, checked
   * free, and in bridge mode an address and the host ports, picked.
   */
  function recordAttachment(id: string, mode: NetworkMode, hostname: string, requested: readonly PortMapping[], spare: boolean): Promise<AttachmentRecord> {
    const netns = mode === 'host' ? undefined : `${netnsPrefix}${id.slice(0, 12)}`;
    const veth = mode === 'bridge' ? vethName(id) : undefined;
    return ipam.add(id, async ({ allocateIp, records }) => {
      for (const other of records) {
        if ((netns !== undefined && other.netns === netns) || (veth !== undefined && other.veth === veth)) {
          throw failedPrecondition(`container ${id} shares its first 12 characters with attached container ${other.id}`);
        }
      }
      if (netns !== undefined && (await netnsExists(netns))) throw failedPrecondition(`network namespace ${netns} already exists: remove it or choose another id`);
      if (veth !== undefined && (await linkExists(veth))) throw failedPrecondition(`device ${veth} already exists: remove it or choose another id`);
      const r: AttachmentRecord = { id, mode, hostname, ports: [] };
      if (netns !== undefined) r.netns = netns;
      if (mode === 'bridge') {
        r.ip = allocateIp();
        r.veth = veth;
        r.ports = await resolvePorts(id, requested, records);
      }
      if (spare) r.spare = true;
      return r;
    });
  }

  /**
   * Makes id's spare its attachment: the hostname and the host ports
   * picked, in effect at once; saved settles once that is on disk.
   */
  function claim(id: string, hostname: string, requested: readonly PortMapping[]): Promise<{ record: AttachmentRecord; saved: Promise<void> }> {
    return ipam.update(id, async (spare, others) => {
      const { spare: _was, ...claimed } = spare;
      return { ...claimed, hostname, ports: await resolvePorts(id, requested, others) };
    });
  }

  async function doPrepareSpare(id: string): Promise<void> {
    await ensureBridge();
    const spare = await recordAttachment(validateId(id), 'bridge', '', [], true);
    try {
      await plumb(spare);
      log.debug({ container: id, ip: spare.ip }, 'spare ready');
    } catch (err) {
      await undo(id).catch((undoErr: unknown) => log.error({ container: id, err: undoErr }, 'undoing a failed spare failed'));
      throw isStrataError(err) ? err : internal(`readying a spare attachment ${id} failed: ${(err as Error).message}`, { cause: err });
    }
  }

  async function doAttach(request: AttachRequest): Promise<Attachment> {
    const id = validateId(request.id);
    const mode = request.mode ?? 'bridge';
    if (mode !== 'bridge' && mode !== 'none' && mode !== 'host') {
      throw invalidArgument(`invalid network mode ${JSON.stringify(mode)}: use bridge, none or host`);
    }
    const hostname = validateHostname(request.hostname ?? id.slice(0, 12));
    const requested = (request.ports ?? []).map((p) => (typeof p === 'string' ? parsePortMapping(p) : parsePortMapping(formatSpec(p))));
    if (requested.length > 0 && mode !== 'bridge') {
      throw invalidArgument(`published ports need the bridge network mode, not ${mode}`);
    }
    if (mode === 'bridge') await ensureBridge();
    const etcFiles = (address: string | undefined): Promise<EtcFiles | undefined> =>
      request.etcDir === undefined
        ? Promise.resolve(undefined)
        : writeEtcFiles({
            dir: request.etcDir,
            hostname,
            ...(address === undefined ? {} : { address }),
            hostResolvConf,
            keepLoopbackNameservers: mode === 'host',
            fallbackNameservers,
            extraHosts: (request.extraHosts ?? []).map((entry) => {
              const at = entry.indexOf(':');
              const ip = entry.slice(at + 1);
              return { name: entry.slice(0, at), ip: ip === 'host-gateway' ? gateway : ip };
            }),
            ...(request.dns === undefined ? {} : { dns: request.dns }),
          });
    // A spare of this id is claimed in bridge mode (its files written meanwhile: its address is known) and removed
    // otherwise.
    const held = await ipam.get(id);
    const spare = held?.spare === true;
    if (spare && mode !== 'bridge') await undo(id);
    const claimed = spare && mode === 'bridge';
    const early = claimed ? etcFiles(held.ip) : undefined;
    early?.catch(() => undefined);
    let made: AttachmentRecord;
    let recorded: Promise<void> | undefined;
    try {
      if (claimed) {
        ({ record: made, saved: recorded } = await claim(id, hostname, requested));
        recorded.catch(() => undefined);
        // Rules are made from a record on disk only (detach finds them there after a crash).
        if (made.ports.length > 0) await recorded;
      } else {
        made = await recordAttachment(id, mode, hostname, requested, false);
      }
    } catch (err) {
      await early?.catch(() => undefined);
      throw err;
    }
    try {
      if (!claimed) await plumb(made);
      await publish(made);
      const attachment = attachmentOf(made);
      const files = await (early ?? etcFiles(made.ip));
      if (files !== undefined) attachment.etcFiles = files;
      if (recorded !== undefined) attachment.recorded = recorded;
      log.debug({ container: id, ip: made.ip, ports: made.ports.map(formatPublishedPort), spare: claimed }, 'attached');
      return attachment;
    } catch (err) {
      await undo(id).catch((undoErr: unknown) => log.error({ container: id, err: undoErr }, 'undoing a failed attach failed'));
      throw isStrataError(err) ? err : internal(`attaching container ${id} failed: ${(err as Error).message}`, { cause: err });
    }
  }

  return {
    config,
    ensureBridge,
    async teardownBridge() {
      for (const r of await ipam.list()) if (r.spare === true) await perId(r.id, () => undo(r.id));
      const attached = await ipam.list();
      if (attached.length > 0) {
        throw failedPrecondition(`bridge ${bridge} still has ${attached.length} attached container(s): detach them first`);
      }
      for (const j of jumps) await iptables.deleteRule(j.table, j.chain, j.spec);
      await iptables.deleteChain('nat', chains.dnat);
      await iptables.deleteChain('nat', chains.postrouting);
      await iptables.deleteChain('filter', chains.forward);
      if (await linkExists(bridge)) await mustRun(ip, ['link', 'del', bridge]);
      ensured = undefined;
    },
    attach: (request) => perId(request.id, () => doAttach(request)),
    prepareSpare: (id) => perId(id, () => doPrepareSpare(id)),
    async spares() {
      return (await ipam.list()).filter((r) => r.spare === true).map((r) => r.id);
    },
    detach: (id) => perId(id, () => undo(validateId(id))),
    async get(id) {
      const r = await ipam.get(id);
      return r === undefined || r.spare === true ? undefined : attachmentOf(r);
    },
    async list() {
      return (await ipam.list()).filter((r) => r.spare !== true).map(attachmentOf);
    },
    iptablesVariant: () => iptables.variant(),
  };
}

function formatSpec(p: PortMapping): string {
  return `${p.hostIp}:${p.hostPort}:${p.containerPort}/${p.protocol}`;
}
