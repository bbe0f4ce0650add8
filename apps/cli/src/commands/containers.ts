import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { ClientDuplexStream } from '@grpc/grpc-js';
import type { Container, ContainersService, ContainerSpec, ExitStatus } from '@strata/api/containers/v1';
import type { RpcClient } from '@strata/grpc-kit';
import { failedPrecondition, invalidArgument, isNotFound, isStrataError, isUnavailable, notFound } from '@strata/kit';
import { parseReference } from '@strata/oci';
import { defineCommand, type CliIo } from '../framework/command.js';
import { flags, parseArgs } from '../framework/flags.js';
import { parseDetachKeys } from './detach-keys.js';
import { alignColumns, formatTable } from '../framework/table.js';
import { fleetFlags, type FleetFlagValues, type NodeClients } from '../fleet/node-clients.js';
import type { PlacementFlagValues } from '../fleet/placed-node.js';
import { printInspected, printList } from '../framework/output-format.js';
import { inspectFormatFlag, listFormatFlag, printJson, runDirFlag } from './common-flags.js';
import {
  EXIT_CLI_ERROR,
  checkPsFilter,
  checkedFlag,
  commandFailureExitCode,
  containerFlags,
  envFlag,
  notATerminal,
  parseEnvEntry,
  parseSignal,
  parseTail,
  resourceFlags,
  restartFlag,
} from './container-options.js';
import type { Session, SessionOptions, SessionRequest, SessionResponse } from './container-session.js';
import type { SpecFlagValues } from './container-spec.js';
import { checkImageName } from './image-views.js';
import { pullCommand } from './images.js';

/** File name of the node-agent's gRPC socket under the run dir. */
export const NODE_AGENT_SOCKET = 'node-agent.sock';

/** Exit codes of `run` and `create`: Docker's 125 for the CLI's and the daemon's errors, 126/127 for a command that cannot run. */
const runExitCodes = { usage: EXIT_CLI_ERROR, failure: (err: unknown) => commandFailureExitCode(err) };
/** Exit codes of the other container commands: 125 for a wrong command line, 1 for a failure. */
const containerExitCodes = { usage: EXIT_CLI_ERROR };

/**
 * The Containers client of the node-agent under runDir and the method
 * definitions, closed after fn; gRPC and the generated code load only here.
 */
async function withContainers<T>(runDir: string, fn: (client: RpcClient, api: ContainersService) => Promise<T>): Promise<T> {
  const [{ createClient }, { ContainersService: api }] = await Promise.all([import('../framework/rpc-client.js'), import('@strata/api/containers/v1')]);
  const client = createClient({ unixSocket: join(resolve(runDir), NODE_AGENT_SOCKET) });
  try {
    return await fn(client, api);
  } finally {
    client.close();
  }
}

/** Runs op with the Containers client of the node that has container ref. */
export type OnNode = <T>(ref: string, op: (client: RpcClient) => Promise<T>) => Promise<T>;

/**
 * Runs fn with a router of container calls over the fleet and the method
 * definitions; the clients are closed after fn. The router calls the local
 * node-agent first; when it has no such container (or cannot be reached)
 * and a client certificate is configured, it asks the other ready nodes in
 * parallel which one has it and makes the call there. When no node has it,
 * the local agent's error stands.
 */
export async function withFleet<T>(
  f: FleetFlagValues & { runDir: string },
  io: CliIo,
  fn: (on: OnNode, api: ContainersService, fleet: NodeClients) => Promise<T>,
): Promise<T> {
  const [{ nodeClientsFromFlags, isElsewhere }, { ContainersService: api }] = await Promise.all([
    import('../fleet/node-clients.js'),
    import('@strata/api/containers/v1'),
  ]);
  const fleet = await nodeClientsFromFlags(f, io.env);
  const on: OnNode = async (ref, op) => {
    try {
      return await op(await fleet.local());
    } catch (err) {
      if (!fleet.canReachFleet || !isElsewhere(err)) throw err;
      let found: Awaited<ReturnType<NodeClients['locate']>>;
      try {
        found = await fleet.locate(ref);
      } catch (lookup) {
        if (isNotFound(lookup) && isNotFound(err)) throw lookup;
        if (isStrataError(lookup) && lookup.kind === 'InvalidArgument') throw lookup;
        throw err;
      }
      return op(found.client);
    }
  };
  try {
    return await fn(on, api, fleet);
  } finally {
    await fleet.close();
  }
}

/**
 * Runs fn for each name, printing each failure on stderr and going on with
 * the others, as `docker stop a b` does; resolves with 1 when one failed.
 * An unreachable agent ends it at once.
 */
async function forEach(io: CliIo, names: readonly string[], fn: (name: string) => Promise<void>): Promise<number> {
  let failed = false;
  for (const name of names) {
    try {
      await fn(name);
    } catch (err) {
      if (!isStrataError(err) || err.kind === 'Unavailable') throw err;
      io.stderr.write(`strata: ${err.message}\n`);
      failed = true;
    }
  }
  return failed ? 1 : 0;
}

/** True when text is an image id rather than a reference, which is never pulled. */
const isImageId = (text: string) => /^(?:sha256:)?[a-f0-9]{12,64}$/.test(text) && !text.includes('/');

/**
 * Pulls image for `run`/`create` as `docker run` does: `Unable to find image
 * 'X' locally`, then the pull command's progress, all on stderr. The pull
 * goes through the registry-mirror under runDir (the fleet's, shared by
 * every node); unpack false leaves the unpacking to the agent of another
 * node that creates the container.
 */
async function pullForRun(io: CliIo, image: string, platform: string | undefined, runDir: string, unpack: boolean, missing = true): Promise<void> {
  const familiar = parseReference(image).familiar();
  if (missing) io.stderr.write(`Unable to find image '${familiar}' locally\n`);
  const argv = [familiar, '--run-dir', runDir, ...(platform === undefined ? [] : ['--platform', platform]), ...(unpack ? [] : ['--no-unpack'])];
  const parsed = parseArgs(argv, pullCommand.flags, { env: {} });
  const toStderr: CliIo['stdout'] = { write: (chunk) => io.stderr.write(chunk), isTTY: io.stdout.isTTY, columns: io.stdout.columns };
  await pullCommand.run({ flags: parsed.flags, args: parsed.args, io: { ...io, stdout: toStderr } });
}

/**
 * Creates the container of spec through client (the agent of the node it
 * goes to; local: this host's), pulling its image through this host's
 * registry-mirror as `--pull` says, as the docker CLI does: `missing` (the
 * default) when the mirror does not have it, `always` first (an image id
 * is never pulled), `never` not at all (the node's "No such image" stands).
 */
