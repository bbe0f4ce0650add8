/**
 * The gRPC client factory, imported lazily by the commands that call a
 * service. Only this part of @strata/grpc-kit: the bundle built from it
 * (tools/scripts/build-cli.mjs) leaves out the server side and the health
 * service, whose import parses a .proto file.
 */
export { createClient } from '@strata/grpc-kit';
