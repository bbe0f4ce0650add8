import { onShutdownSignals } from '@strata/grpc-kit';
import { createLogger, describeConfig, isStrataError } from '@strata/kit';
import { loadRegistryMirrorConfig, registryMirrorSpec, type RegistryMirrorConfig } from './config.js';

const argv = process.argv.slice(2);

if (argv.includes('--help') || argv.includes('-h')) {
  process.stdout.write(
    'usage: registry-mirror [--setting value]... [--upstream host[=endpoint][,insecure]]... [--config FILE]\n\n' +
      'Serves the OCI Distribution API over HTTP, keeping blobs in the layer-store and tags in NATS;\n' +
      'the gRPC Images API and health on <run-dir>/registry-mirror.sock.\n\n' +
      `Settings (flag, environment variable, default):\n${describeConfig(registryMirrorSpec)}\n`,
  );
  process.exit(0);
}

let config: RegistryMirrorConfig;
try {
  config = loadRegistryMirrorConfig(argv, process.env);
} catch (err) {
  process.stderr.write(`registry-mirror: ${(err as Error).message}\n`);
  process.exit(2);
}

const logger = createLogger({ name: 'registry-mirror', level: config.logLevel });

try {
  const { startRegistryMirror } = await import('./registry-mirror.js');
  const mirror = await startRegistryMirror(config, logger);
  onShutdownSignals(() => mirror.stop(), logger);
} catch (err) {
  logger.fatal({ err }, 'cannot start');
  process.stderr.write(`registry-mirror: ${isStrataError(err) ? err.message : `cannot start: ${(err as Error).message}`}\n`);
  process.exit(1);
}
