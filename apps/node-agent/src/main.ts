import { onShutdownSignals } from '@strata/grpc-kit';
import { createLogger, describeConfig } from '@strata/kit';
import { loadNodeAgentConfig, nodeAgentSpec, type NodeAgentConfig } from './config.js';

const argv = process.argv.slice(2);

if (argv.includes('--help') || argv.includes('-h')) {
  process.stdout.write(
    'usage: node-agent [--setting value]... [--config FILE]\n\n' +
      "Runs this host's containers (runc under a per-container monitor, overlay rootfs from the\n" +
      "snapshotter, cgroups, a bridge network with published ports) and serves the gRPC\n" +
      'Containers API (strata.containers.v1) and health on <run-dir>/node-agent.sock, and with\n' +
      '--tcp-listen on TCP with mutual TLS only (clients need a certificate of the fleet CA).\n' +
      'Containers keep running when the agent stops; a new agent finds them again.\n' +
      'Needs root: mounts, namespaces, cgroups and iptables.\n\n' +
      `Settings (flag, environment variable, default):\n${describeConfig(nodeAgentSpec)}\n`,
  );
  process.exit(0);
}

let config: NodeAgentConfig;
try {
  config = loadNodeAgentConfig(argv, process.env);
} catch (err) {
  process.stderr.write(`node-agent: ${(err as Error).message}\n`);
  process.exit(2);
}

const logger = createLogger({ name: 'node-agent', level: config.logLevel });

try {
  const { startNodeAgent } = await import('./node-agent.js');
  const agent = await startNodeAgent(config, logger);
  onShutdownSignals(() => agent.stop(), logger);
} catch (err) {
  logger.fatal({ err }, 'cannot start');
  process.stderr.write(`node-agent: cannot start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}
