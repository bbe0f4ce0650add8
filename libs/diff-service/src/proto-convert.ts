import { UnpackStatus as ProtoUnpackStatus, type UnpackResponse } from '@strata/api/diff/v1';
import type { Descriptor as ProtoDescriptor } from '@strata/api/types/v1';
import { internal, invalidArgument } from '@strata/kit';
import { parseDigest, type Descriptor } from '@strata/oci';
import type { UnpackProgress, UnpackStatus } from './differ.js';

/** The wire form of a descriptor. */
export function toProtoDescriptor(d: Descriptor): ProtoDescriptor {
  return { mediaType: d.mediaType, digest: d.digest, size: d.size, annotations: { ...(d.annotations ?? {}) } };
}

/**
 * A descriptor from the wire; `what` names it in messages. InvalidArgument
 * when it is missing or its digest is malformed.
 */
export function fromProtoDescriptor(d: ProtoDescriptor | undefined, what: string): Descriptor {
  if (d === undefined) throw invalidArgument(`${what} descriptor is missing`);
  const annotations = Object.keys(d.annotations).length === 0 ? {} : { annotations: { ...d.annotations } };
  return { mediaType: d.mediaType, digest: parseDigest(d.digest), size: d.size, ...annotations };
}

const TO_PROTO_STATUS: Record<UnpackStatus, ProtoUnpackStatus> = {
  EXISTS: ProtoUnpackStatus.UNPACK_STATUS_EXISTS,
  APPLYING: ProtoUnpackStatus.UNPACK_STATUS_APPLYING,
  COMMITTED: ProtoUnpackStatus.UNPACK_STATUS_COMMITTED,
};

/** The wire form of an unpack progress event. */
export function toProtoUnpackResponse(p: UnpackProgress): UnpackResponse {
  return { index: p.index, digest: p.digest, diffId: p.diffId, chainId: p.chainId, status: TO_PROTO_STATUS[p.status] };
}

/** An unpack progress event from the wire; Internal for a status the client does not know. */
export function fromProtoUnpackResponse(r: UnpackResponse): UnpackProgress {
  const status = (Object.keys(TO_PROTO_STATUS) as UnpackStatus[]).find((s) => TO_PROTO_STATUS[s] === r.status);
  if (status === undefined) throw internal(`the diff service sent an unknown unpack status ${r.status}`);
  return { index: r.index, digest: parseDigest(r.digest), diffId: parseDigest(r.diffId), chainId: parseDigest(r.chainId), status };
}
