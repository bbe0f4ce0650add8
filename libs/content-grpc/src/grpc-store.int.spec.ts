import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LeasesService } from '@strata/api/content/v1';
import { digestOf, type Digest } from '@strata/oci';
import { createLeaseManager, type LeaseManager, type Store } from '@strata/content';
import { contentStoreSuite, createMemoryMetadataStore, createMemoryStore, expectError } from '@strata/content/testing';
import { createServer } from '@strata/grpc-kit';
import { silentLogger } from '@strata/kit';
import { tempDir } from '@strata/kit/testing';
import { createFsBlobProvider, createFsContent } from '@strata/content-fs';
import { createContentService } from './content-service.js';
import { startDataServer } from './data-server.js';
import { createGrpcStore, type GrpcStoreOptions } from './grpc-store.js';

/** How the client reaches the service: gRPC only, or with the data socket, and reads from the fs root first. */
type Paths = { data?: boolean; localRoot?: string };

async function serve(backend: Store, leases: LeaseManager, dir = tempDir('content-grpc-'), paths: Paths = {}) {
  const socket = join(dir.path, 'content.sock');
  const dataSocket = join(dir.path, 'content.data.sock');
  const logger = silentLogger();
  const service = createContentService(backend, leases, { logger });
  const server = createServer({ logger, services: service.registrations, unixSocket: socket });
  await server.start();
  const data = paths.data === true ? await startDataServer({ socket: dataSocket, handler: service.data, logger }) : undefined;
  const options: GrpcStoreOptions = {
    logger,
    ...(data === undefined ? {} : { dataSocket }),
    ...(paths.localRoot === undefined ? {} : { localBlobs: createFsBlobProvider({ root: paths.localRoot }) }),
  };
  const client = createGrpcStore({ unixSocket: socket }, options);
  return {
    store: client,
    leases: client.leases,
    cleanup: async () => {
      await client.close();
      await data?.close();
      await server.shutdown(1000);
      await backend.close();
      dir.remove();
    },
  };
}

contentStoreSuite('grpc over memory', () => serve(createMemoryStore(), createLeaseManager(createMemoryMetadataStore())));

contentStoreSuite('grpc over fs', async () => {
  const dir = tempDir('content-grpc-fs-');
  const { store, leases } = await createFsContent({ root: join(dir.path, 'blobs'), logger: silentLogger() });
  return serve(store, leases, dir);
});

contentStoreSuite('grpc with the data socket over memory', () =>
  serve(createMemoryStore(), createLeaseManager(createMemoryMetadataStore()), tempDir('content-grpc-data-'), { data: true }),
);

contentStoreSuite('grpc with the data socket and local fs reads', async () => {
  const dir = tempDir('content-grpc-local-');
  const root = join(dir.path, 'blobs');
  const { store, leases } = await createFsContent({ root, logger: silentLogger() });
  return serve(store, leases, dir, { data: true, localRoot: root });
});

describe('find against a layer-store without missing_ok', () => {
  it('takes its NOT_FOUND for absence', async () => {
    const dir = tempDir('content-grpc-old-info-');
    const socket = join(dir.path, 'content.sock');
    const logger = silentLogger();
    const service = createContentService(createMemoryStore(), createLeaseManager(createMemoryMetadataStore()), { logger });
    const asked: boolean[] = [];
    // An older service reads only the digest.
    const info: typeof service.content.info = (call, callback) => {
      asked.push(call.request.missingOk);
      call.request.missingOk = false;
      service.content.info(call, callback);
    };
    const server = createServer({
      logger,
      services: service.registrations.map((r) => (r.implementation === service.content ? { definition: r.definition, implementation: { ...service.content, info } } : r)),
      unixSocket: socket,
    });
    const client = createGrpcStore({ unixSocket: socket }, { logger });
    try {
      await server.start();
      expect(await client.find(digestOf('absent'))).toBeUndefined();
      expect(asked).toEqual([true]);
      await expectError(client.find('sha256:nope' as Digest), 'InvalidArgument');
    } finally {
      await client.close();
      await server.shutdown(1000);
      dir.remove();
    }
  });
});

describe('addResources against a layer-store without AddResources', () => {
  it('falls back to AddResource per digest', async () => {
    const dir = tempDir('content-grpc-old-');
    const socket = join(dir.path, 'content.sock');
    const logger = silentLogger();
    const backendLeases = createLeaseManager(createMemoryMetadataStore());
    const service = createContentService(createMemoryStore(), backendLeases, { logger });
    const { addResources: _unserved, ...older } = service.leases;
    const server = createServer({
      logger,
      services: service.registrations.map((r) => (r.definition === LeasesService ? { definition: r.definition, implementation: older } : r)),
      unixSocket: socket,
    });
    const client = createGrpcStore({ unixSocket: socket }, { logger });
    try {
      await server.start();
      const lease = await client.leases.create({ id: 'older' });
      await client.leases.addResources(lease.id, [digestOf('a'), digestOf('b'), digestOf('a')]);
      expect([...(await backendLeases.held())].sort()).toEqual([digestOf('a'), digestOf('b')].sort());
      await expectError(client.leases.addResources('absent', [digestOf('a')]), 'NotFound', 'lease absent not found');
    } finally {
      await client.close();
      await server.shutdown(1000);
      dir.remove();
    }
  });
});

describe('connect', () => {
  /** A content service that is not started yet and a client of its socket; stop() removes both. */
  function notStartedYet() {
    const dir = tempDir('content-grpc-connect-');
    const socket = join(dir.path, 'content.sock');
    const logger = silentLogger();
    const service = createContentService(createMemoryStore(), createLeaseManager(createMemoryMetadataStore()), { logger });
    const server = createServer({ logger, services: service.registrations, unixSocket: socket });
    const client = createGrpcStore({ unixSocket: socket }, { logger });
    const stop = async () => {
      await client.close();
      await server.shutdown(1000);
      dir.remove();
    };
    return { socket, server, client, stop };
  }

  it('waits for a service that starts later, gives up after timeoutMs, and refuses once closed', async () => {
    const { socket, server, client, stop } = notStartedYet();
    try {
      await expectError(client.connect(300), 'Unavailable');
      const connected = client.connect(10_000);
      await new Promise((resolve) => setTimeout(resolve, 300));
      await server.start();
      await connected;
      await client.close();
      await expectError(client.connect(), 'FailedPrecondition', `the client of unix:${socket} was closed`);
    } finally {
      await stop();
    }
  });

  it('holds the calls made while it waits for a service still starting, instead of failing them with the last connection error', async () => {
    const { server, client, stop } = notStartedYet();
    try {
      const connected = client.connect(10_000);
      // The channel has failed to connect (no socket yet) and waits to try again.
      await new Promise((resolve) => setTimeout(resolve, 300));
      const calls = Promise.all([client.find(digestOf('absent')), client.writer({ ref: 'early' }).then((w) => w.close())]);
      await new Promise((resolve) => setTimeout(resolve, 200));
      await server.start();
      await connected;
      expect(await calls).toEqual([undefined, undefined]);
    } finally {
      await stop();
    }
  });
});
