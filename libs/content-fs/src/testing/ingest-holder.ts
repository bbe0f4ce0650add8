/**
 * A program for fs-store.int.spec.ts: `ingest-holder ROOT REF BYTES` opens
 * the fs store at ROOT, writes BYTES pattern bytes (byte i is
 * (i * 31 + 7) % 251) to the ingest REF, prints `holding <offset>` and
 * keeps the writer open until it is killed.
 */
import { silentLogger } from '@strata/kit';
import { createFsStore } from '../fs-store.js';

const [root = '', ref = '', bytes = '0'] = process.argv.slice(2);
const store = await createFsStore({ root, logger: silentLogger() });
const writer = await store.writer({ ref });
const total = Number(bytes);
const chunk = Buffer.alloc(256 * 1024);
for (let offset = writer.offset; offset < total; offset += chunk.length) {
  const n = Math.min(chunk.length, total - offset);
  for (let i = 0; i < n; i++) chunk[i] = ((offset + i) * 31 + 7) % 251;
  await writer.write(chunk.subarray(0, n));
}
process.stdout.write(`holding ${writer.offset}\n`);
setInterval(() => undefined, 1 << 30);
