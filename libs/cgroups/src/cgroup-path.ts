import { invalidArgument } from '@strata/kit';

/** The parent under which Strata puts its containers' cgroups by default. */
export const DEFAULT_CGROUP_PARENT = '/strata';

const SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

function checkAbsolute(what: string, path: string): string[] {
  if (typeof path !== 'string' || !path.startsWith('/')) {
    throw invalidArgument(`invalid cgroup ${what} ${JSON.stringify(path)}: it must be an absolute path like /strata/<id>`);
  }
  const segments = path.slice(1).split('/');
  for (const segment of segments) {
    if (segment === '..' || segment === '.') {
      throw invalidArgument(`invalid cgroup ${what} ${JSON.stringify(path)}: "." and ".." are not allowed`);
    }
    if (!SEGMENT.test(segment)) {
      throw invalidArgument(
        `invalid cgroup ${what} ${JSON.stringify(path)}: each part must be 1-128 letters, digits, "_", "." or "-", not starting with "." or "-"`,
      );
    }
  }
  return segments;
}

/**
 * Checks a container's cgroup path: absolute (relative to the root of each
 * cgroup hierarchy, as runc takes `linux.cgroupsPath`), made of plain names
 * (no `.`, `..`, empty parts or odd characters) and strictly below parent
 * (which may be the root, `/`, only when given so explicitly). Returns the path's parts. Raises InvalidArgument otherwise, so nothing
 * outside Strata's parent is ever created, written or removed.
 */
export function validateCgroupPath(path: string, parent = DEFAULT_CGROUP_PARENT): string[] {
  // The root as parent (a caller removing Strata's parent itself) has no parts.
  const parentSegments = parent === '/' ? [] : checkAbsolute('parent', parent);
  const segments = checkAbsolute('path', path);
  const inside = segments.length > parentSegments.length && parentSegments.every((s, i) => segments[i] === s);
  if (!inside) {
    throw invalidArgument(`invalid cgroup path ${JSON.stringify(path)}: it must be below the Strata parent ${parent}`);
  }
  return segments;
}
