import { mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { alreadyExists, internal, notFound, resourceExhausted, writeFileDurably } from '@strata/kit';
import type { PublishedPort } from './ports.js';
import { formatIPv4, parseIPv4, subnetContains, type Subnet } from './subnet.js';

/** How a container is networked: its own netns on the bridge, its own netns with only lo, or the host's network. */
export type NetworkMode = 'bridge' | 'none' | 'host';

/**
 * The durable record of one container's networking: everything attach
 * created, so that detach can remove it after a restart or a crash.
 */
export interface AttachmentRecord {
  /** The container id. */
  id: string;
  mode: NetworkMode;
  hostname: string;
  /** Its address on the bridge (bridge mode). */
  ip?: string;
  /** Name of its network namespace under /run/netns (bridge and none modes). */
  netns?: string;
  /** Host end of its veth pair (bridge mode). */
  veth?: string;
  /** Published ports with their host ports picked. */
  ports: PublishedPort[];
  /**
   * A spare: a bridge attachment readied for a container not created yet
   * (no hostname, no ports); attach of its id claims it.
   */
  spare?: true;
}

interface StateFile {
  version: 1;
  /** The address handed out last; the next search starts after it so a released address is not reused at once. */
  lastIp?: string;
  attachments: Record<string, AttachmentRecord>;
}


/** What {@link Ipam.add} hands to its callback. */
export interface Allocation {
  /** Takes the next free address of the subnet (the gateway, network and broadcast addresses are never handed out). */
  allocateIp(): string;
  /** Every record held, the one being added excluded. */
  records: readonly AttachmentRecord[];
}

/**
 * Address management and the durable record of attachments: one JSON file,
 * replaced atomically (temp file, fsync, rename) on every change, so
 * allocations survive a restart or a crash. Changes are applied
 * one at a time within the process. Only one process may own a state file.
 */
export class Ipam {
  private state: StateFile | undefined;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    /** Path of the JSON state file; its directory is created when missing. */
    readonly file: string,
    readonly subnet: Subnet,
  ) {}

  private async load(): Promise<StateFile> {
    if (this.state !== undefined) return this.state;
    let text: string | undefined;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as { code?: unknown }).code !== 'ENOENT') throw err;
    }
    if (text === undefined) {
      this.state = { version: 1, attachments: {} };
    } else {
      try {
        const parsed = JSON.parse(text) as StateFile;
        if (parsed.version !== 1 || typeof parsed.attachments !== 'object' || parsed.attachments === null) throw new Error('unknown layout');
        this.state = parsed;
      } catch (err) {
        throw internal(`network state file ${this.file} is unreadable: ${(err as Error).message}; move it away to start afresh`, { cause: err });
      }
    }
    return this.state;
  }

  /**
   * Writes state through a flushed temp file renamed over the file, without
   * flushing the directory: a process crash keeps the rename (the page cache
   * survives it), and after a power loss the previous state may be read,
   * never a torn one; what either describes (namespaces, veths, rules) is
   * gone after a reboot anyway, and detach takes what is not there.
   */
  private async save(state: StateFile): Promise<void> {
    await mkdir(dirname(this.file), { recursive: true, mode: 0o700 });
    await writeFileDurably(this.file, JSON.stringify(state), false);
  }

  private serialized<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }

  /**
   * Adds the record that build returns (it may allocate an address and
   * inspect the other records) and makes it durable before resolving.
   * Raises AlreadyExists when id has a record, ResourceExhausted when the
   * subnet is full, and whatever build raises (then nothing is recorded).
   */
  add(id: string, build: (allocation: Allocation) => Promise<AttachmentRecord>): Promise<AttachmentRecord> {
    return this.serialized(async () => {
      const state = await this.load();
      if (state.attachments[id] !== undefined) throw alreadyExists(`container ${id} already has a network attachment`, { fields: { container: id } });
      let lastIp = state.lastIp;
      const used = new Set<number>();
      for (const r of Object.values(state.attachments)) if (r.ip !== undefined) used.add(parseIPv4(r.ip));
      const allocateIp = (): string => {
        const { gateway, broadcast } = this.subnet;
        const first = gateway + 1;
        const count = broadcast - first;
        const last = lastIp !== undefined && subnetContains(this.subnet, parseIPv4(lastIp)) ? parseIPv4(lastIp) : gateway;
        for (let i = 1; i <= count; i++) {
          const candidate = first + ((((last - first + i) % count) + count) % count);
          if (!used.has(candidate)) {
            used.add(candidate);
            lastIp = formatIPv4(candidate);
            return lastIp;
          }
        }
        throw resourceExhausted(`no free address left in subnet ${this.subnet.cidr}: remove containers or use a larger subnet`);
      };
      const record = await build({ allocateIp, records: Object.values(state.attachments) });
      const next: StateFile = { ...state, attachments: { ...state.attachments, [id]: record } };
      if (lastIp !== undefined) next.lastIp = lastIp;
      await this.save(next);
      this.state = next;
      return record;
    });
  }

  /**
   * Replaces id's record with what change returns (given the record and
   * every other record). Resolves as soon as the new record is in effect
   * (every later operation sees it), with `saved` settling once it is on
   * disk; later operations write only after that. When the write fails,
   * saved rejects and the state is read from the file again. Raises
   * NotFound when id has no record, and whatever change raises (then
   * nothing changes).
   */
  update(
    id: string,
    change: (record: AttachmentRecord, others: readonly AttachmentRecord[]) => Promise<AttachmentRecord>,
  ): Promise<{ record: AttachmentRecord; saved: Promise<void> }> {
    return new Promise((resolve, reject) => {
      void this.serialized(async () => {
        let changed: StateFile;
        let next: AttachmentRecord;
        try {
          const state = await this.load();
          const record = state.attachments[id];
          if (record === undefined) throw notFound(`container ${id} has no network attachment`, { fields: { container: id } });
          next = await change(record, Object.values(state.attachments).filter((r) => r.id !== id));
          changed = { ...state, attachments: { ...state.attachments, [id]: next } };
        } catch (err) {
          reject(err);
          return;
        }
        this.state = changed;
        const saved = this.save(changed);
        saved.catch(() => {
          if (this.state === changed) this.state = undefined;
        });
        resolve({ record: next, saved });
        await saved;
      });
    });
  }

  /** Forgets id's record and frees its address, durably; nothing happens when there is none. */
  remove(id: string): Promise<void> {
    return this.serialized(async () => {
      const state = await this.load();
      if (state.attachments[id] === undefined) return;
      const attachments = { ...state.attachments };
      delete attachments[id];
      const next: StateFile = { ...state, attachments };
      await this.save(next);
      this.state = next;
    });
  }

  /** The record of id, if any. */
  get(id: string): Promise<AttachmentRecord | undefined> {
    return this.serialized(async () => (await this.load()).attachments[id]);
  }

  /** Every record. */
  list(): Promise<AttachmentRecord[]> {
    return this.serialized(async () => Object.values((await this.load()).attachments));
  }
}
