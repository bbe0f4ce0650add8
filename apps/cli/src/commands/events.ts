import { resolve } from 'node:path';
import { createLogger, unavailable } from '@strata/kit';
import { defineCommand } from '../framework/command.js';
import { flags } from '../framework/flags.js';
import { readUpState } from '../stack/up-state.js';
import { runDirFlag } from './common-flags.js';
import { eventFilterSubject, matchesEventFilters, parseEventFilters } from './events-filter.js';
import { formatEventLine } from './events-format.js';
import { parseEventTime } from './events-time.js';

/** Where `strata up` runs NATS unless told otherwise (its `--nats-port` default). */
export const DEFAULT_NATS_URL = 'nats://127.0.0.1:4222';

/** `--nats-url`: the NATS server of the events, when not the one `strata up` started. */
export const natsUrlFlag = flags.string('NATS server URL (default: the one `strata up` recorded in the run dir, else ' + DEFAULT_NATS_URL + ')', {
  placeholder: 'URL',
  env: 'STRATA_NATS_URL',
});

/**
 * The NATS URL a command uses: the flag's value when given, else the NATS
 * endpoint `strata up` recorded in runDir/up.json, else {@link DEFAULT_NATS_URL}.
 * Never throws: an unreadable record counts as none.
 */
export function resolveNatsUrl(flagValue: string | undefined, runDir: string): string {
  if (flagValue !== undefined) return flagValue;
  try {
    const state = readUpState(resolve(runDir));
    const nats = state?.services.flatMap((s) => s.endpoints).find((e) => e.protocol === 'nats');
    if (nats) return nats.address;
  } catch {
    // No usable record: the default below.
  }
  return DEFAULT_NATS_URL;
}

/** `strata events`: replays and follows the events of the platform, as `docker events`. */
export const eventsCommand = defineCommand({
  name: 'events',
  summary: 'Get real time events from the platform',
  description: [
    'Prints the events of the platform (the JetStream stream STRATA_EVENTS): with --since, those',
    'stored since then first, then new ones as they happen, until --until or Ctrl-C. Without',
    '--since only new events are shown. TIME is a duration before now (10m, 1h30m), an RFC 3339',
    'time (2026-11-28T03:25:25Z), a date (2026-11-28) or Unix seconds.',
    '',
    'Filters (values of one key are ORed, different keys ANDed):',
    '  type=container|image|snapshot|blob|node   the first word of the event type',
    '  event=exited|pulled|image.pulled…          what happened (or the whole type)',
    '  node=NAME                                  the node the event comes from',
    '  container=ID|NAME                          a container id prefix or name',
    '  image=REF|ID                               an image reference (a repository matches all its tags) or id',
    '',
    'Lines read `<time> <type> <event> <subject> (<attributes>)`; --format json prints one',
    'CloudEvent JSON object per line.',
  ].join('\n'),
  flags: {
    filter: flags.list('Filter output based on conditions provided', { short: 'f', placeholder: 'KEY=VALUE' }),
    since: flags.string('Show events stored since TIME', { placeholder: 'TIME' }),
    until: flags.string('Stop after the events stored until TIME', { placeholder: 'TIME' }),
    format: flags.oneOf('Output format: lines for people, or one CloudEvent JSON per line', ['text', 'json'], { default: 'text' }),
    natsUrl: natsUrlFlag,
    runDir: runDirFlag,
  },
  async run({ flags: f, io }) {
    const filters = parseEventFilters(f.filter);
    const now = new Date();
    const since = f.since === undefined ? undefined : parseEventTime(f.since, '--since', now);
    const until = f.until === undefined ? undefined : parseEventTime(f.until, '--until', now);
    const url = resolveNatsUrl(f.natsUrl, f.runDir);
    const signal = io.interrupts();
    // Warnings (a message in the stream that is not a CloudEvent) go to stderr as JSON lines.
    const logger = createLogger({ name: 'strata-events', write: (line) => io.stderr.write(line) });

    const [{ connect }, { readEvents }] = await Promise.all([import('@nats-io/transport-node'), import('@strata/events-nats')]);
    let nc;
    try {
      nc = await connect({ servers: url, name: 'strata-events', timeout: 5000, maxReconnectAttempts: -1 });
    } catch (cause) {
      throw unavailable(`cannot reach NATS at ${url}: ${(cause as Error).message}; start Strata with 'strata up' or pass --nats-url`, {
        cause,
      });
    }
    try {
      const events = readEvents(nc, { logger, since, until, subject: eventFilterSubject(filters), signal });
      for await (const { event } of events) {
        if (!matchesEventFilters(event, filters)) continue;
        io.stdout.write(`${f.format === 'json' ? JSON.stringify(event) : formatEventLine(event)}\n`);
      }
    } finally {
      await nc.close().catch(() => undefined);
    }
    return 0;
  },
});
