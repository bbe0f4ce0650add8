import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { failedPrecondition } from '@strata/kit';
import { defineCommand } from '../framework/command.js';
import { flags } from '../framework/flags.js';
import { formatTable } from '../framework/table.js';
import { logTail, type StartedService } from '../stack/service-runner.js';
import type { StackConfig, StackContext } from '../stack/service.js';
import { stackServices } from '../stack/services.js';
import { stopServices, upStack } from '../stack/stack.js';
import { removeUpState, type ServiceRecord } from '../stack/up-state.js';
import { formatFlag, printJson, runDirFlag, stateDirFlag } from './common-flags.js';

const repoRoot = fileURLToPath(new URL('../../../../', import.meta.url));

/** The paths of the stack from the flags (made absolute). */
export function stackContext(config: StackConfig): StackContext {
  const stateDir = resolve(config.stateDir);
  return {
    stateDir,
    runDir: resolve(config.runDir),
    natsPort: config.natsPort,
    mirrorPort: config.mirrorPort,
    logsDir: resolve(stateDir, 'logs'),
    repoRoot,
    natsUrl: `nats://127.0.0.1:${config.natsPort}`,
    mirrorUrl: `http://127.0.0.1:${config.mirrorPort}`,
  };
}

function endpointRows(records: readonly ServiceRecord[]): string[][] {
  return records.flatMap((r) => r.endpoints.map((e) => [r.name, String(r.pid), e.address, r.log]));
}

function servicesJson(records: readonly ServiceRecord[]) {
  return records.map(({ name, pid, endpoints, log }) => ({ name, pid, endpoints, log }));
}

/** `strata up`: starts the local stack and prints its endpoints. */
export const upCommand = defineCommand({
  name: 'up',
  summary: 'Start the local stack: NATS, the layer-store, the registry-mirror, the snapshotter and the node-agent',
  description: [
    'Start the local stack: NATS with JetStream on 127.0.0.1, then the layer-store',
    'serving gRPC on a unix socket in the run dir, then the registry-mirror serving',
    'the OCI Distribution API on http://127.0.0.1:5050 (--mirror-port) and gRPC on',
    'a unix socket in the run dir, then the snapshotter (this host\'s unpacked layers,',
    'gRPC on a unix socket in the run dir) and the node-agent (this host\'s containers,',
    'gRPC on a unix socket in the run dir); these two need root and are skipped, saying',
    'so, for other users. Each service logs to <state-dir>/logs/<service>.log.',
    'Without --detach it stays in the foreground and stops the stack on Ctrl-C;',
    'with it, `strata down` stops the stack.',
  ].join('\n'),
  flags: {
    detach: flags.switch('Leave the stack running in the background and exit', { short: 'd' }),
    stateDir: stateDirFlag,
    runDir: runDirFlag,
    natsPort: flags.int('Port NATS listens on (127.0.0.1)', {
      env: 'STRATA_NATS_PORT',
      default: 4222,
      min: 1,
      max: 65535,
    }),
    mirrorPort: flags.int("Port of the registry-mirror's OCI Distribution HTTP endpoint (127.0.0.1)", {
      env: 'STRATA_MIRROR_PORT',
      default: 5050,
      min: 1,
      max: 65535,
    }),
    format: formatFlag,
  },
  async run({ flags: f, io }) {
    const ctx = stackContext(f);
    const interrupted = io.interrupts();
    const progress = (message: string) => io.stderr.write(`${message}\n`);
    const skipped = stackServices.flatMap((spec) => {
      const reason = spec.unsupported?.();
      return reason === undefined ? [] : [{ name: spec.name, reason }];
    });
    for (const s of skipped) progress(`skipping ${s.name}: ${s.reason}`);
    const services = stackServices.filter((spec) => !skipped.some((s) => s.name === spec.name));
    const result = await upStack(ctx, { services, detached: f.detach, signal: interrupted, progress });

    if (result.status === 'already-running') {
      const notRunning = result.state.services.filter((s) => !result.running.some((r) => r.pid === s.pid));
      if (f.format === 'json') {
        printJson(io.stdout, {
          status: 'already-running',
          detached: result.state.detached,
          services: servicesJson(result.running),
          notRunning: notRunning.map((s) => s.name),
        });
        return 0;
      }
      io.stdout.write(`Strata is already running (started ${result.state.startedAt}, recorded in ${ctx.runDir}/up.json).\n`);
      if (result.running.length > 0) io.stdout.write(formatTable(['service', 'pid', 'endpoint', 'log'], endpointRows(result.running)));
      if (notRunning.length > 0) {
        io.stdout.write(`Not running: ${notRunning.map((s) => s.name).join(', ')}; use 'strata down' and 'strata up' to restart.\n`);
      }
      return 0;
    }

    const records = result.started.map((s) => s.record);
    if (f.format === 'json') {
      printJson(io.stdout, { status: 'started', detached: f.detach, services: servicesJson(records), ...(skipped.length > 0 ? { skipped } : {}) });
    } else {
      io.stdout.write(formatTable(['service', 'pid', 'endpoint', 'log'], endpointRows(records)));
    }
    if (f.detach) {
      for (const s of result.started) s.child.unref();
      if (f.format !== 'json') io.stdout.write(`Strata is up. Stop it with: strata down --run-dir ${ctx.runDir}\n`);
      return 0;
    }
    return foreground(result.started, ctx, interrupted, progress);
  },
});

/** Waits for Ctrl-C/SIGTERM or a service ending, then stops the stack in reverse order. */
async function foreground(
  started: StartedService[],
  ctx: StackContext,
  interrupted: AbortSignal,
  progress: (message: string) => void,
): Promise<number> {
  progress('Strata is up; press Ctrl-C to stop it.');
  const stop = new Promise<undefined>((resolve) => {
    if (interrupted.aborted) resolve(undefined);
    interrupted.addEventListener('abort', () => resolve(undefined), { once: true });
  });
  const ended = await Promise.race([stop, ...started.map((s) => s.exited.then((how) => ({ service: s, how })))]);
  await stopServices(
    started.map((s) => s.record),
    progress,
  );
  removeUpState(ctx.runDir);
  if (ended) {
    const { record } = ended.service;
    const tail = logTail(record.log);
    throw failedPrecondition(
      `${record.name} ${ended.how}, so the stack was stopped${tail ? `; the end of ${record.log}:\n${tail}` : ''}`,
    );
  }
  progress('Strata is stopped.');
  return 0;
}
