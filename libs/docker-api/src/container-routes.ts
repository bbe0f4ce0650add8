import { once } from 'node:events';
import type { ServerResponse } from 'node:http';
import { cpus } from 'node:os';
import { ChangeKind, ContainersService, ContainerStatus, Stream, WaitCondition, type Container, type TerminalSize } from '@strata/api/containers/v1';
import { ImagesService, type ContainerConfig } from '@strata/api/images/v1';
import { startFailureCode } from '@strata/containers';
import { isFailedPrecondition } from '@strata/kit';
import { createSpec, refuseUnsupported, resourcesOf, restartPolicyOf } from './create-spec.js';
import { inspectView, isRunning, listView } from './container-view.js';
import { dockerError } from './docker-error.js';
import { filterList, queryBool, queryFilters, queryInt } from './docker-query.js';
import type { DockerContext, DockerRoute } from './docker-router.js';
import { rfc3339Nano } from './human-time.js';
import { statsView, systemCpuNanos, type CpuReading } from './stats-view.js';
import { cancellableCall, cancellableUnary } from './rpc-call.js';
import { frame, openStdioCall, outputSink, pipeStdio, STDERR, STDOUT, stdioContentType, type StdioCall } from './stdio-stream.js';
import type { DockerApiDeps } from './index.js';

/** The `docker ps` filters the node-agent's List implements. */
const LIST_FILTERS = ['id', 'name', 'label', 'status', 'ancestor', 'exited'] as const;

/** Docker's other container list filters, which Strata does not implement. */
const DOCKER_ONLY_FILTERS = ['before', 'since', 'network', 'volume', 'health', 'publish', 'expose', 'isolation', 'is-task'];

const WAIT_CONDITIONS: Record<string, WaitCondition> = {
  '': WaitCondition.WAIT_CONDITION_NOT_RUNNING,
  'not-running': WaitCondition.WAIT_CONDITION_NOT_RUNNING,
  'next-exit': WaitCondition.WAIT_CONDITION_NEXT_EXIT,
  removed: WaitCondition.WAIT_CONDITION_REMOVED,
};

/** Refuses a query parameter Strata does not implement when it is set to anything but its zero value. */
function refuseQuery(query: URLSearchParams, name: string, why: string): void {
  const value = query.get(name);
  if (value !== null && !['', '0', 'false', 'False'].includes(value)) {
    throw dockerError(400, `unsupported query parameter ${name}: ${why}`);
  }
}

/** A Docker timestamp parameter (`since`, `until`): Unix seconds with an optional fraction; 0 or absent → undefined. */
function queryTime(query: URLSearchParams, name: string): Date | undefined {
  const value = query.get(name);
  if (value === null || value === '' || value === '0') return undefined;
  if (!/^\d+(\.\d{1,9})?$/.test(value)) {
    throw dockerError(400, `invalid value for query parameter ${name}: ${JSON.stringify(value)} is not a Unix timestamp in seconds`);
  }
  return new Date(Math.floor(Number(value) * 1000));
}

/** The terminal size of `?h=&w=`; DockerError 400 naming a bad or missing one. */
export function querySize(query: URLSearchParams): TerminalSize {
  const rows = queryInt(query, 'h', { min: 0, max: 65535 });
  const cols = queryInt(query, 'w', { min: 0, max: 65535 });
  if (rows === undefined || cols === undefined) throw dockerError(400, 'resize needs the query parameters h and w (rows and columns)');
  return { rows, cols };
}

/** Starts a 200 streaming response whose body is written as it comes. */
function startStream(res: ServerResponse, contentType: string): void {
  res.writeHead(200, { 'Content-Type': contentType });
  res.flushHeaders();
}

/** The open Attach calls per container id, for resize. */
class Attachments {
  private readonly calls = new Map<string, Set<StdioCall>>();