async function createContainer(
  client: RpcClient,
  api: ContainersService,
  spec: ContainerSpec,
  io: CliIo,
  options: { runDir: string; local?: boolean; pull?: 'missing' | 'always' | 'never' },
): Promise<Container> {
  const { runDir, local = true, pull = 'missing' } = options;
  if (pull === 'always' && !isImageId(spec.image)) await pullForRun(io, spec.image, spec.platform || undefined, runDir, local, false);
  try {
    return (await client.unary(api.create, { spec })).container!;
  } catch (err) {
    if (pull !== 'missing' || !isNotFound(err) || !err.message.startsWith('No such image') || isImageId(spec.image)) throw err;
  }
  await pullForRun(io, spec.image, spec.platform || undefined, runDir, local);
  return (await client.unary(api.create, { spec })).container!;
}

/**
 * Runs fn with the Containers client of the node the container of spec
 * goes to (see PlacementMode in fleet/placed-node.ts): without placement
 * flags and without a client certificate, this host's agent, with no call
 * to Placement; otherwise the node the local agent's Placement chooses.
 * The clients are closed after fn.
 */
async function withPlacedNode<T>(
  f: FleetFlagValues & PlacementFlagValues & { runDir: string },
  io: CliIo,
  spec: ContainerSpec,
  fn: (client: RpcClient, api: ContainersService, local: boolean) => Promise<T>,
): Promise<T> {
  const { placementMode, placeContainer } = await import('../fleet/placed-node.js');
  const mode = placementMode(f, io.env);
  if (mode !== 'local') {
    const [placed, { ContainersService: api }] = await Promise.all([
      placeContainer(mode, f, { memoryBytes: spec.resources?.memoryBytes, cpus: spec.resources?.cpus, containerName: spec.name || undefined }, io.env, (line) =>
        io.stderr.write(line),
      ),
      import('@strata/api/containers/v1'),
    ]);
    if (placed !== undefined) {
      try {
        return await fn(placed.client, api, placed.local);
      } finally {
        await placed.fleet.close();
      }
    }
  }
  return withContainers(f.runDir, (client, api) => fn(client, api, true));
}

/** The `--env-file` files read, for the spec; InvalidArgument naming a file that cannot be read. */
async function readEnvFiles(paths: readonly string[]): Promise<Array<{ path: string; text: string }>> {
  return Promise.all(
    paths.map(async (path) => {
      try {
        return { path, text: await readFile(path, 'utf8') };
      } catch (err) {
        throw invalidArgument(`cannot read --env-file ${path}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`);
      }
    }),
  );
}

/** The spec `run`/`create` ask for, checked before any call. */
async function specOf(io: CliIo, args: readonly string[], f: SpecFlagValues & { envFile: string[] }): Promise<ContainerSpec> {
  const [image, ...command] = args;
  const { buildContainerSpec, readSeccompProfiles } = await import('./container-spec.js');
  const securityOpt = await readSeccompProfiles(f.securityOpt ?? [], (path) => readFile(path, 'utf8'));
  return buildContainerSpec({ image: checkImageName(image!), command, flags: { ...f, securityOpt }, envFiles: await readEnvFiles(f.envFile), env: io.env });
}

/** Opens an Attach or Exec stream on the CLI's stdio (the session module loads only here). */
async function session<Req extends SessionRequest, Res extends SessionResponse>(
  client: RpcClient,
  call: ClientDuplexStream<Req, Res>,
  first: Req,
  options: SessionOptions,
): Promise<Session> {
  const { openSession } = await import('./container-session.js');
  return openSession(client, call as unknown as ClientDuplexStream<SessionRequest, SessionResponse>, first, options);
}

/**
 * Attaches to a container and streams its output until it exits, as
 * `docker attach` does; with start, to a created (or exited) one that it
 * then starts, as foreground `docker run` and `docker start -a` do.
 * Resolves with its exit code, or 0 once the detach keys (Ctrl-P Ctrl-Q by
 * default, with a TTY and stdin) were typed: the container keeps running.
 * Without a TTY the CLI's signals go to the container; with one, the local
 * terminal is raw until the end.
 */
async function attachTo(
  client: RpcClient,
  api: ContainersService,
  io: CliIo,
  container: { id: string; tty: boolean; stdin: boolean; start: boolean; autoRemove?: boolean; detachKeys?: Uint8Array | undefined },
): Promise<number> {
  const { id, tty, start } = container;
  // As Docker's CLI does for --rm: the command ends once the agent has removed the container (its name is free
  // again), not at its exit. The wait is asked before Start, so the removal cannot come first.
  const removed = container.autoRemove === true ? waitRemoved(client, api, id) : undefined;
  // Docker's hijack-then-start in one round trip: the agent registers the attachment, then starts the container
  // (connecting the attachment when Start creates the process, before that process runs), then answers.
  const s = await session(client, client.bidiStream(api.attach), { message: { $case: 'open', value: { id, stdin: container.stdin, start } } }, {
    io,
    tty,
    stdin: container.stdin,
    detachKeys: container.detachKeys,
    ...(tty ? {} : { proxySignal: (signal) => void client.unary(api.kill, { id, signal }).catch(() => undefined) }),
  });
  try {
    await s.attached;
    s.connect();
    s.sendSize();
    const status: ExitStatus | undefined = await Promise.race([s.exited, s.detached.then(() => undefined)]);
    if (status === undefined) return 0;
    const removal = await removed;
    if (removal !== undefined) throw removal;
    return status.exitCode;
  } finally {
    s.close();
  }
}

/**
 * Settles once container id is removed, with undefined (also when it is
 * gone already) or the error the agent's wait ended with (its removal
 * failed); never rejects.
 */
async function waitRemoved(client: RpcClient, api: ContainersService, id: string): Promise<Error | undefined> {
  const { WaitCondition } = await import('@strata/api/containers/v1');
  return client.unary(api.wait, { id, condition: WaitCondition.WAIT_CONDITION_REMOVED }).then(
    () => undefined,
    (err: Error) => (isNotFound(err) ? undefined : err),
  );
}

/** How `run` and `create` choose the node, for their help. */
const RESTART_HELP =
  '--restart always|unless-stopped|on-failure[:N] has the node-agent start the container again when it exits, as ' +
  "Docker's daemon does: after 100 ms, doubled after each restart up to a minute (100 ms again after a run of 10 s); " +
  'stop, kill and rm cancel it, unless-stopped stays stopped after a stop, on-failure only after a non-zero exit and ' +
  'at most N times (RestartCount in inspect). When the node-agent starts, it starts always containers, unless-stopped ' +
  'ones not stopped by hand and on-failure ones that failed. ';

