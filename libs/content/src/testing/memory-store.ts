import { alreadyExists, failedPrecondition, invalidArgument, notFound, outOfRange, unavailable } from '@strata/kit';
import { Digester, parseDigest, type Digest } from '@strata/oci';
import { fieldsOf, parseFilters } from '../filters.js';
import type { Store, Writer } from '../store.js';
import type { Info, Labels, ReadRange, Status } from '../types.js';
import { applyLabelUpdate, validateLabels, validateRef } from '../validate.js';

interface MemoryBlob {
  data: Buffer;
  createdAt: Date;
  updatedAt: Date;
  labels: Labels;
}

interface MemoryIngest {
  ref: string;
  parts: Buffer[];
  size: number;
  total: number;
  expected?: Digest;
  startedAt: Date;
  updatedAt: Date;
  hash: Digester;
  holder?: symbol;
}

const READ_CHUNK = 64 * 1024;

function wholeNumber(value: unknown, what: string): number {
  if (value === undefined) return 0;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw invalidArgument(`invalid ${what} ${String(value)}: must be a whole number of bytes, 0 or more`);
  }
  return value;
}

/**
 * A complete Store kept in memory: the reference implementation of the
 * contract (contentStoreSuite), for tests of code built on a Store. Nothing
 * survives the process; errors are those of the Store contract.
 */