  add(id: string, call: StdioCall): () => void {
    let set = this.calls.get(id);
    if (set === undefined) this.calls.set(id, (set = new Set()));
    set.add(call);
    return () => {
      set.delete(call);
      if (set.size === 0 && this.calls.get(id) === set) this.calls.delete(id);
    };
  }

  any(id: string): StdioCall | undefined {
    const set = this.calls.get(id);
    return set === undefined ? undefined : [...set][0];
  }
}

/** Fields of `POST /containers/{id}/update` that are mapped onto the UpdateRequest. */
const UPDATE_FIELDS = new Set(['Memory', 'NanoCpus', 'CpuQuota', 'CpuPeriod', 'PidsLimit', 'CpuShares', 'CpusetCpus', 'CpusetMems', 'RestartPolicy']);

/**
 * The container endpoints: create, start, stop, restart, kill, wait, update,
 * attach (taken over with `101 UPGRADED`), resize, logs, inspect, list, delete, each
 * one or more Containers rpcs of the node-agent. Errors: the node-agent's
 * (NotFound "No such container: …" → 404, FailedPrecondition → 409,
 * InvalidArgument → 400; a failed start 400 or 500 as Docker's), and
 * DockerError 400 naming an unsupported field, filter or query parameter.
 */
export function containerRoutes(deps: DockerApiDeps): DockerRoute[] {
  const { containers } = deps;
  const attachments = new Attachments();

  async function inspect(id: string): Promise<Container> {
    const { container } = await containers.unary(ContainersService.inspect, { id });
    if (container === undefined) throw dockerError(404, `No such container: ${id}`);
    return container;
  }

  async function imageConfig(ref: string): Promise<ContainerConfig | undefined> {
    if (ref === '') return undefined;
    try {
      return (await deps.images.unary(ImagesService.inspect, { ref }, { deadline: Date.now() + 5_000 })).image?.config;
    } catch (err) {
      deps.logger.debug({ err, ref }, 'no image config for a container inspect');
      return undefined;
    }
  }

  async function create(ctx: DockerContext): Promise<void> {
    const body = await ctx.readJson<Record<string, unknown>>();
    const name = (ctx.query.get('name') ?? '').replace(/^\//, '');
    const platform = ctx.query.get('platform') ?? '';
    const host = body['HostConfig'];
    let imageExposedPorts: string[] | undefined;
    if (typeof host === 'object' && host !== null && (host as Record<string, unknown>)['PublishAllPorts'] === true && typeof body['Image'] === 'string') {
      const { image } = await deps.images.unary(ImagesService.inspect, { ref: body['Image'] });
      imageExposedPorts = image?.config?.exposedPorts ?? [];
    }
    const spec = createSpec({ body, name, platform, ...(imageExposedPorts === undefined ? {} : { imageExposedPorts }) });
    const { container } = await containers.unary(ContainersService.create, { spec });
    ctx.json(201, { Id: container?.id ?? '', Warnings: [] });
  }

  async function attach(ctx: DockerContext): Promise<void> {
    const { query } = ctx;
    refuseQuery(query, 'logs', 'attach replays no logs; use GET /containers/{id}/logs');
    if (query.get('detachKeys')) throw dockerError(400, 'unsupported query parameter detachKeys: detaching with keys is not implemented');
    const stdin = queryBool(query, 'stdin');
    const stdout = queryBool(query, 'stdout');
    const stderr = queryBool(query, 'stderr');
    if (!queryBool(query, 'stream')) throw dockerError(400, 'attach needs stream=1: only streaming attach is implemented');
    const container = await inspect(ctx.params['id'] as string);
    const tty = container.spec?.tty ?? false;
    const sink = outputSink({ tty, stdout, stderr });
    const call = openStdioCall(
      containers,
      containers.bidiStream(ContainersService.attach) as never,
      { message: { $case: 'open', value: { id: container.id, stdin } } },
      { onResponse: (r) => sink.write(r) },
    );
    const detach = attachments.add(container.id, call);
    try {
      // The attachment is in place once the agent answers: only then may the client start the container.
      await call.first;
      const socket = await ctx.hijack(stdioContentType(tty, ctx.apiVersion));
      sink.connect(socket);
      await pipeStdio({ socket, call, tty, stdin, stdout, stderr }).catch((err) => ctx.logger.debug({ err }, 'attach ended'));
    } finally {
      detach();
      call.cancel();
    }
  }

  async function resize(ctx: DockerContext): Promise<void> {
    const size = querySize(ctx.query);
    const container = await inspect(ctx.params['id'] as string);
    if (!isRunning(container.state)) throw dockerError(409, `Container ${container.id} is not running`);
    const open = attachments.any(container.id);
    if (open !== undefined) {
      open.send({ $case: 'resize', value: size });
    } else {
      // No client attached here: a short attachment carries the new size.
      const call = openStdioCall(containers, containers.bidiStream(ContainersService.attach) as never, { message: { $case: 'open', value: { id: container.id, stdin: false } } }, {
        onResponse: () => undefined,
      });
      try {
        await call.first;
        call.send({ $case: 'resize', value: size });
      } finally {
        call.cancel();
      }
    }
    ctx.json(200);
  }

  async function logs(ctx: DockerContext): Promise<void> {
    const { query } = ctx;
    const stdout = queryBool(query, 'stdout');
    const stderr = queryBool(query, 'stderr');
    if (!stdout && !stderr) throw dockerError(400, 'Bad parameters: you must choose at least one stream');
    const tailText = query.get('tail') ?? 'all';
    let tail = -1;
    if (tailText !== 'all' && tailText !== '') {
      if (!/^-?\d+$/.test(tailText)) throw dockerError(400, `invalid value for query parameter tail: ${JSON.stringify(tailText)} is not "all" or a number`);
      // Docker reads a negative tail as all (testcontainers' log wait strategy sends tail=-1).
      tail = tailText.startsWith('-') ? -1 : Math.min(Number(tailText), 2 ** 31 - 1);
    }
    let since = queryTime(query, 'since');
    // tail=0 is no recorded line (with follow: only what comes next), where the Containers API's tail 0 means all:
    // the records from now on instead.
    if (tail === 0) {
      since = new Date(Math.max(Date.now(), since?.getTime() ?? 0));
      tail = -1;
    }
    const until = queryTime(query, 'until');
    const follow = queryBool(query, 'follow');
    const timestamps = queryBool(query, 'timestamps');
    const container = await inspect(ctx.params['id'] as string);
    const tty = container.spec?.tty ?? false;
    const call = cancellableCall(containers, ContainersService.logs, {
      id: container.id,
      follow,
      tail,
      ...(since === undefined ? {} : { since }),
    });
    ctx.res.once('close', () => call.cancel());
    let started = false;
    try {
      for await (const record of call.responses) {
        if (!started) {
          startStream(ctx.res, stdioContentType(tty, ctx.apiVersion));
          started = true;
        }
        if (until !== undefined && record.time !== undefined && record.time > until) break;
        const isErr = record.stream === Stream.STREAM_STDERR;
        if ((isErr && !stderr) || (!isErr && !stdout)) continue;
        const data = timestamps && record.time !== undefined ? Buffer.concat([Buffer.from(`${rfc3339Nano(record.time)} `), record.data]) : Buffer.from(record.data);
        ctx.res.write(tty ? data : frame(isErr ? STDERR : STDOUT, data));
      }
    } finally {
      call.cancel();
    }
    if (!started) startStream(ctx.res, stdioContentType(tty, ctx.apiVersion));
    ctx.res.end();
  }

  /**
   * The error a failed start answers, as Docker's: a process that could not
   * be found or run (the record's exit code 127 or 126) is the client's
   * mistake, 400; any other failure of the runtime 500. A container dead or
   * being removed keeps the agent's 409.
   */
  async function startError(id: string, err: unknown): Promise<unknown> {
    if (!isFailedPrecondition(err)) return err;
    let exitCode = startFailureCode((err as Error).message);
    try {
      const state = (await inspect(id)).state;
      const status = state?.status;
      if (status === ContainerStatus.CONTAINER_STATUS_DEAD || status === ContainerStatus.CONTAINER_STATUS_REMOVING) return err;
      exitCode = state?.exitCode ?? exitCode;
    } catch {
      // Removed meanwhile (an auto-remove container): the message tells.
    }
    return dockerError(exitCode === 126 || exitCode === 127 ? 400 : 500, (err as Error).message, { cause: err });
  }

  /** `POST /containers/{id}/update`: resources (Memory, NanoCpus, CpuQuota/CpuPeriod, PidsLimit, CpuShares, CpusetCpus, CpusetMems) and RestartPolicy. */
  async function update(ctx: DockerContext): Promise<void> {
    const body = await ctx.readJson<Record<string, unknown>>();
    refuseUnsupported(body, UPDATE_FIELDS, '');
    const resources = resourcesOf(body);
    const restartPolicy = restartPolicyOf(body);
    await containers.unary(ContainersService.update, {
      id: ctx.params['id'] as string,
      ...(resources === undefined ? {} : { resources }),
      ...(restartPolicy === undefined ? {} : { restartPolicy }),
    });
    ctx.json(200, { Warnings: [] });
  }

  /** stop (304 when not running) or restart (`t`: seconds before SIGKILL; -1 or absent: the container's own). */
  async function stop(ctx: DockerContext, restart: boolean): Promise<void> {
    refuseQuery(ctx.query, 'signal', "the stop signal is the container's own (StopSignal at create)");
    const timeout = queryInt(ctx.query, 't', { min: -1, max: 2 ** 31 - 1 });
    const container = await inspect(ctx.params['id'] as string);
    if (!restart && !isRunning(container.state) && container.state?.status !== ContainerStatus.CONTAINER_STATUS_RESTARTING) {
      ctx.json(304);
      return;
    }
    await containers.unary(ContainersService.stop, { id: container.id, ...(timeout === undefined || timeout < 0 ? {} : { timeoutSeconds: timeout }) });
    if (restart) await containers.unary(ContainersService.start, { id: container.id });
    ctx.json(204);
  }

  async function wait(ctx: DockerContext): Promise<void> {
    const conditionText = ctx.query.get('condition') ?? '';
    const condition = WAIT_CONDITIONS[conditionText];
    if (condition === undefined) throw dockerError(400, `invalid condition: ${JSON.stringify(conditionText)} (not-running, next-exit or removed)`);
    const container = await inspect(ctx.params['id'] as string);
    const call = cancellableCall(containers, ContainersService.wait, { id: container.id, condition });
    // Docker answers the headers at once: a client starts the container only after its wait is in place.
    startStream(ctx.res, 'application/json');
    ctx.res.once('close', () => call.cancel());
    let body: unknown;
    try {
      const { status } = await cancellableUnary(call);
      // Docker's answer carries the container's error (why its last start failed) when it has one.
      body = { StatusCode: status?.exitCode ?? 0, Error: status?.error ? { Message: status.error } : null };
    } catch (err) {
      if (ctx.res.destroyed) return;
      body = { StatusCode: -1, Error: { Message: (err as Error).message } };
    }
    ctx.res.end(`${JSON.stringify(body)}\n`);
  }

  async function list(ctx: DockerContext): Promise<void> {
    const { query } = ctx;
    refuseQuery(query, 'size', 'container sizes are not computed');
    const limit = queryInt(query, 'limit', { min: -1 });
    const filters = queryFilters(query);
    for (const name of filters.keys()) {
      if ((LIST_FILTERS as readonly string[]).includes(name)) continue;
      if (DOCKER_ONLY_FILTERS.includes(name)) {
        throw dockerError(400, `unsupported filter '${name}': Strata's container list filters by ${LIST_FILTERS.join(', ')}`);
      }
      throw dockerError(400, `invalid filter '${name}'`);
    }
    const all = queryBool(query, 'all') || filters.has('status') || (limit !== undefined && limit > 0);
    const { containers: found } = await containers.unary(ContainersService.list, {
      all,
      filters: [...filters].flatMap(([key, values]) => values.map((v) => `${key}=${v}`)),
    });
    const now = new Date();
    const shown = limit !== undefined && limit > 0 ? found.slice(0, limit) : found;
    ctx.json(
      200,
      shown.map((c) => listView(c, now)),
    );
  }

  return [
    { method: 'POST', path: '/containers/create', handle: create },
    { method: 'GET', path: '/containers/json', handle: list },
    {
      method: 'GET',
      path: '/containers/{id}/json',
      async handle(ctx) {
        refuseQuery(ctx.query, 'size', 'container sizes are not computed');
        const container = await inspect(ctx.params['id'] as string);
        ctx.json(200, inspectView(container, await imageConfig(container.imageId)));
      },
    },
    {
      method: 'POST',
      path: '/containers/{id}/start',
      async handle(ctx) {
        if (ctx.query.get('detachKeys')) throw dockerError(400, 'unsupported query parameter detachKeys: detaching with keys is not implemented');
        const container = await inspect(ctx.params['id'] as string);
        if (isRunning(container.state) || container.state?.status === ContainerStatus.CONTAINER_STATUS_RESTARTING) {
          ctx.json(304);
          return;
        }
        // An auto-remove container whose process cannot start is removed by the agent before Start answers, as
        // Docker's daemon does: a client waiting for "removed" ends then.
        try {
          await containers.unary(ContainersService.start, { id: container.id });
        } catch (err) {
          throw await startError(container.id, err);
        }
        ctx.json(204);
      },
    },
    { method: 'POST', path: '/containers/{id}/stop', handle: (ctx) => stop(ctx, false) },
    { method: 'POST', path: '/containers/{id}/restart', handle: (ctx) => stop(ctx, true) },
    {
      method: 'POST',
      path: '/containers/{id}/kill',
      async handle(ctx) {
        await containers.unary(ContainersService.kill, { id: ctx.params['id'] as string, signal: ctx.query.get('signal') ?? '' });
        ctx.json(204);
      },
    },
    ...(['pause', 'unpause'] as const).map((action) => ({
      method: 'POST' as const,
      path: `/containers/{id}/${action}`,
      async handle(ctx: Parameters<typeof wait>[0]) {
        await containers.unary(ContainersService[action], { id: ctx.params['id'] as string });
        ctx.json(204);
      },
    })),
    { method: 'POST', path: '/containers/{id}/wait', handle: wait },
    { method: 'POST', path: '/containers/{id}/update', handle: update },
    { method: 'POST', path: '/containers/{id}/attach', handle: attach },
    { method: 'POST', path: '/containers/{id}/resize', handle: resize },
    { method: 'GET', path: '/containers/{id}/logs', handle: logs },
    {
      method: 'POST',
      path: '/containers/prune',
      async handle(ctx) {
        const filters = filterList(ctx.query, ['label', 'label!', 'until']);
        const { containersDeleted, spaceReclaimed } = await containers.unary(ContainersService.prune, { filters });
        ctx.json(200, { ContainersDeleted: containersDeleted, SpaceReclaimed: spaceReclaimed });
      },
    },
    {
      method: 'POST',
      path: '/containers/{id}/rename',
      async handle(ctx) {
        await containers.unary(ContainersService.rename, { id: ctx.params['id'] as string, name: ctx.query.get('name') ?? '' });
        ctx.json(204);
      },
    },
    {
      method: 'GET',
      path: '/containers/{id}/stats',
      async handle(ctx) {
        // Docker streams by default; stream=false answers one sample that has a reading before it (CPU % needs two),
        // one-shot=true the first sample at once.
        const stream = ctx.query.get('stream') === null || queryBool(ctx.query, 'stream');
        const oneShot = !stream && queryBool(ctx.query, 'one-shot');
        const container = await inspect(ctx.params['id'] as string);
        const call = cancellableCall(containers, ContainersService.stats, { ids: [container.id], stream: !oneShot });
        ctx.res.once('close', () => call.cancel());
        let previous: { read: string; reading: CpuReading } | undefined;
        let started = false;
        try {
          for await (const { stats } of call.responses) {
            const sample = stats[0];
            if (sample === undefined) break;
            const reading = { totalUsage: sample.cpuUsageNanos, systemUsage: await systemCpuNanos(), onlineCpus: cpus().length };
            const read = new Date().toISOString();
            const view = statsView(sample, reading, previous, read);
            const first = previous === undefined;
            previous = { read, reading };
            if (first && !stream && !oneShot) continue;
            if (!started) startStream(ctx.res, 'application/json');
            started = true;
            ctx.res.write(`${JSON.stringify(view)}\n`);
            if (!stream) break;
          }
        } finally {
          call.cancel();
        }
        if (!started) startStream(ctx.res, 'application/json');
        ctx.res.end();
      },
    },
    {
      method: 'GET',
      path: '/containers/{id}/export',
      async handle(ctx) {
        const call = cancellableCall(containers, ContainersService.export, { id: ctx.params['id'] as string });
        ctx.res.once('close', () => call.cancel());
        let started = false;
        try {
          // The head goes with the first piece, so that a refusal before it is still a Docker error.
          for await (const { data } of call.responses) {
            if (!started) ctx.res.writeHead(200, { 'Content-Type': 'application/x-tar' });
            started = true;
            if (!ctx.res.write(data)) await once(ctx.res, 'drain');
          }
        } finally {
          call.cancel();
        }
        if (!started) ctx.res.writeHead(200, { 'Content-Type': 'application/x-tar' });
        ctx.res.end();
      },
    },
    {
      method: 'GET',
      path: '/containers/{id}/changes',
      async handle(ctx) {
        // Docker's kinds: 0 modified, 1 added, 2 deleted.
        const kinds: Partial<Record<number, number>> = { [ChangeKind.CHANGE_KIND_MODIFIED]: 0, [ChangeKind.CHANGE_KIND_ADDED]: 1, [ChangeKind.CHANGE_KIND_DELETED]: 2 };
        const changes: Array<{ Path: string; Kind: number }> = [];
        for await (const batch of containers.serverStream(ContainersService.changes, { id: ctx.params['id'] as string })) {
          for (const c of batch.changes) changes.push({ Path: c.path, Kind: kinds[c.kind] ?? 0 });
        }
        ctx.json(200, changes);
      },
    },
    {
      method: 'GET',
      path: '/containers/{id}/top',
      async handle(ctx) {
        // The docker CLI sends the ps options joined with spaces, as the daemon splits them.
        const psArgs = (ctx.query.get('ps_args') ?? '').split(' ').filter((a) => a !== '');
        const top = await containers.unary(ContainersService.top, { id: ctx.params['id'] as string, psArgs });
        ctx.json(200, { Titles: top.titles, Processes: top.processes.map((p) => p.fields) });
      },
    },
    {
      method: 'DELETE',
      path: '/containers/{id}',
      async handle(ctx) {
        refuseQuery(ctx.query, 'link', 'links are not implemented');
        const force = queryBool(ctx.query, 'force');
        const removeVolumes = queryBool(ctx.query, 'v');
        await containers.unary(ContainersService.remove, { id: ctx.params['id'] as string, force, ...(removeVolumes ? { removeVolumes } : {}) });
        ctx.json(204);
      },
    },
  ];
}