const PLACEMENT_HELP =
  'With --node, --constraint or --strategy, or when a client certificate of the fleet CA is configured, the local ' +
  "node-agent's Placement chooses the node (by default the one with most free memory, counting --memory and --cpus) " +
  'and the container is made there; otherwise on this node. Nothing fits: exit 125 with what failed on each node.';

const detachFlag = flags.switch('Run container in background and print container ID', { short: 'd' });
/** `--detach-keys` of run, start, attach and exec. */
const detachKeysFlag = checkedFlag('Override the key sequence for detaching a container (ctrl-p,ctrl-q by default)', parseDetachKeys, {
  placeholder: 'KEYS',
});

/** `strata run IMAGE [CMD…]`: create and start a container, as `docker run`. */
export const runCommand = defineCommand({
  name: 'run',
  summary: 'Create and run a new container from an image',
  description:
    'Creates a container from IMAGE (pulled through the registry-mirror when it is not there yet) and starts it. In ' +
    "the foreground the CLI attaches first, streams the container's output and exits with its exit code; -d prints " +
    "the container's full id instead. -it gives the container a terminal: local keys (Ctrl-C included) and window " +
    'size go to it; Ctrl-P Ctrl-Q (or --detach-keys) detaches and leaves it running. Without -t, SIGINT and SIGTERM to the CLI go to the container. Errors of the CLI or the node-agent ' +
    'exit with 125, a command that cannot run with 126, one not found with 127; as with Docker, the container of such ' +
    'a command stays (created, with that exit code and the error in ps and inspect) unless --rm. ' +
    'In the foreground the CLI ends at the first exit, as with Docker. ' +
    RESTART_HELP +
    PLACEMENT_HELP,
  usage: 'IMAGE [COMMAND] [ARG...]',
  minArgs: 1,
  maxArgs: Number.MAX_SAFE_INTEGER,
  interspersed: false,
  exitCodes: runExitCodes,
  flags: { detach: detachFlag, detachKeys: detachKeysFlag, ...containerFlags, runDir: runDirFlag, ...fleetFlags },
  async run({ flags: f, args, io }) {
    if (f.interactive && f.tty && !f.detach && io.stdin !== undefined && io.stdin.isTTY !== true) {
      throw notATerminal();
    }
    const spec = await specOf(io, args, f);
    return withPlacedNode(f, io, spec, async (client, api, local) => {
      // In the foreground, the module of the session attachAndStart opens loads while the agent creates the container.
      const [container] = await Promise.all([
        createContainer(client, api, spec, io, { runDir: f.runDir, local, pull: f.pull }),
        f.detach ? undefined : import('./container-session.js'),
      ]);
      if (f.detach) {
        await client.unary(api.start, { id: container.id });
        io.stdout.write(`${container.id}\n`);
        return 0;
      }
      try {
        return await attachTo(client, api, io, { id: container.id, tty: f.tty, stdin: f.interactive, start: true, autoRemove: f.rm, detachKeys: f.detachKeys });
      } catch (err) {
        if (f.rm) await client.unary(api.remove, { id: container.id, force: true }).catch(() => undefined);
        throw err;
      }
    });
  },
});

/** `strata create IMAGE [CMD…]`: create a container without starting it. */
export const createCommand = defineCommand({
  name: 'create',
  summary: 'Create a new container',
  description: "Creates a container from IMAGE, pulling it when needed, and prints the container's full id. " + RESTART_HELP + PLACEMENT_HELP,
  usage: 'IMAGE [COMMAND] [ARG...]',
  minArgs: 1,
  maxArgs: Number.MAX_SAFE_INTEGER,
  interspersed: false,
  exitCodes: runExitCodes,
  flags: { ...containerFlags, runDir: runDirFlag, ...fleetFlags },
  async run({ flags: f, args, io }) {
    const spec = await specOf(io, args, f);
    const container = await withPlacedNode(f, io, spec, (client, api, local) => createContainer(client, api, spec, io, { runDir: f.runDir, local, pull: f.pull }));
    io.stdout.write(`${container.id}\n`);
  },
});

/** `strata start CONTAINER…`: start stopped containers, optionally attached. */
export const startCommand = defineCommand({
  name: 'start',
  summary: 'Start one or more stopped containers',
  description:
    'Starts each CONTAINER and prints its name as given. With -a (or -i) the CLI attaches to one container first, ' +
    'streams its output and exits with its exit code. As with Docker, a container whose process cannot start keeps ' +
    'its state (created when it never ran) with the exit code (126, 127) and error, and can be started again.',
  usage: 'CONTAINER...',
  minArgs: 1,
  maxArgs: Number.MAX_SAFE_INTEGER,
  exitCodes: containerExitCodes,
  flags: {
    attach: flags.switch("Attach STDOUT/STDERR and forward signals", { short: 'a' }),
    interactive: flags.switch("Attach container's STDIN", { short: 'i' }),
    detachKeys: detachKeysFlag,
    runDir: runDirFlag,
    ...fleetFlags,
  },
  async run({ flags: f, args, io }) {
    if ((f.attach || f.interactive) && args.length > 1) throw invalidArgument('you cannot start and attach multiple containers at once');
    return withFleet(f, io, async (on, api) => {
      if (f.attach || f.interactive) {
        const [client, container] = await on(args[0]!, async (c) => [c, (await c.unary(api.inspect, { id: args[0]! })).container] as const);
        const tty = container?.spec?.tty === true;
        const stdin = f.interactive && container?.spec?.openStdin === true;
        return attachTo(client, api, io, { id: container!.id, tty, stdin, start: true, detachKeys: f.detachKeys });
      }
      return forEach(io, args, async (id) => {
        await on(id, (client) => client.unary(api.start, { id }));
        io.stdout.write(`${id}\n`);
      });
    });
  },
});

/** `stop -t` and `restart -t`: -1 waits for ever, as Docker's; unset takes the container's stop timeout. */
const stopTimeFlag = checkedFlag(
  "Seconds to wait before killing the container (the container's stop timeout, 10 by default)",
  (raw) => {
    if (!/^-?\d+$/.test(raw) || Number(raw) < -1 || Number(raw) > 2 ** 31 - 1) throw invalidArgument('expected a whole number of seconds');
    return Number(raw);
  },
  { short: 't', placeholder: 'SECONDS' },
);

/** The Stop request for id with stop's and restart's --time. */
const stopRequest = (id: string, time: number | undefined) => ({ id, ...(time === undefined ? {} : { timeoutSeconds: time }) });

