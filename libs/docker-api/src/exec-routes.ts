import { randomBytes } from 'node:crypto';
import { ContainerStatus, ContainersService, type TerminalSize } from '@strata/api/containers/v1';
import { querySize } from './container-routes.js';
import { isRunning } from './container-view.js';
import { dockerError } from './docker-error.js';
import type { DockerContext, DockerRoute } from './docker-router.js';
import { frame, openStdioCall, outputSink, STDOUT, pipeStdio, stdioContentType, type StdioCall } from './stdio-stream.js';
import type { DockerApiDeps } from './index.js';

/** The exit code Docker records for an exec whose command could not be invoked (permission denied, a directory…). */
export const EXEC_CANNOT_INVOKE = 126;

/** The exit code Docker records for an exec whose command does not exist. */
export const EXEC_NOT_FOUND = 127;

/**
 * The exit code Docker (moby's translateContainerdStartErr) records for an
 * exec that failed to start with message: 127 when the command was not found
 * (`executable file not found`, `no such file or directory`), 126 otherwise.
 */
export function execStartExitCode(message: string): number {
  return /executable file not found|no such file or directory/i.test(message) ? EXEC_NOT_FOUND : EXEC_CANNOT_INVOKE;
}

/** Exec instances kept for inspect; the oldest ended ones go first beyond this. */
export const MAX_EXEC_RECORDS = 1000;

/** An exec instance between `POST /containers/{id}/exec` and its inspect. */
interface ExecRecord {
  id: string;
  containerId: string;
  cmd: string[];
  env: string[];
  workingDir: string;
  user: string;
  tty: boolean;
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  size?: TerminalSize;
  started: boolean;
  running: boolean;
  exitCode: number | null;
  pid: number;
  call?: StdioCall;
}

type Json = Record<string, unknown>;

const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === 'string');

function optional<T>(body: Json, name: string, check: (v: unknown) => v is T, what: string): T | undefined {
  const value = body[name];
  if (value === undefined || value === null) return undefined;
  if (!check(value)) throw dockerError(400, `invalid ${name}: expected ${what}`);
  return value;
}

const isString = (v: unknown): v is string => typeof v === 'string';
const isBool = (v: unknown): v is boolean => typeof v === 'boolean';
const isSize = (v: unknown): v is [number, number] => Array.isArray(v) && v.length === 2 && v.every((n) => Number.isInteger(n) && n >= 0 && n <= 65535);

const EXEC_FIELDS = new Set(['AttachStdin', 'AttachStdout', 'AttachStderr', 'Tty', 'Env', 'Cmd', 'WorkingDir', 'User', 'ConsoleSize', 'Privileged', 'DetachKeys', 'Detach']);

function sizeOf(value: [number, number] | undefined): TerminalSize | undefined {
  return value === undefined || (value[0] === 0 && value[1] === 0) ? undefined : { rows: value[0], cols: value[1] };
}

/**
 * The exec endpoints: create (kept here until started), start (the
 * node-agent's Exec stream: taken over with `101 UPGRADED` for an upgrade
 * request, a streamed 200 otherwise, or run detached), resize and inspect
 * (Running, ExitCode, Pid, ProcessConfig). NotFound "No such exec instance"
 * → 404; 409 for a container that is not running or an exec started twice;
 * DockerError 400 naming a malformed or unsupported field.
 */
