import { Kind as ProtoKind, type Info as ProtoInfo, type Mount as ProtoMount } from '@strata/api/snapshots/v1';
import { internal } from '@strata/kit';
import type { Info, Kind, Mount } from '@strata/snapshots';

const TO_PROTO_KIND: Record<Kind, ProtoKind> = {
  view: ProtoKind.KIND_VIEW,
  active: ProtoKind.KIND_ACTIVE,
  committed: ProtoKind.KIND_COMMITTED,
};

/** The wire form of a snapshot kind. */
export function toProtoKind(kind: Kind): ProtoKind {
  return TO_PROTO_KIND[kind];
}

/** The domain kind of a wire kind; Internal for KIND_UNSPECIFIED or an unknown number (a broken peer). */
export function fromProtoKind(kind: ProtoKind): Kind {
  switch (kind) {
    case ProtoKind.KIND_VIEW:
      return 'view';
    case ProtoKind.KIND_ACTIVE:
      return 'active';
    case ProtoKind.KIND_COMMITTED:
      return 'committed';
    default:
      throw internal(`the snapshotter answered an unknown snapshot kind ${String(kind)}`);
  }
}

/** The wire form of Info: an absent parent is empty. */
export function toProtoInfo(info: Info): ProtoInfo {
  return {
    name: info.name,
    parent: info.parent ?? '',
    kind: toProtoKind(info.kind),
    createdAt: info.created,
    updatedAt: info.updated,
    labels: { ...info.labels },
  };
}

/** The domain Info of its wire form; Internal when the server left out info or sent an unknown kind. */
export function fromProtoInfo(info: ProtoInfo | undefined): Info {
  if (info === undefined) throw internal('the snapshotter answered without the snapshot info');
  return {
    name: info.name,
    ...(info.parent === '' ? {} : { parent: info.parent }),
    kind: fromProtoKind(info.kind),
    labels: { ...info.labels },
    created: info.createdAt ?? new Date(0),
    updated: info.updatedAt ?? new Date(0),
  };
}

/** The wire form of a Mount: absent target and cwd are empty. */
export function toProtoMount(mount: Mount): ProtoMount {
  return { type: mount.type, source: mount.source, target: mount.target ?? '', options: [...mount.options], cwd: mount.cwd ?? '' };
}

/** The domain Mount of its wire form: empty target and cwd are left out. */
export function fromProtoMount(mount: ProtoMount): Mount {
  return {
    type: mount.type,
    source: mount.source,
    ...(mount.target === '' ? {} : { target: mount.target }),
    options: [...mount.options],
    ...(mount.cwd === '' ? {} : { cwd: mount.cwd }),
  };
}
