import { alreadyExists, failedPrecondition, notFound, unavailable, type StrataError } from '@strata/kit';
import type { Kind } from './types.js';

const quote = (key: string): string => JSON.stringify(key.length > 300 ? `${key.slice(0, 300)}…` : key);

/** NotFound: no snapshot has this key or name. */
export function snapshotNotFound(key: string): StrataError {
  return notFound(`snapshot ${quote(key)} not found`, { fields: { key } });
}

/** NotFound: the parent asked for does not exist. */
export function parentNotFound(parent: string): StrataError {
  return notFound(`parent snapshot ${quote(parent)} not found`, { fields: { parent } });
}

/** AlreadyExists: the key or name is taken by a snapshot of any kind. */
export function snapshotExists(key: string): StrataError {
  return alreadyExists(`snapshot ${quote(key)} already exists`, { fields: { key } });
}

/** FailedPrecondition: only committed snapshots can be parents. */
export function parentNotCommitted(parent: string, kind: Kind): StrataError {
  return failedPrecondition(`parent snapshot ${quote(parent)} is ${kind}: only committed snapshots can be parents`, {
    fields: { parent, kind },
  });
}

/** FailedPrecondition: commit of a view or committed snapshot. */
export function notActive(key: string, kind: Kind): StrataError {
  return failedPrecondition(`snapshot ${quote(key)} is ${kind}: only an active snapshot can be committed`, {
    fields: { key, kind },
  });
}

/** FailedPrecondition: mounts of a committed snapshot. */
export function noMounts(key: string): StrataError {
  return failedPrecondition(
    `snapshot ${quote(key)} is committed: only active and view snapshots have mounts; prepare or view one on top of it`,
    { fields: { key } },
  );
}

/** FailedPrecondition: remove of a snapshot that is the parent of others. */
export function hasChildren(key: string, children: number): StrataError {
  return failedPrecondition(
    `snapshot ${quote(key)} is the parent of ${children} snapshot${children === 1 ? '' : 's'}: remove them first`,
    { fields: { key, children } },
  );
}

/** Unavailable: the snapshotter was closed. */
export function snapshotterClosed(): StrataError {
  return unavailable('the snapshotter is closed');
}