export function execRoutes(deps: DockerApiDeps): DockerRoute[] {
  const { containers } = deps;
  const records = new Map<string, ExecRecord>();

  function find(id: string): ExecRecord {
    const record = records.get(id);
    if (record === undefined) throw dockerError(404, `No such exec instance: ${id}`);
    return record;
  }

  function keep(record: ExecRecord): void {
    records.set(record.id, record);
    if (records.size <= MAX_EXEC_RECORDS) return;
    for (const [id, old] of records) {
      if (!old.running && old.started) {
        records.delete(id);
        if (records.size <= MAX_EXEC_RECORDS) return;
      }
    }
  }

  async function create(ctx: DockerContext): Promise<void> {
    const body = await ctx.readJson<Json>();
    for (const [key, value] of Object.entries(body)) {
      if (!EXEC_FIELDS.has(key)) throw dockerError(400, `unsupported option ${key}: Strata's Docker API does not implement it for exec`);
      if (key === 'Privileged' && value === true) throw dockerError(400, 'unsupported option Privileged: privileged exec is not implemented');
      if (key === 'DetachKeys' && value) throw dockerError(400, 'unsupported option DetachKeys: detaching with keys is not implemented');
    }
    const cmd = optional(body, 'Cmd', isStrings, 'a list of strings') ?? [];
    if (cmd.length === 0) throw dockerError(400, 'No exec command specified');
    const { container } = await containers.unary(ContainersService.inspect, { id: ctx.params['id'] as string });
    if (container === undefined || !isRunning(container.state)) {
      throw dockerError(409, `Container ${container?.id ?? ctx.params['id']} is not running`);
    }
    if (container.state?.status === ContainerStatus.CONTAINER_STATUS_PAUSED) {
      throw dockerError(409, `Container ${container.id} is paused, unpause the container before exec`);
    }
    const size = sizeOf(optional(body, 'ConsoleSize', isSize, 'a [height, width] pair'));
    const record: ExecRecord = {
      id: randomBytes(32).toString('hex'),
      containerId: container.id,
      cmd,
      env: optional(body, 'Env', isStrings, 'a list of "KEY=value" strings') ?? [],
      workingDir: optional(body, 'WorkingDir', isString, 'a string') ?? '',
      user: optional(body, 'User', isString, 'a string') ?? '',
      tty: optional(body, 'Tty', isBool, 'a boolean') ?? false,
      stdin: optional(body, 'AttachStdin', isBool, 'a boolean') ?? false,
      stdout: optional(body, 'AttachStdout', isBool, 'a boolean') ?? false,
      stderr: optional(body, 'AttachStderr', isBool, 'a boolean') ?? false,
      ...(size === undefined ? {} : { size }),
      started: false,
      running: false,
      exitCode: null,
      pid: 0,
    };
    keep(record);
    ctx.json(201, { Id: record.id });
  }

  async function start(ctx: DockerContext): Promise<void> {
    const record = find(ctx.params['id'] as string);
    const body = await ctx.readJson<Json>();
    const detach = optional(body, 'Detach', isBool, 'a boolean') ?? false;
    const tty = optional(body, 'Tty', isBool, 'a boolean') ?? record.tty;
    const size = sizeOf(optional(body, 'ConsoleSize', isSize, 'a [height, width] pair')) ?? record.size;
    if (record.started) throw dockerError(409, `exec ${record.id} has already been started`);
    record.started = true;
    const stdin = record.stdin && !detach;
    const sink = outputSink({ tty, stdout: record.stdout && !detach, stderr: record.stderr && !detach });
    const call = openStdioCall(
      containers,
      containers.bidiStream(ContainersService.exec) as never,
      {
        message: {
          $case: 'start',
          value: { id: record.containerId, args: record.cmd, env: record.env, workingDir: record.workingDir, user: record.user, tty, stdin, ...(size === undefined ? {} : { size }) },
        },
      },
      {
        onResponse(response) {
          const m = response.message;
          if (m?.$case === 'started') {
            record.pid = m.value.pid;
            record.running = true;
          } else if (m?.$case === 'exit') {
            record.exitCode = m.value.exitCode;
            record.running = false;
          }
          sink.write(response);
        },
      },
    );
    record.call = call;
    const settle = call.exited.then(
      () => undefined,
      (err: unknown) => {
        record.running = false;
        ctx.logger.debug({ err, exec: record.id }, 'exec ended without an exit status');
      },
    );
    try {
      await call.first;
    } catch (err) {
      record.running = false;
      if (detach) throw err;
      // Docker's way for a process that cannot start (with or without an upgrade): the message on the
      // taken-over stream, exit code 127 (not found) or 126; testcontainers' port wait strategy relies on it.
      record.exitCode = execStartExitCode((err as Error).message);
      const socket = await ctx.hijack(stdioContentType(tty, ctx.apiVersion));
      const text = Buffer.from(`${(err as Error).message}\r\n`);
      socket.end(tty ? text : frame(STDOUT, text));
      return;
    }
    if (detach) {
      if (!stdin) call.send({ $case: 'closeStdin', value: true });
      ctx.json(200);
      return;
    }
    const socket = await ctx.hijack(stdioContentType(tty, ctx.apiVersion));
    sink.connect(socket);
    await pipeStdio({ socket, call, tty, stdin, stdout: record.stdout, stderr: record.stderr }).catch(() => undefined);
    await settle;
    delete record.call;
  }

  return [
    { method: 'POST', path: '/containers/{id}/exec', handle: create },
    { method: 'POST', path: '/exec/{id}/start', handle: start },
    {
      method: 'POST',
      path: '/exec/{id}/resize',
      async handle(ctx) {
        const size = querySize(ctx.query);
        const record = find(ctx.params['id'] as string);
        if (!record.started) record.size = size;
        else record.call?.send({ $case: 'resize', value: size });
        ctx.json(200);
      },
    },
    {
      method: 'GET',
      path: '/exec/{id}/json',
      async handle(ctx) {
        const r = find(ctx.params['id'] as string);
        ctx.json(200, {
          ID: r.id,
          Running: r.running,
          ExitCode: r.running || !r.started ? null : r.exitCode,
          ProcessConfig: { tty: r.tty, entrypoint: r.cmd[0], arguments: r.cmd.slice(1), privileged: false, user: r.user },
          OpenStdin: r.stdin,
          OpenStderr: r.stderr,
          OpenStdout: r.stdout,
          CanRemove: false,
          ContainerID: r.containerId,
          DetachKeys: '',
          Pid: r.pid,
        });
      },
    },
  ];
}
