/**
 * The transport ceiling for the content benchmark: a plain grpc-js server
 * whose one server-streaming method answers a request of N (a decimal byte
 * count) with N bytes in 1 MiB messages, the same payload each time, with no
 * protobuf and no disk. Listens on the unix socket given as argv[2] and
 * prints "ready" once bound; stops on SIGTERM.
 */
import { Server, ServerCredentials, type ServerWritableStream } from '@grpc/grpc-js';
import { echoMethod } from './lib.js';

const MESSAGE_BYTES = 1 << 20;

function stream(call: ServerWritableStream<Buffer, Buffer>): void {
  const payload = Buffer.alloc(MESSAGE_BYTES, 0x5a);
  let left = Number(call.request.toString());
  const pump = (): void => {
    while (left > 0) {
      const n = Math.min(left, MESSAGE_BYTES);
      left -= n;
      if (!call.write(n === MESSAGE_BYTES ? payload : payload.subarray(0, n))) {
        call.once('drain', pump);
        return;
      }
    }
    call.end();
  };
  pump();
}

const socket = process.argv[2];
if (socket === undefined) throw new Error('usage: grpc-echo-server.ts SOCKET');
const server = new Server({ 'grpc.max_send_message_length': 4 * MESSAGE_BYTES });
server.addService({ stream: echoMethod }, { stream });
server.bindAsync(`unix:${socket}`, ServerCredentials.createInsecure(), (err) => {
  if (err) throw err;
  console.log('ready');
});
process.once('SIGTERM', () => server.tryShutdown(() => process.exit(0)));