export function createMemoryStore(): Store {
  const blobs = new Map<Digest, MemoryBlob>();
  const ingests = new Map<string, MemoryIngest>();

  const blob = (digest: Digest): MemoryBlob => {
    const b = blobs.get(digest);
    if (b === undefined) throw notFound(`blob ${digest} not found`, { fields: { digest } });
    return b;
  };
  const info = (digest: Digest, b: MemoryBlob): Info => ({
    digest,
    size: b.data.length,
    createdAt: new Date(b.createdAt),
    updatedAt: new Date(b.updatedAt),
    labels: { ...b.labels },
  });
  const status = (i: MemoryIngest): Status => ({
    ref: i.ref,
    offset: i.size,
    total: i.total,
    ...(i.expected === undefined ? {} : { expected: i.expected }),
    startedAt: new Date(i.startedAt),
    updatedAt: new Date(i.updatedAt),
  });

  const openWriter = (ingest: MemoryIngest): Writer => {
    const token = Symbol(ingest.ref);
    ingest.holder = token;
    let closed = false;
    const live = (): MemoryIngest => {
      if (closed) throw failedPrecondition(`writer for ${ingest.ref} is closed`, { fields: { ref: ingest.ref } });
      return ingest;
    };
    const release = () => {
      closed = true;
      if (ingest.holder === token) delete ingest.holder;
    };
    const discard = () => {
      release();
      if (ingests.get(ingest.ref) === ingest) ingests.delete(ingest.ref);
    };
    return {
      ref: ingest.ref,
      get offset() {
        return ingest.size;
      },
      async status() {
        return status(live());
      },
      async write(data) {
        const i = live();
        if (i.total > 0 && i.size + data.length > i.total) {
          throw failedPrecondition(
            `cannot write ${data.length} bytes at offset ${i.size} of ${i.ref}: that passes the announced total of ${i.total} bytes`,
            { fields: { ref: i.ref } },
          );
        }
        const copy = Buffer.from(data);
        i.parts.push(copy);
        i.hash.update(copy);
        i.size += copy.length;
        i.updatedAt = new Date();
      },
      async truncate() {
        const i = live();
        i.parts = [];
        i.size = 0;
        i.hash = new Digester();
        i.updatedAt = new Date();
      },
      async close() {
        release();
      },
      async commit(options = {}) {
        const i = live();
        let expected: Digest | undefined;
        let labels: Labels;
        let total: number;
        try {
          expected = options.expected === undefined ? i.expected : parseDigest(options.expected);
          labels = validateLabels({ ...(options.labels ?? {}) });
          total = options.total === undefined || options.total === 0 ? i.total : wholeNumber(options.total, 'total');
        } catch (error) {
          release();
          throw error;
        }
        const digest = i.hash.digest();
        if (total > 0 && i.size !== total) {
          discard();
          throw failedPrecondition(`commit of ${i.ref} failed: got ${i.size} bytes, expected ${total}`, { fields: { ref: i.ref } });
        }
        if (expected !== undefined && digest !== expected) {
          discard();
          throw failedPrecondition(`commit of ${i.ref} failed: got digest ${digest}, expected ${expected}`, {
            fields: { ref: i.ref, digest },
          });
        }
        discard();
        if (blobs.has(digest)) throw alreadyExists(`blob ${digest} already exists`, { fields: { digest } });
        const now = new Date();
        const stored: MemoryBlob = { data: Buffer.concat(i.parts), createdAt: now, updatedAt: now, labels };
        blobs.set(digest, stored);
        return info(digest, stored);
      },
    };
  };

  return {
    async read(digest, range: ReadRange = {}) {
      const d = parseDigest(digest);
      const offset = wholeNumber(range.offset, 'read offset');
      const length = wholeNumber(range.length, 'read length');
      const { data } = blob(d);
      if (offset > data.length) {
        throw outOfRange(`cannot read ${d} from offset ${offset}: the blob has ${data.length} bytes`, { fields: { digest: d } });
      }
      const end = length === 0 ? data.length : Math.min(data.length, offset + length);
      const bytes = data.subarray(offset, end);
      return {
        size: data.length,
        chunks: (async function* () {
          for (let p = 0; p < bytes.length; p += READ_CHUNK) yield Buffer.from(bytes.subarray(p, p + READ_CHUNK));
        })(),
      };
    },
    async info(digest) {
      const d = parseDigest(digest);
      return info(d, blob(d));
    },
    async update(digest, labels, fieldPaths) {
      const d = parseDigest(digest);
      const b = blob(d);
      b.labels = applyLabelUpdate(b.labels, labels, fieldPaths);
      b.updatedAt = new Date();
      return info(d, b);
    },
    async *walk(filters) {
      const match = parseFilters(filters);
      for (const [d, b] of [...blobs]) {
        const i = info(d, b);
        if (match(fieldsOf({ ...i }))) yield i;
      }
    },
    async delete(digest) {
      const d = parseDigest(digest);
      blob(d);
      blobs.delete(d);
    },
    async writer(options) {
      const ref = validateRef(options.ref);
      const expected = options.expected === undefined ? undefined : parseDigest(options.expected);
      const total = wholeNumber(options.total, 'total');
      if (expected !== undefined && blobs.has(expected)) {
        throw alreadyExists(`blob ${expected} already exists`, { fields: { digest: expected } });
      }
      let ingest = ingests.get(ref);
      if (ingest?.holder !== undefined) throw unavailable(`ingest ${ref} is locked by another writer`, { fields: { ref } });
      if (ingest === undefined) {
        const now = new Date();
        ingest = { ref, parts: [], size: 0, total, startedAt: now, updatedAt: now, hash: new Digester() };
        ingests.set(ref, ingest);
      }
      if (total > 0) ingest.total = total;
      if (expected !== undefined) ingest.expected = expected;
      return openWriter(ingest);
    },
    async status(ref) {
      const r = validateRef(ref);
      const ingest = ingests.get(r);
      if (ingest === undefined) throw notFound(`no ingest with ref ${r}`, { fields: { ref: r } });
      return status(ingest);
    },
    async listStatuses(filters) {
      const match = parseFilters(filters);
      return [...ingests.values()].map(status).filter((s) => match(fieldsOf({ ...s })));
    },
    async abort(ref) {
      const r = validateRef(ref);
      const ingest = ingests.get(r);
      if (ingest === undefined) throw notFound(`no ingest with ref ${r}`, { fields: { ref: r } });
      if (ingest.holder !== undefined) throw unavailable(`ingest ${r} is locked by another writer`, { fields: { ref: r } });
      ingests.delete(r);
    },
    async close() {
      for (const ingest of ingests.values()) delete ingest.holder;
    },
  };
}
