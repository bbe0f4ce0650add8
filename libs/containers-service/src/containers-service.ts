import type { Readable } from 'node:stream';
import {
  ChangeKind,
  ContainersService,
  Stream,
  WaitCondition as ProtoWaitCondition,
  type AttachRequest,
  type AttachResponse,
  type ChangesResponse,
  type CopyFromResponse,
  type CopyToRequest,
  type CopyToResponse,
  type CommitRequest,
  type ExecRequest,
  type ExecResponse,
  type ExitStatus as ProtoExitStatus,
  type StatsResponse,
  type UpdateRequest,
} from '@strata/api/containers/v1';
import { restartPolicyFromWire } from '@strata/docker-api/views';
import { bidiStream, serverStream, unary, type ServiceRegistration } from '@strata/grpc-kit';
import { invalidArgument, type Logger } from '@strata/kit';
import type { Change } from '@strata/layer-diff';
import type { ContainerAttachment, ContainerManager, ExitStatus, WaitCondition } from './container-manager.js';
import { containerToProto, pathStatToProto, resourcesFromProto, specFromProto } from './proto-convert.js';

/** Changes per message of a Changes stream (a path is at most 4 KiB: a batch stays far below the message limit). */
const CHANGES_PER_MESSAGE = 1000;
const CHANGE_KINDS: Record<Change['kind'], ChangeKind> = {
  A: ChangeKind.CHANGE_KIND_ADDED,
  C: ChangeKind.CHANGE_KIND_MODIFIED,
  D: ChangeKind.CHANGE_KIND_DELETED,
};

/** Settings of {@link createContainersService}. */
export interface ContainersServiceOptions {
  logger: Logger;
  /** Interval of streamed stats; 1 s by default. */
  statsIntervalMs?: number;
}

function exitToProto(exit: ExitStatus): ProtoExitStatus {
  return {
    exitCode: exit.exitCode,
    oomKilled: exit.oomKilled,
    finishedAt: exit.finishedAt === undefined ? undefined : new Date(exit.finishedAt),
    error: exit.error ?? '',
  };
}

function conditionOf(c: ProtoWaitCondition): WaitCondition {
  switch (c) {
    case ProtoWaitCondition.WAIT_CONDITION_UNSPECIFIED:
    case ProtoWaitCondition.WAIT_CONDITION_NOT_RUNNING:
      return 'not-running';
    case ProtoWaitCondition.WAIT_CONDITION_NEXT_EXIT:
      return 'next-exit';
    case ProtoWaitCondition.WAIT_CONDITION_REMOVED:
      return 'removed';
    default:
      throw invalidArgument(`unknown wait condition ${String(c)}`);
  }
}

/** Forwards a readable's chunks to send, one at a time; resolves when it ends. */
async function pump(stream: Readable, send: (chunk: Buffer) => Promise<void>): Promise<void> {
  for await (const chunk of stream) await send(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string));
}

/** An AbortSignal that fires when the call is cancelled or closed by the client. */
function callSignal(call: { on(event: 'cancelled' | 'close', fn: () => void): unknown }): AbortSignal {
  const ac = new AbortController();
  call.on('cancelled', () => ac.abort());
  call.on('close', () => ac.abort());
  return ac.signal;
}

/**
 * The `strata.containers.v1.Containers` gRPC service over manager. Errors
 * are the manager's, translated to gRPC statuses by grpc-kit; malformed
 * requests are INVALID_ARGUMENT. Attach answers first with an empty stdout
 * chunk once the attachment is in place: a client that waits for it before
 * calling Start sees all output. Logs with tail 0 (unset) returns every
 * record, like a negative tail.
 */