/** `strata stop [-t S] CONTAINER…`. */
export const stopCommand = defineCommand({
  name: 'stop',
  summary: 'Stop one or more running containers',
  description: "Sends each container's stop signal (SIGTERM by default), waits up to --time seconds, then SIGKILL.",
  usage: 'CONTAINER...',
  minArgs: 1,
  maxArgs: Number.MAX_SAFE_INTEGER,
  exitCodes: containerExitCodes,
  flags: { time: stopTimeFlag, runDir: runDirFlag, ...fleetFlags },
  async run({ flags: f, args, io }) {
    return withFleet(f, io, (on, api) =>
      forEach(io, args, async (id) => {
        await on(id, (client) => client.unary(api.stop, stopRequest(id, f.time)));
        io.stdout.write(`${id}\n`);
      }),
    );
  },
});

/** `strata restart [-t S] CONTAINER…`: stop (when running), then start, as `docker restart`. */
export const restartCommand = defineCommand({
  name: 'restart',
  summary: 'Restart one or more containers',
  description:
    "Stops each running CONTAINER as stop does (its stop signal, up to --time seconds, then SIGKILL) and starts it " +
    'again; a created or exited one is just started. Prints each name as given; the logs keep the output of every ' +
    'run. A failure is reported on stderr and makes the exit code 1; the others are still restarted.',
  usage: 'CONTAINER...',
  minArgs: 1,
  maxArgs: Number.MAX_SAFE_INTEGER,
  exitCodes: containerExitCodes,
  flags: { time: stopTimeFlag, runDir: runDirFlag, ...fleetFlags },
  async run({ flags: f, args, io }) {
    return withFleet(f, io, (on, api) =>
      forEach(io, args, async (id) => {
        await on(id, async (client) => {
          await client.unary(api.stop, stopRequest(id, f.time));
          await client.unary(api.start, { id });
        });
        io.stdout.write(`${id}\n`);
      }),
    );
  },
});

/** `strata kill [-s SIGNAL] CONTAINER…`. */
export const killCommand = defineCommand({
  name: 'kill',
  summary: 'Kill one or more running containers',
  usage: 'CONTAINER...',
  minArgs: 1,
  maxArgs: Number.MAX_SAFE_INTEGER,
  exitCodes: containerExitCodes,
  flags: {
    signal: checkedFlag('Signal to send to the container (SIGKILL by default)', parseSignal, { short: 's', placeholder: 'SIGNAL' }),
    runDir: runDirFlag,
    ...fleetFlags,
  },
  async run({ flags: f, args, io }) {
    return withFleet(f, io, (on, api) =>
      forEach(io, args, async (id) => {
        await on(id, (client) => client.unary(api.kill, { id, signal: f.signal ?? '' }));
        io.stdout.write(`${id}\n`);
      }),
    );
  },
});

/** `strata attach CONTAINER`, as `docker attach`. */
export const attachCommand = defineCommand({
  name: 'attach',
  summary: 'Attach local standard input, output, and error streams to a running container',
  description:
    "Connects to a running container's output (and its stdin when it was created with -i, unless --no-stdin) " +
    "until it exits, then exits with its exit code; output written before is in `strata logs`. With a TTY the " +
    'local terminal is raw and its size goes to the container; Ctrl-P Ctrl-Q (or --detach-keys) detaches and ' +
    'leaves it running. Without a TTY, SIGINT and SIGTERM to the CLI go to the container.',
  usage: 'CONTAINER',
  minArgs: 1,
  maxArgs: 1,
  exitCodes: containerExitCodes,
  flags: {
    noStdin: flags.switch('Do not attach STDIN'),
    detachKeys: detachKeysFlag,
    runDir: runDirFlag,
    ...fleetFlags,
  },
  async run({ flags: f, args, io }) {
    const name = args[0]!;
    return withFleet(f, io, async (on, api) => {
      const [client, container] = await on(name, async (c) => [c, (await c.unary(api.inspect, { id: name })).container!] as const);
      const { ContainerStatus } = await import('@strata/api/containers/v1');
      const status = container.state?.status;
      const fields = { containerId: container.id };
      // The docker CLI's checks, with its texts.
      if (status === ContainerStatus.CONTAINER_STATUS_PAUSED) throw failedPrecondition('You cannot attach to a paused container, unpause it first', { fields });
      if (status === ContainerStatus.CONTAINER_STATUS_RESTARTING) throw failedPrecondition('You cannot attach to a restarting container, wait until it is running', { fields });
      if (status !== ContainerStatus.CONTAINER_STATUS_RUNNING) throw failedPrecondition('You cannot attach to a stopped container, start it first', { fields });
      const tty = container.spec?.tty === true;
      if (tty && io.stdin !== undefined && !f.noStdin && container.spec?.openStdin === true && io.stdin.isTTY !== true) throw notATerminal();
      const stdin = !f.noStdin && container.spec?.openStdin === true;
      return attachTo(client, api, io, { id: container.id, tty, stdin, start: false, detachKeys: f.detachKeys });
    });
  },
});

/** `strata pause` and `strata unpause`: one RPC per container, its name or id printed as given. */
function pauseCommandOf(name: 'pause' | 'unpause') {
  return defineCommand({
    name,
    summary: name === 'pause' ? 'Pause all processes within one or more containers' : 'Unpause all processes within one or more containers',
    description:
      name === 'pause'
        ? "Freezes every process of each running container (its cgroup's freezer) until `strata unpause`; ps shows it " +
          'as "Up … (Paused)". exec is refused meanwhile; stop, kill (SIGKILL or the stop signal) and rm -f thaw it ' +
          'after the signal, as with Docker.'
        : 'Thaws each paused container: its processes run on where they were frozen.',
    usage: 'CONTAINER...',
    minArgs: 1,
    maxArgs: Number.MAX_SAFE_INTEGER,
    exitCodes: containerExitCodes,
    flags: { runDir: runDirFlag, ...fleetFlags },
    async run({ flags: f, args, io }) {
      return withFleet(f, io, (on, api) =>
        forEach(io, args, async (id) => {
          await on(id, (client) => client.unary(name === 'pause' ? api.pause : api.unpause, { id }));
          io.stdout.write(`${id}\n`);
        }),
      );
    },
  });
}

/** `strata pause CONTAINER…`, as `docker pause`. */
export const pauseCommand = pauseCommandOf('pause');
/** `strata unpause CONTAINER…`, as `docker unpause`. */
export const unpauseCommand = pauseCommandOf('unpause');

