// A child process for the crash test: commits layers one after another on
// the snapshotter at argv[2] (driver argv[3], key prefix argv[4]) until it is
// killed, printing "committed <n>" after each. Each layer holds argv[5] files
// and, written last, a "complete" marker naming how many.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { silentLogger } from '@strata/kit';
import { createLocalSnapshotter } from '../local-snapshotter.js';

const [root, driver, prefix, count] = process.argv.slice(2);
const FILES = Number(count);
if (root === undefined || (driver !== 'overlay' && driver !== 'native') || prefix === undefined || !(FILES > 0)) {
  process.stderr.write('usage: commit-loop ROOT overlay|native PREFIX FILES\n');
  process.exit(2);
}
const snapshotter = await createLocalSnapshotter({ root, driver, logger: silentLogger() });
let parent: string | undefined;
for (let n = 0; ; n++) {
  const key = `${prefix}-active-${n}`;
  await snapshotter.prepare(key, parent);
  const upper = (await snapshotter.directories(key)).upper!;
  for (let f = 0; f < FILES; f++) await writeFile(join(upper, `${prefix}-${n}-${f}`), `${n}:${f}:${'x'.repeat(4096)}`);
  await writeFile(join(upper, `${prefix}-${n}-complete`), String(FILES));
  await snapshotter.commit(`${prefix}-layer-${n}`, key);
  parent = `${prefix}-layer-${n}`;
  process.stdout.write(`committed ${n}\n`);
}
