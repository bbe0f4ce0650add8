import { bool, createLogger, describeConfig, isNotFound, loadConfig, oneOf, str } from '@strata/kit';
import { createNatsConnection } from '@strata/events-nats';
import { followContainerTable } from './follow-container-table.js';
import { renderTable } from './render-table.js';
import { emptyTable, type TableState } from './table-state.js';

const spec = {
  natsUrl: str('NATS server of the Strata events: the nats endpoint `strata up` printed.', {
    default: 'nats://127.0.0.1:4222',
    env: 'STRATA_NATS_URL',
  }),
  once: bool('Print the table the stored events make, and exit, instead of following.', { default: false }),
  logLevel: oneOf('Least severe log level written to stderr.', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const, {
    default: 'warn',
  }),
};

const REDRAW_MS = 100;

/** Resolves after ms, or at once when signal aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
const CLEAR = '\x1b[H\x1b[2J';

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`Usage: container-table [OPTIONS]\n\nA live table of the containers on every node, from Strata's events alone.\n\nOptions:\n${describeConfig(spec)}\n`);
    return 0;
  }
  let config;
  try {
    config = loadConfig(spec, { argv, env: process.env });
  } catch (err) {
    process.stderr.write(`container-table: ${(err as Error).message}\n`);
    return 2;
  }
  const logger = createLogger({ name: 'container-table', level: config.logLevel });
  const stop = new AbortController();
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => stop.abort());

  const tty = process.stdout.isTTY === true;
  let latest: TableState | undefined;
  let timer: NodeJS.Timeout | undefined;
  const draw = () => {
    timer = undefined;
    if (latest === undefined) return;
    const footer = `${latest.applied} events applied, ${latest.ignored} ignored (redelivered or after deletion)\n`;
    process.stdout.write(tty ? `${CLEAR}${renderTable(latest)}\n${footer}` : `${renderTable(latest)}\n`);
  };

  const connection = createNatsConnection({ servers: config.natsUrl, name: 'container-table', logger });
  stop.signal.addEventListener('abort', () => void connection.close(), { once: true });
  try {
    const nc = await connection.connected();
    const until = config.once ? new Date() : undefined;
    if (!config.once) {
      latest = emptyTable();
      draw();
    }
    let waiting = false;
    for (;;) {
      try {
        const table = await followContainerTable({
          nc,
          logger,
          signal: stop.signal,
          ...(until === undefined ? {} : { until }),
          onEvent: (state) => {
            latest = state;
            if (!config.once && timer === undefined) timer = setTimeout(draw, REDRAW_MS);
          },
        });
        latest = table;
        break;
      } catch (err) {
        if (!isNotFound(err) || config.once) throw err;
        if (!waiting) process.stderr.write(`container-table: ${(err as Error).message}; waiting for it\n`);
        waiting = true;
        await sleep(1000, stop.signal);
        if (stop.signal.aborted) break;
      }
    }
    clearTimeout(timer);
    draw();
    return 0;
  } catch (err) {
    if (stop.signal.aborted) return 0;
    process.stderr.write(`container-table: ${(err as Error).message}\n`);
    return 1;
  } finally {
    await connection.close();
  }
}

process.exitCode = await main();