/** `strata rm [-f] CONTAINER…`. */
export const rmCommand = defineCommand({
  name: 'rm',
  summary: 'Remove one or more containers',
  description:
    'Removes each container with its writable layer, network, cgroup and logs (-v: and its anonymous volumes); a running one needs --force. With ' +
    '--force, as `docker rm -f`, a container that is not there is reported on stderr but does not make the exit code 1.',
  usage: 'CONTAINER...',
  minArgs: 1,
  maxArgs: Number.MAX_SAFE_INTEGER,
  exitCodes: containerExitCodes,
  flags: {
    force: flags.switch('Force the removal of a running container (uses SIGKILL)', { short: 'f' }),
    volumes: flags.switch('Remove anonymous volumes associated with the container', { short: 'v' }),
    runDir: runDirFlag,
    ...fleetFlags,
  },
  async run({ flags: f, args, io }) {
    return withFleet(f, io, (on, api) =>
      forEach(io, args, async (id) => {
        try {
          await on(id, (client) => client.unary(api.remove, { id, force: f.force, ...(f.volumes ? { removeVolumes: true } : {}) }));
        } catch (err) {
          if (!f.force || !isNotFound(err)) throw err;
          io.stderr.write(`strata: ${err.message}\n`);
          return;
        }
        io.stdout.write(`${id}\n`);
      }),
    );
  },
});

/** `strata ps`: containers as `docker ps`. */
export const psCommand = defineCommand({
  name: 'ps',
  summary: 'List containers',
  description:
    'Lists running containers (all with -a), newest first; -n N the N newest and -l the newest, whatever their state. Filters: id, name, label=KEY[=VALUE], status ' +
    '(created|running|paused|exited|dead), ancestor=IMAGE, exited=CODE; the same key ORs, different keys AND. ' +
    '--all-nodes asks every ready node of the fleet in parallel (this one through its socket, the others over mutual TLS) ' +
    'and adds a NODE column; a node that does not answer is reported on stderr and makes the exit code 1. ' +
    "A --format template sees Docker's fields: .ID, .Image, .Command, .CreatedAt, .RunningFor, .Ports, .State, .Status, " +
    '.Names, .Labels, .Label "KEY", .Mounts, .Networks (and .Node with --all-nodes).',
  exitCodes: containerExitCodes,
  flags: {
    all: flags.switch('Show all containers (default shows just running)', { short: 'a' }),
    last: flags.int('Show n last created containers (includes all states)', { short: 'n', default: -1, min: -1 }),
    latest: flags.switch('Show the latest created container (includes all states)', { short: 'l' }),
    quiet: flags.switch('Only display container IDs', { short: 'q' }),
    noTrunc: flags.switch("Don't truncate output"),
    filter: flags.list('Filter output based on conditions provided', { short: 'f', placeholder: 'KEY=VALUE' }),
    format: listFormatFlag,
    allNodes: flags.switch("List the containers of every ready node of the fleet, with a NODE column"),
    runDir: runDirFlag,
    ...fleetFlags,
  },
  async run({ flags: f, io }) {
    const filters = f.filter.map(checkPsFilter);
    const { PS_FIELD_HEADERS, PS_HEADERS, psCells, psFields, psRows } = await import('./container-views.js');
    // Docker's -n N and -l (-n 1): the newest N that pass the filters, whatever their state.
    const limit = f.last === -1 && f.latest ? 1 : f.last;
    const all = f.all || limit > 0;
    const newest = (containers: Container[]) => (limit > 0 ? containers.slice(0, limit) : containers);
    if (!f.allNodes) {
      const containers = newest((await withContainers(f.runDir, (client, api) => client.unary(api.list, { all, filters }))).containers);
      const rows = psRows(containers, { noTrunc: f.noTrunc });
      if (f.quiet) io.stdout.write(rows.map((r) => `${r.ID}\n`).join(''));
      else {
        printList(io.stdout, f.format, rows, {
          table: (all) => formatTable(PS_HEADERS, all.map(psCells)),
          fields: (row, i) => psFields(row, containers[i]!, { noTrunc: f.noTrunc }),
          headers: PS_FIELD_HEADERS,
        });
      }
      return 0;
    }
    const { containers, failed } = await withFleet(f, io, async (_on, api, fleet) => {
      const answers = await fleet.each(async (client) => (await client.unary(api.list, { all, filters }, { deadline: Date.now() + 10_000 })).containers);
      const byId = new Map<string, Container>();
      let failures = 0;
      for (const answer of answers.sort((a, b) => (a.node.name < b.node.name ? -1 : 1))) {
        if ('error' in answer) {
          failures++;
          io.stderr.write(`strata: node ${answer.node.name}: ${(answer.error as Error).message}\n`);
        } else {
          for (const c of answer.value) byId.set(c.id, c.node === '' ? { ...c, node: answer.node.name } : c);
        }
      }
      return { containers: newest([...byId.values()].sort((a, b) => (b.created?.getTime() ?? 0) - (a.created?.getTime() ?? 0))), failed: failures > 0 };
    });
    const rows = psRows(containers, { noTrunc: f.noTrunc }).map((row, i) => ({ ...row, Node: containers[i]!.node }));
    if (f.quiet) io.stdout.write(rows.map((r) => `${r.ID}\n`).join(''));
    else {
      printList(io.stdout, f.format, rows, {
        table: (all) => formatTable([...PS_HEADERS, 'node'], all.map((r) => [...psCells(r), r.Node])),
        fields: (row, i) => psFields(row, containers[i]!, { noTrunc: f.noTrunc }),
        headers: PS_FIELD_HEADERS,
      });
    }
    return failed ? 1 : 0;
  },
});

/** `inspect --type`: the kind of object to look for. */
function parseInspectType(text: string): 'container' | 'image' {
  if (text !== 'container' && text !== 'image') throw invalidArgument(`"${text}" is not a valid value for --type: use container or image`);
  return text;
}

