import { defineCommand } from '../framework/command.js';
import { flags, type Flag } from '../framework/flags.js';
import { fleetFlags } from '../fleet/node-clients.js';
import { runDirFlag } from './common-flags.js';
import { EXIT_CLI_ERROR } from './container-options.js';
import { withFleet } from './containers.js';
import { parseTagTarget } from './image-views.js';

/** `-p/--pause`: a switch that is on unless `--pause=false`, as Docker's. */
const pauseFlag: Flag<boolean> = { ...flags.switch('Pause container during commit', { short: 'p' }), initial: true, shownDefault: 'true' };

/**
 * `strata commit [-m MSG] [-a AUTHOR] [-c INSTRUCTION]… [-p=false]
 * CONTAINER REPOSITORY[:TAG]`, as `docker commit`: the node-agent diffs the
 * container's writable layer into a new layer, writes an image on top of
 * the container's image and tags it in the registry-mirror; prints the new
 * image id. The reference is checked before any call (Docker's texts).
 * Committed names are normalized like any reference (`web02:1.1` is
 * `docker.io/library/web02:1.1`) and stay in the mirror until pushed.
 * A container on another node of the fleet is found and committed there,
 * as the other container commands do; the image, written to the shared
 * layer-store and tagged in the mirror, runs on any node.
 */
export const commitCommand = defineCommand({
  name: 'commit',
  summary: "Create a new image from a container's changes",
  description:
    "Writes the container's changes (added, changed and deleted files) as a new layer on top of its image, with a history " +
    'entry carrying the message and author, the run config the container was created with and the --change instructions ' +
    '(CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR) applied, and tags it in the ' +
    'registry-mirror (names are local, like Docker\'s, until pushed). A running container is paused during the diff ' +
    'unless --pause=false. Prints the new image id. A container on another node of the fleet is committed by that ' +
    "node's agent; the image then runs on any node.",
  usage: 'CONTAINER REPOSITORY[:TAG]',
  minArgs: 2,
  maxArgs: 2,
  exitCodes: { usage: EXIT_CLI_ERROR },
  flags: {
    message: flags.string('Commit message', { short: 'm', placeholder: 'MESSAGE' }),
    author: flags.string('Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")', { short: 'a', placeholder: 'AUTHOR' }),
    change: flags.list('Apply Dockerfile instruction to the created image', { short: 'c', placeholder: 'INSTRUCTION' }),
    pause: pauseFlag,
    runDir: runDirFlag,
    ...fleetFlags,
  },
  async run({ flags: f, args, io }) {
    const [container, target] = args as [string, string];
    const reference = parseTagTarget(target).toString();
    const response = await withFleet(f, io, (on, api) =>
      on(container, (client) =>
        client.unary(api.commit, {
          id: container,
          reference,
          message: f.message ?? '',
          author: f.author ?? '',
          changes: f.change,
          pause: f.pause,
        }),
      ),
    );
    io.stdout.write(`${response.imageId}\n`);
  },
});
