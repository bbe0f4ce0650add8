import type * as pb from '@strata/api/content/v1';
import type { Info, Lease, Status } from '@strata/content';
import { internal } from '@strata/kit';
import { isDigest, type Digest } from '@strata/oci';

/*
 * Proto ↔ domain conversions: the only place where generated message types
 * meet the content domain's types.
 */

/** The proto form of a blob's Info. */
export function toProtoInfo(info: Info): pb.Info {
  return { digest: info.digest, size: info.size, createdAt: info.createdAt, updatedAt: info.updatedAt, labels: { ...info.labels } };
}

/** A digest the server sent; Internal when it is not one (the server is broken, not the caller). */
export function serverDigest(value: string): Digest {
  if (!isDigest(value)) throw internal(`the server sent a malformed digest ${JSON.stringify(value.slice(0, 100))}`);
  return value;
}

const date = (d: Date | undefined): Date => d ?? new Date(0);

/** The domain Info of a proto Info from the server. */
export function fromProtoInfo(info: pb.Info | undefined): Info {
  if (info === undefined) throw internal('the server sent no blob info');
  return {
    digest: serverDigest(info.digest),
    size: info.size,
    createdAt: date(info.createdAt),
    updatedAt: date(info.updatedAt),
    labels: { ...info.labels },
  };
}

/** The proto form of an ingest's Status. */
export function toProtoStatus(status: Status): pb.Status {
  return {
    ref: status.ref,
    offset: status.offset,
    total: status.total,
    expected: status.expected ?? '',
    startedAt: status.startedAt,
    updatedAt: status.updatedAt,
  };
}

/** The domain Status of a proto Status from the server. */
export function fromProtoStatus(status: pb.Status | undefined): Status {
  if (status === undefined) throw internal('the server sent no ingest status');
  return {
    ref: status.ref,
    offset: status.offset,
    total: status.total,
    ...(status.expected === '' ? {} : { expected: serverDigest(status.expected) }),
    startedAt: date(status.startedAt),
    updatedAt: date(status.updatedAt),
  };
}

/** The proto form of a Lease. */
export function toProtoLease(lease: Lease): pb.Lease {
  return { id: lease.id, createdAt: lease.createdAt, expiresAt: lease.expiresAt, labels: { ...lease.labels } };
}

/** The domain Lease of a proto Lease from the server. */
export function fromProtoLease(lease: pb.Lease | undefined): Lease {
  if (lease === undefined) throw internal('the server sent no lease');
  return {
    id: lease.id,
    createdAt: date(lease.createdAt),
    ...(lease.expiresAt === undefined ? {} : { expiresAt: lease.expiresAt }),
    labels: { ...lease.labels },
  };
}