/** `strata inspect NAME…`: containers (and images) as `docker inspect` shows them. */
export const inspectCommand = defineCommand({
  name: 'inspect',
  summary: 'Return low-level information on containers or images',
  description:
    'Prints a JSON array with one object per name, in the order given: a container shaped like `docker inspect` shows ' +
    'it (Config merged with the image config when the registry-mirror has it) or, for a name that is no container, ' +
    'the image of that name as `strata image inspect` shows it; --type container or --type image looks for that ' +
    'kind only. A name that is neither is reported on stderr (`No such object: NAME`) and makes the exit code 1; ' +
    "the others are still printed. With -f TEMPLATE, a Go template over that object's fields prints " +
    "a line per object instead, as `docker inspect -f '{{.State.Status}}'` (`{{json .Config.Env}}`, " +
    '`{{index .Config.Labels "KEY"}}`, `{{range $p, $b := .NetworkSettings.Ports}}...{{end}}`); a field it does not have is an error.',
  usage: 'NAME...',
  minArgs: 1,
  maxArgs: Number.MAX_SAFE_INTEGER,
  exitCodes: containerExitCodes,
  flags: {
    format: inspectFormatFlag,
    type: checkedFlag('Only inspect objects of the given type: container or image', parseInspectType, { placeholder: 'TYPE' }),
    runDir: runDirFlag,
    ...fleetFlags,
  },
  async run({ flags: f, args, io }) {
    const views = new Map<number, unknown>();
    const containers: Array<{ at: number; container: Container }> = [];
    /** The names to look for as images, with the error to report when there is none (without --type). */
    const images: Array<{ at: number; containerError?: Error }> = [];
    let code = 0;
    const report = (err: Error) => {
      io.stderr.write(`strata: ${err.message}\n`);
      code = 1;
    };
    if (f.type === 'image') images.push(...args.map((_, at) => ({ at })));
    else {
      await withFleet(f, io, async (on, api) => {
        for (const [at, id] of args.entries()) {
          try {
            const { container } = await on(id, (client) => client.unary(api.inspect, { id }));
            if (container !== undefined) containers.push({ at, container });
          } catch (err) {
            if (!isStrataError(err) || err.kind === 'Unavailable') throw err;
            if (f.type === undefined && isNotFound(err)) images.push({ at, containerError: err });
            else report(err);
          }
        }
      });
    }
    const { inspectView } = await import('./container-views.js');
    const configs = await imageConfigs(f.runDir, containers.map((c) => c.container));
    for (const { at, container } of containers) views.set(at, inspectView(container, configs.get(container.imageId)));
    if (images.length > 0) {
      const { inspectImages } = await import('./images.js');
      // Without --type, a mirror that cannot be asked leaves the containers' own errors.
      const answers = await inspectImages(f.runDir, images.map(({ at }) => args[at]!)).catch((err: unknown) => {
        if (f.type === 'image' || !isUnavailable(err)) throw err;
        return undefined;
      });
      images.forEach(({ at, containerError }, i) => {
        const answer = answers?.[i];
        if (answer === undefined) report(containerError!);
        else if (answer.error === undefined) views.set(at, answer.view);
        else report(containerError === undefined ? answer.error : notFound(`No such object: ${args[at]!}`, { fields: { name: args[at]! } }));
      });
    }
    printInspected(
      io.stdout,
      f.format,
      args.flatMap((_, at) => (views.has(at) ? [views.get(at)] : [])),
    );
    return code;
  },
});

/** `strata port CONTAINER [PRIVATE_PORT[/PROTO]]`: the published ports, as `docker port`. */
export const portCommand = defineCommand({
  name: 'port',
  summary: 'List port mappings or a specific mapping for the container',
  description:
    'Prints each published port of CONTAINER as `80/tcp -> 0.0.0.0:37361`; with PRIVATE_PORT (tcp when no protocol ' +
    'is given) only its host addresses, and exit code 1 when it is not published.',
  usage: 'CONTAINER [PRIVATE_PORT[/PROTO]]',
  minArgs: 1,
  maxArgs: 2,
  exitCodes: containerExitCodes,
  flags: { runDir: runDirFlag, ...fleetFlags },
  async run({ flags: f, args, io }) {
    const [name, privateText] = args as [string, string | undefined];
    const { parsePrivatePort, portLines } = await import('./container-views.js');
    const privatePort = privateText === undefined ? undefined : parsePrivatePort(privateText);
    const { container } = await withFleet(f, io, (on, api) => on(name, (client) => client.unary(api.inspect, { id: name })));
    const lines = portLines(container?.network?.ports ?? [], privatePort);
    if (privatePort !== undefined && lines.length === 0) {
      throw notFound(`no public port '${privatePort}' published for ${name}`, { fields: { container: name, port: privatePort } });
    }
    io.stdout.write(lines.map((line) => `${line}\n`).join(''));
  },
});

/** `strata container prune [-f] [--filter F]`, as `docker container prune`. */
export const containerPruneCommand = defineCommand({
  name: 'container prune',
  summary: 'Remove all stopped containers',
  description:
    'Removes every container of this node that does not run (created, exited) and passes the filters: ' +
    'label=KEY[=VALUE], label!=KEY[=VALUE], until=TIME (Unix seconds, RFC 3339, or a duration before now such as ' +
    '24h). Asks first unless --force; prints the ids removed and the space their writable layers took.',
  exitCodes: containerExitCodes,
  flags: {
    filter: flags.list('Provide filter values (e.g. until=24h)', { placeholder: 'FILTER' }),
    force: flags.switch('Do not prompt for confirmation', { short: 'f' }),
    runDir: runDirFlag,
  },
  async run({ flags: f, io }) {
    const { confirm } = await import('../framework/confirm.js');
    if (!f.force && !(await confirm(io, 'This will remove all stopped containers.'))) return 0;
    const result = await withContainers(f.runDir, (client, api) => client.unary(api.prune, { filters: f.filter }));
    const { humanSize } = await import('../framework/human-units.js');
    const deleted = result.containersDeleted.length === 0 ? '' : `Deleted Containers:\n${result.containersDeleted.map((id) => `${id}\n`).join('')}\n`;
    io.stdout.write(`${deleted}Total reclaimed space: ${humanSize(result.spaceReclaimed)}\n`);
    return 0;
  },
});

/** `strata rename CONTAINER NEW_NAME`, as `docker rename`. */
export const renameCommand = defineCommand({
  name: 'rename',
  summary: 'Rename a container',
  description: 'Gives CONTAINER (running or not) the name NEW_NAME, which no other container on its node may have.',
  usage: 'CONTAINER NEW_NAME',
  minArgs: 2,
  maxArgs: 2,
  exitCodes: containerExitCodes,
  flags: { runDir: runDirFlag, ...fleetFlags },
  async run({ flags: f, args, io }) {
    const [name, newName] = args as [string, string];
    await withFleet(f, io, (on, api) => on(name, (client) => client.unary(api.rename, { id: name, name: newName })));
  },
});

/** `strata export [-o FILE] CONTAINER`, as `docker export`. */
export const exportCommand = defineCommand({
  name: 'export',
  summary: "Export a container's filesystem as a tar archive",
  description:
    "Writes the container's files (its image with its changes; not its volumes or the runtime's mounts) as an " +
    'uncompressed tar, to FILE or to STDOUT, which must not be a terminal. `strata image import` (or `docker import`) ' +
    'makes an image of it again.',
  usage: 'CONTAINER',
  minArgs: 1,
  maxArgs: 1,
  exitCodes: containerExitCodes,
  flags: { output: flags.string('Write to a file, instead of STDOUT', { short: 'o', placeholder: 'FILE' }), runDir: runDirFlag, ...fleetFlags },
  async run({ flags: f, args, io }) {
    const name = args[0]!;
    const { archiveOutput } = await import('../framework/archive-output.js');
    const archive = archiveOutput(io, f.output);
    let ok = false;
    try {
      await withFleet(f, io, (on, api) =>
        on(name, async (client) => {
          for await (const { data } of client.serverStream(api.export, { id: name })) await archive.write(data);
        }),
      );
      ok = true;
    } finally {
      await archive.finish(ok);
    }
  },
});