export function createContainersService(manager: ContainerManager, options: ContainersServiceOptions): ServiceRegistration {
  const logger = options.logger;
  const statsInterval = options.statsIntervalMs ?? 1000;
  return {
    definition: ContainersService,
    implementation: {
      create: unary(logger, async (req: { spec?: Parameters<typeof specFromProto>[0] }) => ({
        container: containerToProto(await manager.create(specFromProto(req.spec))),
      })),
      start: unary(logger, async (req: { id: string }) => ({ container: containerToProto(await manager.start(req.id)) })),
      stop: unary(logger, async (req: { id: string; timeoutSeconds?: number }) => ({
        container: containerToProto(await manager.stop(req.id, req.timeoutSeconds)),
      })),
      export: serverStream(logger, (req: { id: string }, call) => {
        const signal = callSignal(call);
        return (async function* (): AsyncGenerator<{ data: Buffer }> {
          const tar = await manager.exportFiles(req.id);
          signal.addEventListener('abort', () => tar.destroy(), { once: true });
          for await (const chunk of tar) yield { data: chunk as Buffer };
        })();
      }),
      statPath: unary(logger, async (req: { id: string; path: string }) => ({ stat: pathStatToProto(await manager.statPath(req.id, req.path)) })),
      copyFrom: serverStream(logger, (req: { id: string; path: string }, call) => {
        const signal = callSignal(call);
        return (async function* (): AsyncGenerator<CopyFromResponse> {
          const { stat, tar } = await manager.copyFrom(req.id, req.path);
          signal.addEventListener('abort', () => tar.destroy(), { once: true });
          try {
            yield { part: { $case: 'stat', value: pathStatToProto(stat) } };
            for await (const chunk of tar) yield { part: { $case: 'data', value: chunk as Buffer } };
          } finally {
            tar.destroy();
          }
        })();
      }),
      copyTo: bidiStream<CopyToRequest, CopyToResponse>(logger, async (requests, reply) => {
        const iterator = requests[Symbol.asyncIterator]();
        const first = await iterator.next();
        const header = first.done === true || first.value.part?.$case !== 'header' ? undefined : first.value.part.value;
        if (header === undefined) throw invalidArgument('the first message of CopyTo must be its header');
        const data = (async function* (): AsyncGenerator<Uint8Array> {
          for (let next = await iterator.next(); next.done !== true; next = await iterator.next()) {
            if (next.value.part?.$case !== 'data') throw invalidArgument('CopyTo takes one header, then data');
            yield next.value.part.value;
          }
        })();
        const entries = await manager.copyTo(header.id, header.path, data, { noOverwriteDirNonDir: header.noOverwriteDirNonDir, copyUidGid: header.copyUidGid });
        await reply({ entries });
      }),
      changes: serverStream(logger, (req: { id: string }) => {
        const changes = manager.changes(req.id);
        return (async function* (): AsyncGenerator<ChangesResponse> {
          const all = await changes;
          for (let i = 0; i < all.length; i += CHANGES_PER_MESSAGE) {
            yield { changes: all.slice(i, i + CHANGES_PER_MESSAGE).map((c) => ({ kind: CHANGE_KINDS[c.kind], path: c.path })) };
          }
        })();
      }),
      top: unary(logger, async (req: { id: string; psArgs: string[] }) => {
        const { titles, processes } = await manager.top(req.id, req.psArgs);
        return { titles, processes: processes.map((fields) => ({ fields })) };
      }),
      prune: unary(logger, async (req: { filters: string[] }) => {
        const { deleted, spaceReclaimed } = await manager.prune(req.filters);
        return { containersDeleted: deleted, spaceReclaimed };
      }),
      rename: unary(logger, async (req: { id: string; name: string }) => ({ container: containerToProto(await manager.rename(req.id, req.name)) })),
      pause: unary(logger, async (req: { id: string }) => ({ container: containerToProto(await manager.pause(req.id)) })),
      unpause: unary(logger, async (req: { id: string }) => ({ container: containerToProto(await manager.unpause(req.id)) })),
      kill: unary(logger, async (req: { id: string; signal: string }) => {
        await manager.kill(req.id, req.signal);
        return {};
      }),
      remove: unary(logger, async (req: { id: string; force: boolean; removeVolumes?: boolean }) => ({
        id: await manager.remove(req.id, req.force, { volumes: req.removeVolumes === true }),
      })),
      list: unary(logger, async (req: { all: boolean; filters: string[] }) => ({
        containers: manager.list({ all: req.all, filters: req.filters }).map(containerToProto),
      })),
      inspect: unary(logger, async (req: { id: string }) => ({ container: containerToProto(manager.inspect(req.id)) })),
      logs: serverStream(logger, (req: { id: string; follow: boolean; tail: number; since?: Date }, call) => {
        const signal = callSignal(call);
        const records = manager.logs(req.id, {
          follow: req.follow,
          ...(req.tail > 0 ? { tail: req.tail } : {}),
          ...(req.since === undefined ? {} : { since: req.since }),
          signal,
        });
        return (async function* () {
          for await (const r of records) {
            yield { stream: r.stream === 'stderr' ? Stream.STREAM_STDERR : Stream.STREAM_STDOUT, data: Buffer.from(r.log, 'utf8'), time: new Date(r.time) };
          }
        })();
      }),
      wait: unary(logger, async (req: { id: string; condition: ProtoWaitCondition }, call) => ({
        status: exitToProto(await manager.wait(req.id, conditionOf(req.condition), callSignal(call))),
      })),
      stats: serverStream(logger, (req: { ids: string[]; stream: boolean }, call) => {
        const signal = callSignal(call);
        return (async function* (): AsyncGenerator<StatsResponse> {
          for (;;) {
            yield { stats: await manager.stats(req.ids) };
            if (!req.stream || signal.aborted) return;
            await new Promise((r) => setTimeout(r, statsInterval));
            if (signal.aborted) return;
          }
        })();
      }),
      update: unary(logger, async (req: UpdateRequest) => {
        return {
          container: containerToProto(
            await manager.update(
              req.id,
              resourcesFromProto(req.resources),
              req.restartPolicy === undefined ? undefined : restartPolicyFromWire(req.restartPolicy),
            ),
          ),
        };
      }),
      commit: unary(logger, async (req: CommitRequest) => {
        const result = await manager.commit(req.id, {
          reference: req.reference,
          message: req.message,
          author: req.author,
          changes: req.changes,
          ...(req.pause === undefined ? {} : { pause: req.pause }),
        });
        return {
          imageId: result.imageId,
          manifestDigest: result.manifest.digest,
          reference: result.reference,
          layerDigest: result.layer.digest,
          diffId: result.diffId,
          layerSize: result.layer.size,
        };
      }),
      exec: bidiStream<ExecRequest, ExecResponse>(logger, async (requests, reply, call) => {
        const iterator = requests[Symbol.asyncIterator]();
        const first = await iterator.next();
        const start = first.done ? undefined : first.value.message;
        if (start?.$case !== 'start') throw invalidArgument('the first message of an Exec must be an ExecStart');
        const s = start.value;
        const exec = await manager.exec(s.id, {
          args: s.args,
          env: s.env,
          workingDir: s.workingDir,
          user: s.user,
          tty: s.tty,
          stdin: s.stdin,
          ...(s.size === undefined || s.size.cols === 0 ? {} : { size: s.size }),
        });
        const signal = callSignal(call);
        await reply({ message: { $case: 'started', value: { execId: exec.execId, pid: exec.pid } } });
        void (async () => {
          try {
            for (;;) {
              const n = await iterator.next();
              if (n.done) break;
              const m = n.value.message;
              if (m?.$case === 'stdin') exec.stdin.write(m.value);
              else if (m?.$case === 'closeStdin') exec.stdin.end();
              else if (m?.$case === 'resize') exec.resize(m.value.cols, m.value.rows);
            }
          } catch {
            /* the client went away; the process keeps its stdin until it ends */
          }
        })();
        signal.addEventListener('abort', () => exec.stdin.destroy(), { once: true });
        await Promise.all([
          pump(exec.stdout, (b) => reply({ message: { $case: 'stdout', value: b } })),
          pump(exec.stderr, (b) => reply({ message: { $case: 'stderr', value: b } })),
        ]);
        const exit = await exec.exited;
        await reply({ message: { $case: 'exit', value: exitToProto(exit) } });
      }),
      attach: bidiStream<AttachRequest, AttachResponse>(logger, async (requests, reply, call) => {
        const iterator = requests[Symbol.asyncIterator]();
        const first = await iterator.next();
        const open = first.done ? undefined : first.value.message;
        if (open?.$case !== 'open') throw invalidArgument('the first message of an Attach must be an AttachOpen');
        const signal = callSignal(call);
        const ready = () => void reply({ message: { $case: 'stdout', value: Buffer.alloc(0) } }).catch(() => undefined);
        // With start, a container that does not run gets its attachment connected by the start: the start is made
        // once the attachment is in place, and the attach settles with it. A failed start ends the call, which
        // drops the attachment.
        const attachAndStart = async (id: string): Promise<ContainerAttachment> => {
          let inPlace!: () => void;
          const placed = new Promise<void>((resolve) => (inPlace = resolve));
          const attaching = manager.attach(id, { signal, ready: inPlace });
          attaching.catch(() => undefined);
          await Promise.race([placed, attaching]);
          await manager.start(id);
          const started = await attaching;
          ready();
          return started;
        };
        const attachment = open.value.start ? await attachAndStart(open.value.id) : await manager.attach(open.value.id, { signal, ready });
        signal.addEventListener('abort', () => attachment.detach(), { once: true });
        void (async () => {
          try {
            for (;;) {
              const n = await iterator.next();
              if (n.done) break;
              const m = n.value.message;
              if (m?.$case === 'stdin' && open.value.stdin) attachment.stdin.write(m.value);
              else if (m?.$case === 'closeStdin' && open.value.stdin) attachment.stdin.end();
              else if (m?.$case === 'resize') attachment.resize(m.value.cols, m.value.rows);
            }
          } catch {
            /* the client went away: detach */
            attachment.detach();
          }
        })();
        await Promise.all([
          pump(attachment.stdout, (b) => reply({ message: { $case: 'stdout', value: b } })),
          pump(attachment.stderr, (b) => reply({ message: { $case: 'stderr', value: b } })),
        ]);
        const exit = await attachment.ended;
        if (exit !== undefined) await reply({ message: { $case: 'exit', value: exitToProto(exit) } });
      }),
    },
  };
}
