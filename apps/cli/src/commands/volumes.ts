import { join, resolve } from 'node:path';
import type { VolumesService } from '@strata/api/containers/v1';
import type { RpcClient } from '@strata/grpc-kit';
import { isNotFound, isStrataError } from '@strata/kit';
import { defineCommand } from '../framework/command.js';
import { confirm } from '../framework/confirm.js';
import { flags } from '../framework/flags.js';
import { humanSize } from '../framework/human-units.js';
import { printInspected, printList } from '../framework/output-format.js';
import { formatTable } from '../framework/table.js';
import { inspectFormatFlag, listFormatFlag, runDirFlag } from './common-flags.js';
import { parseLabels } from './container-options.js';
import { NODE_AGENT_SOCKET } from './containers.js';

/** Runs fn with the Volumes client of the node-agent under runDir, closed after it; gRPC loads only here. */
async function withVolumes<T>(runDir: string, fn: (client: RpcClient, api: VolumesService) => Promise<T>): Promise<T> {
  const [{ createClient }, { VolumesService: api }] = await Promise.all([import('../framework/rpc-client.js'), import('@strata/api/containers/v1')]);
  const client = createClient({ unixSocket: join(resolve(runDir), NODE_AGENT_SOCKET) });
  try {
    return await fn(client, api);
  } finally {
    client.close();
  }
}

/** Docker's exit codes of `docker volume …`: 1 for a failure, 125 for a wrong command line. */
const volumeExitCodes = { usage: 125 };

/** `strata volume create [NAME]`. */
export const volumeCreateCommand = defineCommand({
  name: 'volume create',
  summary: 'Create a volume',
  description:
    "Creates a volume on this node (driver local: a directory under the node-agent's state) and prints its name; a " +
    'volume of that name that is there already is left as it is. Without NAME, an anonymous volume (a 64-hex name).',
  usage: '[VOLUME]',
  maxArgs: 1,
  exitCodes: volumeExitCodes,
  flags: {
    label: flags.list('Set metadata for a volume', { short: 'l', placeholder: 'KEY=VALUE' }),
    driver: flags.string('Specify volume driver name (local only)', { short: 'd', placeholder: 'DRIVER' }),
    runDir: runDirFlag,
  },
  async run({ flags: f, args, io }) {
    const labels = parseLabels(f.label);
    const { volume } = await withVolumes(f.runDir, (client, api) => client.unary(api.create, { name: args[0] ?? '', labels, driver: f.driver ?? '' }));
    io.stdout.write(`${volume!.name}\n`);
  },
});

/** `strata volume ls`. */
export const volumeLsCommand = defineCommand({
  name: 'volume ls',
  summary: 'List volumes',
  description:
    "Lists this node's volumes by name, as `docker volume ls`: DRIVER and VOLUME NAME. --filter dangling=true|false, " +
    'name=…, label=KEY[=VALUE], driver=local (same keys OR, different keys AND). A --format template sees .Driver, ' +
    '.Labels, .Mountpoint, .Name, .Scope.',
  exitCodes: volumeExitCodes,
  flags: {
    quiet: flags.switch('Only display volume names', { short: 'q' }),
    filter: flags.list('Provide filter values (e.g. dangling=true)', { short: 'f', placeholder: 'FILTER' }),
    format: listFormatFlag,
    runDir: runDirFlag,
  },
  async run({ flags: f, io }) {
    const { volumes } = await withVolumes(f.runDir, (client, api) => client.unary(api.list, { filters: f.filter }));
    if (f.quiet) {
      io.stdout.write(volumes.map((v) => `${v.name}\n`).join(''));
      return;
    }
    const { volumeRow } = await import('@strata/docker-api/views');
    const rows = volumes.map(volumeRow);
    printList(io.stdout, f.format, rows, {
      table: (r) => formatTable(['DRIVER', 'VOLUME NAME'], r.map((v) => [v.Driver, v.Name])),
      headers: { Name: 'VOLUME NAME' },
    });
  },
});

