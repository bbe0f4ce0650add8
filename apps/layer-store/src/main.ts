import { onShutdownSignals } from '@strata/grpc-kit';
import { createLogger, describeConfig, isStrataError } from '@strata/kit';
import { layerStoreSpec, loadLayerStoreConfig, type LayerStoreConfig } from './config.js';

const argv = process.argv.slice(2);

if (argv.includes('--help') || argv.includes('-h')) {
  process.stdout.write(
    'usage: layer-store [--setting value]... [--config FILE]\n\n' +
      'Serves content-addressed blobs over gRPC (strata.content.v1) on a unix socket.\n\n' +
      `Settings (flag, environment variable, default):\n${describeConfig(layerStoreSpec)}\n`,
  );
  process.exit(0);
}

let config: LayerStoreConfig;
try {
  config = loadLayerStoreConfig(argv, process.env);
} catch (err) {
  process.stderr.write(`layer-store: ${(err as Error).message}\n`);
  process.exit(2);
}

const logger = createLogger({ name: 'layer-store', level: config.logLevel });

try {
  const { startLayerStore } = await import('./layer-store.js');
  const service = await startLayerStore(config, logger);
  onShutdownSignals(() => service.stop(), logger);
} catch (err) {
  logger.fatal({ err }, 'cannot start');
  process.stderr.write(`layer-store: ${isStrataError(err) ? err.message : `cannot start: ${(err as Error).message}`}\n`);
  process.exit(1);
}
