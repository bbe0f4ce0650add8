import { caCommands } from './commands/ca.js';
import { commitCommand } from './commands/commit.js';
import { containerCommands } from './commands/containers.js';
import { cpCommand } from './commands/copy.js';
import { contentCommands } from './commands/content.js';
import { downCommand } from './commands/down.js';
import { eventsCommand } from './commands/events.js';
import { imageTransferCommands } from './commands/image-transfer.js';
import { volumeCommands } from './commands/volumes.js';
import { imageCommands } from './commands/images.js';
import { nodesCommand } from './commands/nodes.js';
import { upCommand } from './commands/up.js';
import type { Program } from './framework/run-cli.js';

/** The `strata` command and its subcommands, in the order help lists them. */
export const strata: Program = {
  name: 'strata',
  description: 'Strata runs containers from layered images across a fleet of Linux hosts.',
  commands: [upCommand, downCommand, ...imageCommands, ...imageTransferCommands, ...containerCommands, cpCommand, ...volumeCommands, commitCommand, ...contentCommands, eventsCommand, nodesCommand, ...caCommands],
};
