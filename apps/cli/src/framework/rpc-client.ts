/**
 * The gRPC client factory and the health check, imported lazily by the
 * commands that call a service. Only the client part of @strata/grpc-kit:
 * the bundle built from it (tools/scripts/build-cli.mjs) leaves out the
 * server side, and the health service (whose import parses a .proto file)
 * loads only when checkHealth runs.
 */
export { checkHealth, createClient } from '@strata/grpc-kit/client';
