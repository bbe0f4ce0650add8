import { isAbsolute, join } from 'node:path';
import type { Mount } from '@strata/snapshots';

/** The directories of an active overlay snapshot, absolute. */
export interface OverlayLayers {
  upper: string;
  work: string;
  /** Nearest parent first. */
  lowers: string[];
  /** The mount's other options (`index=off`, …). */
  otherOptions: string[];
}

/**
 * The directories an active snapshot's mounts name when they are one
 * overlay mount with upperdir, workdir and lowerdir (relative paths taken
 * from the mount's cwd); undefined for anything else (a bind mount: a
 * snapshot without parent, or the native driver's whole tree).
 */
export function overlayLayers(mounts: readonly Mount[]): OverlayLayers | undefined {
  const overlay = mounts.length === 1 && mounts[0]!.type === 'overlay' ? mounts[0]! : undefined;
  if (overlay === undefined) return undefined;
  const base = overlay.cwd ?? '/';
  const abs = (p: string) => (isAbsolute(p) ? p : join(base, p));
  const option = (name: string) => overlay.options.find((o) => o.startsWith(`${name}=`))?.slice(name.length + 1);
  const lowers = (option('lowerdir') ?? '').split(':').filter(Boolean).map(abs);
  const upper = option('upperdir');
  const work = option('workdir');
  if (lowers.length === 0 || upper === undefined || work === undefined) return undefined;
  return { upper: abs(upper), work: abs(work), lowers, otherOptions: overlay.options.filter((o) => !/^(lowerdir|upperdir|workdir)=/.test(o)) };
}