/** `strata diff CONTAINER`, as `docker diff`. */
export const diffCommand = defineCommand({
  name: 'diff',
  summary: "Inspect changes to files or directories on a container's filesystem",
  description:
    "Lists how the container's files differ from its image, one path a line in path order: A added, C changed " +
    '(a directory also when an entry in it changed), D deleted. Works on stopped containers too.',
  usage: 'CONTAINER',
  minArgs: 1,
  maxArgs: 1,
  exitCodes: containerExitCodes,
  flags: { runDir: runDirFlag, ...fleetFlags },
  async run({ flags: f, args, io }) {
    const name = args[0]!;
    const { ChangeKind } = await import('@strata/api/containers/v1');
    const letters: Partial<Record<number, string>> = { [ChangeKind.CHANGE_KIND_ADDED]: 'A', [ChangeKind.CHANGE_KIND_MODIFIED]: 'C', [ChangeKind.CHANGE_KIND_DELETED]: 'D' };
    await withFleet(f, io, (on, api) =>
      on(name, async (client) => {
        for await (const batch of client.serverStream(api.changes, { id: name })) {
          io.stdout.write(batch.changes.map((c) => `${letters[c.kind] ?? '?'} ${c.path}\n`).join(''));
        }
      }),
    );
  },
});

/** `strata top CONTAINER [ps OPTIONS]`, as `docker top`. */
export const topCommand = defineCommand({
  name: 'top',
  summary: 'Display the running processes of a container',
  description:
    "Runs ps on the container's node with the ps OPTIONS (-ef when none) and shows the rows of the container's " +
    'processes (those of its cgroup), with host pids, as `docker top` does. The options must keep the PID column.',
  usage: 'CONTAINER [ps OPTIONS]',
  minArgs: 1,
  maxArgs: Number.MAX_SAFE_INTEGER,
  interspersed: false,
  exitCodes: containerExitCodes,
  flags: { runDir: runDirFlag, ...fleetFlags },
  async run({ flags: f, args, io }) {
    const [name, ...psArgs] = args as [string, ...string[]];
    const top = await withFleet(f, io, (on, api) => on(name, (client) => client.unary(api.top, { id: name, psArgs })));
    io.stdout.write(alignColumns([top.titles, ...top.processes.map((p) => p.fields)]));
  },
});

/** The image configs of containers' images from the registry-mirror; those it cannot give are left out. */
async function imageConfigs(runDir: string, containers: readonly Container[]) {
  const { withImages } = await import('./images.js');
  const ids = [...new Set(containers.map((c) => c.imageId).filter((id) => id !== ''))];
  const configs = new Map<string, import('@strata/api/images/v1').ContainerConfig>();
  if (ids.length === 0) return configs;
  await withImages(runDir, async (client, api) => {
    for (const ref of ids) {
      const inspected = await client.unary(api.inspect, { ref }, { deadline: Date.now() + 2_000 }).catch(() => undefined);
      if (inspected?.image?.config !== undefined) configs.set(ref, inspected.image.config);
    }
  });
  return configs;
}

/** A log record's time as Docker's `logs -t` writes it: RFC 3339 with nine fraction digits. */
function logTime(time: Date | undefined): string {
  if (time === undefined) return '';
  return `${time.toISOString().replace(/\.(\d{3})Z$/, '.$1000000Z')} `;
}

/** `strata logs CONTAINER`: the container's recorded output. */
export const logsCommand = defineCommand({
  name: 'logs',
  summary: 'Fetch the logs of a container',
  description:
    "Writes the container's recorded stdout and stderr to the CLI's; --follow keeps writing until it exits. --tail 0 " +
    'writes no recorded line (with --follow, only the output from now on); --until ends at the first record after that time.',
  usage: 'CONTAINER',
  minArgs: 1,
  maxArgs: 1,
  exitCodes: containerExitCodes,
  flags: {
    follow: flags.switch('Follow log output', { short: 'f' }),
    tail: checkedFlag('Number of lines to show from the end of the logs ("all" by default)', parseTail, { short: 'n', placeholder: 'N' }),
    timestamps: flags.switch('Show timestamps', { short: 't' }),
    since: flags.string('Show logs since a time (2026-01-02T13:23:37Z) or a duration before now (42m)', { placeholder: 'TIME' }),
    until: flags.string('Show logs before a time (2026-01-02T13:23:37Z) or a duration before now (42m)', { placeholder: 'TIME' }),
    runDir: runDirFlag,
    ...fleetFlags,
  },
  async run({ flags: f, args, io }) {
    const { parseEventTime } = await import('./events-time.js');
    let since = f.since === undefined ? undefined : parseEventTime(f.since, '--since');
    const until = f.until === undefined ? undefined : parseEventTime(f.until, '--until');
    // Docker's --tail 0 shows no recorded line (with -f: only what comes next); the API's tail 0 means all, so
    // it asks for the records from now on instead.
    if (f.tail === 0) since = new Date(Math.max(Date.now(), since?.getTime() ?? 0));
    // Following ends at --until too: nothing is followed past a time already gone.
    const follow = f.follow && (until === undefined || until.getTime() > Date.now());
    const request = { id: args[0]!, follow, tail: f.tail || -1, ...(since === undefined ? {} : { since }) };
    await withFleet(f, io, async (on, api) => {
      const { Stream } = await import('@strata/api/containers/v1');
      await on(request.id, async (client) => {
        for await (const record of client.serverStream(api.logs, request)) {
          // As Docker's --until: the records up to that time, then the end (with -f too).
          if (until !== undefined && record.time !== undefined && record.time > until) break;
          const out = record.stream === Stream.STREAM_STDERR ? io.stderr : io.stdout;
          if (f.timestamps) out.write(logTime(record.time));
          out.write(record.data);
        }
      });
    });
  },
});

