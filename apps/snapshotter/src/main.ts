import { onShutdownSignals } from '@strata/grpc-kit';
import { createLogger, describeConfig } from '@strata/kit';
import { loadSnapshotterConfig, snapshotterSpec, type SnapshotterConfig } from './config.js';

const argv = process.argv.slice(2);

if (argv.includes('--help') || argv.includes('-h')) {
  process.stdout.write(
    'usage: snapshotter [--setting value]... [--config FILE]\n\n' +
      "Keeps this host's unpacked layers as snapshots (overlay or native copies) and serves\n" +
      'the gRPC Snapshots API (strata.snapshots.v1) and health on <run-dir>/snapshotter.sock.\n' +
      'Needs root: snapshots hold files of every owner, and their mounts need CAP_SYS_ADMIN.\n\n' +
      `Settings (flag, environment variable, default):\n${describeConfig(snapshotterSpec)}\n`,
  );
  process.exit(0);
}

let config: SnapshotterConfig;
try {
  config = loadSnapshotterConfig(argv, process.env);
} catch (err) {
  process.stderr.write(`snapshotter: ${(err as Error).message}\n`);
  process.exit(2);
}

const logger = createLogger({ name: 'snapshotter', level: config.logLevel });

try {
  const { startSnapshotter } = await import('./snapshotter.js');
  const service = await startSnapshotter(config, logger);
  onShutdownSignals(() => service.stop(), logger);
} catch (err) {
  logger.fatal({ err }, 'cannot start');
  process.stderr.write(`snapshotter: cannot start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}
