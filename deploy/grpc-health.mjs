#!/usr/bin/env node
// Container health check of a Strata service: exits 0 when the gRPC server
// on the unix socket given as the only argument (by default the socket of
// the image's service, /run/strata/$STRATA_SERVICE.sock) answers grpc.health.v1
// Check with SERVING within 2 s, 1 otherwise (with the reason on stderr).
// Plain JavaScript, so a check costs no TypeScript compilation.
import { credentials, makeClientConstructor } from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';

const socket = process.argv[2] ?? (process.env.STRATA_SERVICE ? `/run/strata/${process.env.STRATA_SERVICE}.sock` : undefined);
if (!socket) {
  process.stderr.write('usage: grpc-health.mjs SOCKET\n');
  process.exit(2);
}
const Health = makeClientConstructor(healthService, 'grpc.health.v1.Health');
const client = new Health(`unix:${socket}`, credentials.createInsecure());
client.Check({ service: '' }, { deadline: Date.now() + 2000 }, (err, response) => {
  client.close();
  if (err) {
    process.stderr.write(`unix:${socket}: ${err.message}\n`);
    process.exit(1);
  }
  if (response.status !== 'SERVING') {
    process.stderr.write(`unix:${socket}: health is ${response.status}\n`);
    process.exit(1);
  }
  process.exit(0);
});