/** `strata exec CONTAINER CMD…`: run a process in a running container. */
export const execCommand = defineCommand({
  name: 'exec',
  summary: 'Execute a command in a running container',
  description:
    "Runs COMMAND in the running CONTAINER and exits with the command's exit code; -it gives it a terminal. " +
    '-d starts it and returns at once.',
  usage: 'CONTAINER COMMAND [ARG...]',
  minArgs: 2,
  maxArgs: Number.MAX_SAFE_INTEGER,
  interspersed: false,
  exitCodes: { usage: EXIT_CLI_ERROR, failure: (err: unknown) => commandFailureExitCode(err, 1) },
  flags: {
    detach: flags.switch('Detached mode: run command in the background', { short: 'd' }),
    interactive: flags.switch('Keep STDIN open even if not attached', { short: 'i' }),
    tty: flags.switch('Allocate a pseudo-TTY', { short: 't' }),
    env: envFlag('Set environment variables'),
    workdir: flags.string('Working directory inside the container', { short: 'w', placeholder: 'DIR' }),
    user: flags.string('Username or UID (format: <name|uid>[:<group|gid>])', { short: 'u', placeholder: 'USER' }),
    detachKeys: detachKeysFlag,
    runDir: runDirFlag,
    ...fleetFlags,
  },
  async run({ flags: f, args, io }) {
    const [id, ...command] = args;
    if (f.interactive && f.tty && !f.detach && io.stdin !== undefined && io.stdin.isTTY !== true) {
      throw notATerminal();
    }
    const env = f.env.map((entry) => parseEnvEntry(entry, io.env));
    const stdin = f.interactive && !f.detach;
    return withFleet(f, io, (on, api) => on(id!, async (client) => {
      const { terminalSize } = await import('./container-session.js');
      const size = f.tty ? terminalSize(io) : undefined;
      const start = {
        id: id!,
        args: command,
        env,
        workingDir: f.workdir ?? '',
        user: f.user ?? '',
        tty: f.tty,
        stdin,
        ...(size === undefined ? {} : { size }),
      };
      const s = await session(client, client.bidiStream(api.exec), { message: { $case: 'start', value: start } }, { io, tty: f.tty, stdin, detachKeys: f.detachKeys });
      try {
        await Promise.race([s.started, s.exited]);
        if (f.detach) return 0;
        s.connect();
        // Detached with the keys: the process runs on, as with docker exec -it.
        const status = await Promise.race([s.exited, s.detached.then(() => undefined)]);
        return status === undefined ? 0 : status.exitCode;
      } finally {
        s.close();
      }
    }));
  },
});

/** `strata wait CONTAINER…`: block until containers stop, then print their exit codes. */
export const waitCommand = defineCommand({
  name: 'wait',
  summary: 'Block until one or more containers stop, then print their exit codes',
  description:
    "Waits until each CONTAINER does not run and prints its exit code, at once for one that does not run: as Docker's, " +
    'for a container whose process could not start, the exit code of that start (126, 127).',
  usage: 'CONTAINER...',
  minArgs: 1,
  maxArgs: Number.MAX_SAFE_INTEGER,
  exitCodes: containerExitCodes,
  flags: { runDir: runDirFlag, ...fleetFlags },
  async run({ flags: f, args, io }) {
    const { WaitCondition } = await import('@strata/api/containers/v1');
    return withFleet(f, io, (on, api) =>
      forEach(io, args, async (id) => {
        const { status } = await on(id, (client) => client.unary(api.wait, { id, condition: WaitCondition.WAIT_CONDITION_NOT_RUNNING }));
        io.stdout.write(`${status?.exitCode ?? 0}\n`);
      }),
    );
  },
});

/** `strata stats [CONTAINER…]`: resource use from the containers' cgroups. */
export const statsCommand = defineCommand({
  name: 'stats',
  summary: 'Display a live stream of container(s) resource usage statistics',
  description:
    'Shows CPU, memory and process counts of the named containers (every running one by default), once a second ' +
    'until interrupted, or once with --no-stream. --format json prints a JSON array per sample; a --format template ' +
    "sees Docker's fields .ID, .Name, .CPUPerc, .MemUsage, .MemPerc, .PIDs.",
  usage: '[CONTAINER...]',
  minArgs: 0,
  maxArgs: Number.MAX_SAFE_INTEGER,
  exitCodes: containerExitCodes,
  flags: {
    noStream: flags.switch('Disable streaming stats and only pull the first result'),
    noTrunc: flags.switch("Don't truncate output"),
    format: listFormatFlag,
    runDir: runDirFlag,
    ...fleetFlags,
  },
  async run({ flags: f, args, io }) {
    const { STATS_FIELD_HEADERS, STATS_HEADERS, statsCells, statsRows } = await import('./container-views.js');
    // Named containers are looked for on the fleet by the first one: they must share its node.
    await withFleet(f, io, (on, api) => on(args[0] ?? '', async (client) => {
      for await (const sample of client.serverStream(api.stats, { ids: args, stream: !f.noStream })) {
        const rows = statsRows(sample.stats, { noTrunc: f.noTrunc });
        if (f.format === 'json') {
          if (f.noStream) printJson(io.stdout, rows);
          else io.stdout.write(`${JSON.stringify(rows)}\n`);
        } else {
          // On a terminal each sample replaces the previous one, as `docker stats` does.
          if (!f.noStream && io.stdout.isTTY) io.stdout.write('\x1b[2J\x1b[H');
          printList(io.stdout, f.format, rows, { table: (all) => formatTable(STATS_HEADERS, all.map(statsCells)), headers: STATS_FIELD_HEADERS });
        }
        if (f.noStream) break;
      }
    }));
  },
});

/** `strata update [--memory] [--cpus] [--pids-limit] [--restart] CONTAINER…`: change limits and the restart policy. */
export const updateCommand = defineCommand({
  name: 'update',
  summary: 'Update configuration of one or more containers',
  description:
    'Changes the memory, CPU and process limits and the restart policy of each container, running or not; what is not given stays. ' +
    '--restart takes what run does (not for a container run with --rm).',
  usage: 'CONTAINER...',
  minArgs: 1,
  maxArgs: Number.MAX_SAFE_INTEGER,
  exitCodes: containerExitCodes,
  flags: { ...resourceFlags, restart: restartFlag, runDir: runDirFlag, ...fleetFlags },
  async run({ flags: f, args, io }) {
    const { toResources, toRestartPolicy } = await import('./container-spec.js');
    const resources = toResources(f);
    const restartPolicy = toRestartPolicy(f.restart);
    if (resources === undefined && restartPolicy === undefined) {
      throw invalidArgument('you must provide one or more flags when using this command (--memory, --cpus, --pids-limit, --restart)');
    }
    const request = { ...(resources === undefined ? {} : { resources }), ...(restartPolicy === undefined ? {} : { restartPolicy }) };
    return withFleet(f, io, (on, api) =>
      forEach(io, args, async (id) => {
        await on(id, (client) => client.unary(api.update, { id, ...request }));
        io.stdout.write(`${id}\n`);
      }),
    );
  },
});

/** Every container command, in the order help lists them. */
export const containerCommands = [
  runCommand,
  createCommand,
  startCommand,
  stopCommand,
  restartCommand,
  killCommand,
  attachCommand,
  pauseCommand,
  unpauseCommand,
  rmCommand,
  psCommand,
  inspectCommand,
  portCommand,
  topCommand,
  diffCommand,
  exportCommand,
  renameCommand,
  containerPruneCommand,
  logsCommand,
  execCommand,
  waitCommand,
  statsCommand,
  updateCommand,
];
