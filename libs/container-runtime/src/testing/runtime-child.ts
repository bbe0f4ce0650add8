// A process that creates and starts containers through the runtime, prints
// `{"started":[{id,pid,monitorPid}…]}` and then idles until killed: the test
// of restarts SIGKILLs it. Argument: JSON {stateRoot, runcRoot, containers:[{id, bundle}]}.
import { silentLogger } from '@strata/kit';
import { createRuntime } from '../runtime.js';

const config = JSON.parse(process.argv[2] ?? '{}') as {
  stateRoot: string;
  runcRoot: string;
  containers: { id: string; bundle: string }[];
};
const runtime = createRuntime({ stateRoot: config.stateRoot, runcRoot: config.runcRoot, logger: silentLogger() });
const started = [];
for (const c of config.containers) {
  const created = await runtime.create(c.id, c.bundle);
  await runtime.start(c.id);
  started.push(created);
}
process.stdout.write(`${JSON.stringify({ started })}\n`);
setInterval(() => undefined, 1 << 30);