/** `strata volume inspect NAME…`. */
export const volumeInspectCommand = defineCommand({
  name: 'volume inspect',
  summary: 'Display detailed information on one or more volumes',
  description:
    'Prints a JSON array with one object per volume, as `docker volume inspect`: CreatedAt, Driver, Labels, ' +
    'Mountpoint, Name, Options, Scope; -f runs a Go template on each instead. A volume that is not there is ' +
    'reported on stderr and makes the exit code 1.',
  usage: 'VOLUME...',
  minArgs: 1,
  maxArgs: Number.MAX_SAFE_INTEGER,
  exitCodes: volumeExitCodes,
  flags: { format: inspectFormatFlag, runDir: runDirFlag },
  async run({ flags: f, args, io }) {
    const { volumeView } = await import('@strata/docker-api/views');
    return withVolumes(f.runDir, async (client, api) => {
      const found: unknown[] = [];
      let failed = false;
      for (const name of args) {
        try {
          found.push(volumeView((await client.unary(api.inspect, { name })).volume!));
        } catch (err) {
          if (!isNotFound(err)) throw err;
          io.stderr.write(`strata: ${err.message}\n`);
          failed = true;
        }
      }
      printInspected(io.stdout, f.format, found);
      return failed ? 1 : 0;
    });
  },
});

/** `strata volume rm [-f] NAME…`. */
export const volumeRmCommand = defineCommand({
  name: 'volume rm',
  summary: 'Remove one or more volumes',
  description:
    'Removes each volume with its data and prints its name. A volume that a container has (running or not) is not ' +
    'removed: "volume is in use - [ID]", as Docker says; --force does not change that, but makes a volume that is ' +
    'not there no error.',
  usage: 'VOLUME...',
  minArgs: 1,
  maxArgs: Number.MAX_SAFE_INTEGER,
  exitCodes: volumeExitCodes,
  flags: { force: flags.switch('Force the removal of one or more volumes', { short: 'f' }), runDir: runDirFlag },
  async run({ flags: f, args, io }) {
    return withVolumes(f.runDir, async (client, api) => {
      let failed = false;
      for (const name of args) {
        try {
          await client.unary(api.remove, { name, force: f.force });
          io.stdout.write(`${name}\n`);
        } catch (err) {
          if (!isStrataError(err) || err.kind === 'Unavailable') throw err;
          io.stderr.write(`strata: ${err.message}\n`);
          failed = true;
        }
      }
      return failed ? 1 : 0;
    });
  },
});

/** `strata volume prune [-a] [-f]`. */
export const volumePruneCommand = defineCommand({
  name: 'volume prune',
  summary: 'Remove unused local volumes',
  description:
    'Removes the volumes no container has: anonymous ones only, or with --all named ones too, as `docker volume ' +
    'prune`; asks first unless --force. Prints the names removed and the space reclaimed.',
  exitCodes: volumeExitCodes,
  flags: {
    all: flags.switch('Remove all unused volumes, not just anonymous ones', { short: 'a' }),
    filter: flags.list('Provide filter values (e.g. label=KEY=VALUE)', { placeholder: 'FILTER' }),
    force: flags.switch('Do not prompt for confirmation', { short: 'f' }),
    runDir: runDirFlag,
  },
  async run({ flags: f, io }) {
    if (!f.force) {
      const which = f.all ? 'all local volumes' : 'anonymous local volumes';
      if (!(await confirm(io, `This will remove ${which} not used by at least one container.`))) return 0;
    }
    const result = await withVolumes(f.runDir, (client, api) => client.unary(api.prune, { all: f.all, filters: f.filter }));
    const deleted = result.volumesDeleted.length === 0 ? '' : `Deleted Volumes:\n${result.volumesDeleted.map((n) => `${n}\n`).join('')}\n`;
    io.stdout.write(`${deleted}Total reclaimed space: ${humanSize(result.spaceReclaimed)}\n`);
    return 0;
  },
});

/** The `strata volume …` commands. */
export const volumeCommands = [volumeCreateCommand, volumeLsCommand, volumeInspectCommand, volumeRmCommand, volumePruneCommand];
